using O2O.Learning.Nn;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

public class GaussianMathTests
{
    public GaussianMathTests() => TorchRuntime.EnsureLoaded();

    [Fact]
    public void Log_prob_matches_the_closed_form()
    {
        var x = new[] { 0.3, -1.2, 2.0 };
        var mu = new[] { 0.1, -1.0, 0.5 };
        var logStd = new[] { -0.5, 0.2, 0.0 };
        double expected = 0;
        for (var i = 0; i < 3; i++)
        {
            var s = Math.Exp(logStd[i]);
            expected += -0.5 * Math.Pow((x[i] - mu[i]) / s, 2) - Math.Log(s) - 0.5 * Math.Log(2 * Math.PI);
        }
        using var lp = GaussianMath.LogProb(tensor(x), tensor(mu), tensor(logStd));
        Assert.Equal(expected, lp.item<double>(), 10);
    }

    [Fact]
    public void Entropy_matches_the_closed_form()
    {
        var logStd = new[] { -0.5, 0.2, 0.0 };
        var expected = logStd.Sum(l => 0.5 * Math.Log(2 * Math.PI * Math.E) + l);
        using var h = GaussianMath.Entropy(tensor(logStd));
        Assert.Equal(expected, h.item<double>(), 10);
    }

    [Fact]
    public void Actor_log_prob_of_its_mean_is_the_peak_density()
    {
        using var actor = new GaussianActor(4, 2, [8]);
        using var obs = randn(5, 4);
        using var mean = actor.call(obs).detach();
        var (lp, ent) = actor.Evaluate(obs, mean);
        // At the mean, log N = −Σ(log σ + ½ log 2π) = −entropy + d/2 (d = 2 here).
        using var diff = (lp - (1.0 - ent)).abs().max();
        Assert.True(diff.item<float>() < 1e-5);
        lp.Dispose(); ent.Dispose();
    }
}

public class RunningNormTests
{
    [Fact]
    public void Batched_updates_equal_the_direct_mean_and_variance()
    {
        var rng = new Rng(3);
        var rows = Enumerable.Range(0, 300).Select(_ => (float)(rng.NextGaussian() * 3 + 1)).ToArray(); // 100 rows × 3 dims
        var norm = new RunningNorm(3);
        norm.Update(rows.AsSpan(0, 90), 30);
        norm.Update(rows.AsSpan(90, 3), 1);
        norm.Update(rows.AsSpan(93), 69);
        for (var j = 0; j < 3; j++)
        {
            var col = Enumerable.Range(0, 100).Select(r => (double)rows[r * 3 + j]).ToArray();
            var m = col.Average();
            var v = col.Sum(x => (x - m) * (x - m)) / col.Length;
            // The prior pseudo-count 1e-4 at mean 0, var 1 shifts the result by ~1e-6.
            Assert.InRange(norm.Mean[j], m - 1e-4, m + 1e-4);
            Assert.InRange(norm.Var[j], v * (1 - 1e-5), v * (1 + 1e-5));
        }
    }

    [Fact]
    public void Normalize_clips_and_frozen_ignores_updates()
    {
        var norm = new RunningNorm(1, clip: 5);
        norm.Set([2.0], [4.0], 10);
        var dst = new float[2];
        norm.Normalize([4f, 1000f], dst, 2);
        Assert.Equal(1f, dst[0], 5);
        Assert.Equal(5f, dst[1]);
        norm.Frozen = true;
        norm.Update([100f], 1);
        Assert.Equal(2.0, norm.Mean[0]);
    }
}

public class GaeTests
{
    [Fact]
    public void Matches_hand_computed_lambda_returns_with_a_fall_and_a_time_limit()
    {
        // One env, 5 steps: steps 0-1 end in a fall at t=1, steps 2-3 end in a time limit at t=3
        // (bootstrap from V(final obs) = 10), step 4 continues (bootstrap from V(s_5) = 4).
        const double g = 0.9, l = 0.8;
        float[] r = [1, 2, 3, 4, 5];
        float[] v = [0.5f, 0.6f, 0.7f, 0.8f, 0.9f];
        float[] next = [0.6f, 0f, 0.8f, 10f, 4f];
        bool[] end = [false, true, false, true, false];
        var adv = new float[5];
        var ret = new float[5];
        Gae.Compute(5, 1, r, v, next, end, g, l, adv, ret);

        var d = new double[5];
        for (var t = 0; t < 5; t++) d[t] = r[t] + g * next[t] - v[t];
        var a4 = d[4];
        var a3 = d[3];
        var a2 = d[2] + g * l * a3;
        var a1 = d[1];
        var a0 = d[0] + g * l * a1;
        double[] expected = [a0, a1, a2, a3, a4];
        for (var t = 0; t < 5; t++)
        {
            Assert.Equal(expected[t], adv[t], 5);
            Assert.Equal(expected[t] + v[t], ret[t], 5);
        }
        // λ = 1 on the fall episode gives the discounted Monte-Carlo return.
        Gae.Compute(5, 1, r, v, next, end, g, 1.0, adv, ret);
        Assert.Equal(1 + g * 2, ret[0], 5);
    }

    [Fact]
    public void Envs_are_independent_columns()
    {
        // Two envs interleaved time-major must equal each computed alone.
        float[] r = [1, 10, 2, 20, 3, 30];
        float[] v = [0, 1, 0, 1, 0, 1];
        float[] next = [0, 1, 0, 1, 5, 7];
        bool[] end = [false, false, true, false, false, false];
        var adv = new float[6];
        var ret = new float[6];
        Gae.Compute(3, 2, r, v, next, end, 0.99, 0.95, adv, ret);
        var a1 = new float[3];
        var r1 = new float[3];
        Gae.Compute(3, 1, [10, 20, 30], [1, 1, 1], [1, 1, 7], [false, false, false], 0.99, 0.95, a1, r1);
        Assert.Equal(a1, new[] { adv[1], adv[3], adv[5] });
    }
}

/// <summary>PPO's losses as the trainer computes them (<see cref="PpoLosses"/>), by hand and against PyTorch.</summary>
public class PpoLossesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("o2o-ppo-loss-").FullName;

    public PpoLossesTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    [Fact]
    public void Surrogate_takes_the_pessimistic_side_of_the_clip()
    {
        // max(−A·ρ, −A·clip(ρ)) per sample: a ratio outside [0.8, 1.2] only counts where it makes the loss worse.
        double[] ratio = [0.5, 0.9, 1.1, 1.5, 0.5, 1.5];
        double[] adv = [1, 1, 1, 1, -1, -1];
        double[] perSample = [-0.5, -0.9, -1.1, -1.2, 0.8, 1.5];
        using var k = new PpoCoefficients(clip: 0.2, vfCoef: 0.5, entCoef: 0, penaltyCoef: 0);
        using var r = tensor(ratio);
        using var a = tensor(adv);
        using var loss = PpoLosses.ClippedSurrogate(a, r, k);
        Assert.Equal(perSample.Average(), loss.item<double>(), 12);
    }

    [Fact]
    public void Value_loss_with_clipping_keeps_the_larger_error()
    {
        using var k = new PpoCoefficients(clip: 0.2, vfCoef: 0.5, entCoef: 0, penaltyCoef: 0);
        using var v = tensor(new[] { 1.0, 0.0 });
        using var old = tensor(new[] { 0.0, 0.0 });
        using var ret = tensor(new[] { 1.0, 1.0 });
        // Sample 0 moved 1.0 towards its return; clipped to 0.2 its error is 0.8, which is the one kept.
        using var clipped = PpoLosses.ValueLoss(v, ret, old, k);
        using var plain = PpoLosses.ValueLoss(v, ret, null, k);
        Assert.Equal(0.5 * (0.64 + 1.0) / 2, clipped.item<double>(), 12);
        Assert.Equal(0.5 * (0.0 + 1.0) / 2, plain.item<double>(), 12);
    }

    [SkippableFact]
    public void Losses_and_gradients_equal_PyTorchs_for_the_same_batch()
    {
        Skip.IfNot(PythonTorch.Available, PythonTorch.SkipReason);
        const int n = 16;
        const double clip = 0.2, vf = 0.5, ent = 0.01, pen = 0.3;
        double[] Column(Func<int, double> f) => Enumerable.Range(0, n).Select(f).ToArray();
        var logRatio = Column(i => 0.3 * Math.Sin(1.7 * i));
        var adv = Column(i => Math.Cos(0.9 * i) + 0.2 * i);
        var values = Column(i => Math.Sin(0.4 * i + 1));
        var oldValues = Column(i => Math.Sin(0.4 * i + 1) + 0.35 * Math.Cos(2.1 * i));
        var returns = Column(i => 0.5 * i - 3);
        var entropy = Column(i => 1.2 + 0.1 * Math.Sin(i));
        var weights = Column(i => (i % 4) / 4.0);

        using var k = new PpoCoefficients(clip, vf, ent, pen);
        using var scope = NewDisposeScope();
        var lr = tensor(logRatio).requires_grad_();
        var v = tensor(values).requires_grad_();
        var e = tensor(entropy).requires_grad_();
        var ratio = lr.exp();
        var normAdv = PpoLosses.NormalizeAdvantages(tensor(adv), k);
        var pg = PpoLosses.ClippedSurrogate(normAdv, ratio, k);
        var vl = PpoLosses.ValueLoss(v, tensor(returns), tensor(oldValues), k);
        var total = PpoLosses.Total(pg, vl, e.mean(), actorFrozen: false, k, tensor(weights) * v);
        total.backward();
        var ours = new Dictionary<string, double[]>
        {
            ["pg"] = [pg.item<double>()], ["vl"] = [vl.item<double>()], ["total"] = [total.item<double>()],
            ["kl"] = [PpoLosses.ApproxKl(ratio, lr, k).item<double>()],
            ["clipfrac"] = [PpoLosses.ClipFraction(ratio, k).item<float>()],
            ["grad_logratio"] = lr.grad!.data<double>().ToArray(), ["grad_v"] = v.grad!.data<double>().ToArray(),
            ["grad_entropy"] = e.grad!.data<double>().ToArray(),
        };

        var input = Path.Combine(dir, "batch.json");
        File.WriteAllText(input, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["logratio"] = logRatio, ["adv"] = adv, ["v"] = values, ["vold"] = oldValues, ["ret"] = returns,
            ["ent"] = entropy, ["w"] = weights, ["clip"] = clip, ["vf"] = vf, ["entc"] = ent, ["pen"] = pen,
        }));
        var script = Path.Combine(dir, "ppo_losses.py");
        // CleanRL's ppo_continuous_action.py formulas, written independently of ours.
        File.WriteAllText(script, """
import json, sys, torch
d = json.load(open(sys.argv[1]))
t = lambda k: torch.tensor(d[k], dtype=torch.float64)
logratio = t('logratio').requires_grad_(); v = t('v').requires_grad_(); ent = t('ent').requires_grad_()
c = d['clip']
ratio = logratio.exp()
adv = t('adv'); adv = (adv - adv.mean()) / (adv.std() + 1e-8)
pg = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - c, 1 + c)).mean()
ret, vold = t('ret'), t('vold')
v_clipped = vold + torch.clamp(v - vold, -c, c)
vl = 0.5 * torch.max((v - ret) ** 2, (v_clipped - ret) ** 2).mean()
total = pg - d['entc'] * ent.mean() + d['vf'] * vl + d['pen'] * (t('w') * v).mean()
total.backward()
with torch.no_grad():
    kl = ((ratio - 1) - logratio).mean()
    clipfrac = ((ratio - 1.0).abs() > c).float().mean()
out = {'pg': [pg.item()], 'vl': [vl.item()], 'total': [total.item()], 'kl': [kl.item()], 'clipfrac': [clipfrac.item()],
       'grad_logratio': logratio.grad.tolist(), 'grad_v': v.grad.tolist(), 'grad_entropy': ent.grad.tolist()}
print(json.dumps(out))
""");
        PythonTorch.AssertSameNumbers(script, input, ours);
    }
}

public class MlpSnapshotTests
{
    [Fact]
    public void Plain_csharp_forward_equals_libtorch()
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(5);
        using var net = new Mlp("m", 11, [64, 64], 3, Activation.Tanh, outputGain: 1.0);
        var snap = new MlpSnapshot(net);
        var rng = new Rng(9);
        var x = Enumerable.Range(0, 11).Select(_ => (float)rng.NextGaussian()).ToArray();
        var y = new float[3];
        snap.Forward(x, y);
        using var yt = net.call(tensor(x).reshape(1, 11));
        var expected = yt.data<float>().ToArray();
        for (var i = 0; i < 3; i++) Assert.Equal(expected[i], y[i], 5);
    }

    /// <summary>The plain-C# actor evaluates a batch of rows exactly as it evaluates each row alone.</summary>
    [Theory]
    [InlineData(Activation.Tanh, 7)]
    [InlineData(Activation.Relu, 9)]
    public void A_batch_gives_each_row_bit_for_bit_what_it_gives_alone(Activation activation, int rows)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(3);
        using var net = new Mlp("mu", 11, [64, 37], 3, activation, outputGain: 1);
        var snapshot = new MlpSnapshot(net);
        var rng = new Rng(4);
        var x = Enumerable.Range(0, rows * 11).Select(_ => (float)rng.NextGaussian()).ToArray();
        var batch = new float[rows * 3];
        snapshot.Forward(x, rows, batch);
        for (var r = 0; r < rows; r++)
        {
            var alone = new float[3];
            snapshot.Forward(x.AsSpan(r * 11, 11), alone);
            Assert.Equal(alone, batch.AsSpan(r * 3, 3).ToArray());
        }
    }
}

public class RngTests
{
    [Fact]
    public void Same_seed_same_stream_and_state_round_trips()
    {
        var a = new Rng(42);
        var b = new Rng(42);
        for (var i = 0; i < 100; i++) Assert.Equal(a.NextUInt64(), b.NextUInt64());
        a.NextGaussian();
        var st = a.GetState();
        var x = Enumerable.Range(0, 5).Select(_ => a.NextGaussian()).ToArray();
        var c = new Rng(0);
        c.SetState(st);
        Assert.Equal(x, Enumerable.Range(0, 5).Select(_ => c.NextGaussian()).ToArray());
    }

    [Fact]
    public void Gaussian_has_unit_moments()
    {
        var r = new Rng(1);
        var xs = Enumerable.Range(0, 200_000).Select(_ => r.NextGaussian()).ToArray();
        Assert.InRange(xs.Average(), -0.01, 0.01);
        Assert.InRange(xs.Select(x => x * x).Average(), 0.98, 1.02);
    }
}
