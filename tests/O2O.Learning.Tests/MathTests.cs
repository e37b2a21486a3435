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

public class ClippedObjectiveTests
{
    [Fact]
    public void Surrogate_matches_a_direct_computation()
    {
        TorchRuntime.EnsureLoaded();
        // The update computes max(−A·ρ, −A·clip(ρ)) = −min(A·ρ, A·clip(ρ)); check the cases by hand.
        double[] ratio = [0.5, 0.9, 1.1, 1.5, 0.5, 1.5];
        double[] adv = [1, 1, 1, 1, -1, -1];
        const double eps = 0.2;
        using var rT = tensor(ratio);
        using var aT = tensor(adv);
        using var loss = max(-aT * rT, -aT * rT.clamp(1 - eps, 1 + eps));
        double[] expected = [-0.5, -0.9, -1.1, -1.2, 0.8, 1.5];
        Assert.Equal(expected, loss.data<double>().ToArray().Select(x => Math.Round(x, 10)).ToArray());
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
