using O2O.Learning.Nn;
using O2O.Learning.OffPolicy;
using O2O.Learning.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

/// <summary>The squashed Gaussian's density and SAC's losses, by sampling and against PyTorch.</summary>
public class SacMathTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("o2o-sac-math-").FullName;

    public SacMathTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>log π(a) of a one-dimensional squashed Gaussian N(μ, σ²) at pre-squash points u.</summary>
    static double[] LogDensity(double mu, double sigma, double[] u)
    {
        using var scope = NewDisposeScope();
        var uT = tensor(u).reshape(-1, 1);
        var mean = full(u.Length, 1, mu, ScalarType.Float64);
        var logStd = full(u.Length, 1, Math.Log(sigma), ScalarType.Float64);
        return SquashedGaussianActor.SquashedLogProb(uT, mean, logStd).data<double>().ToArray();
    }

    [Fact]
    public void Squashed_log_density_matches_the_share_of_samples_in_each_bin()
    {
        const double mu = 0.3, sigma = 0.8;
        var rng = new Rng(11);
        const int samples = 400_000;
        double[] edges = [-0.99, -0.9, -0.6, -0.2, 0.0, 0.3, 0.7, 0.95, 0.999];
        var counts = new int[edges.Length - 1];
        for (var i = 0; i < samples; i++)
        {
            var a = Math.Tanh(mu + sigma * rng.NextGaussian());
            for (var b = 0; b < counts.Length; b++)
                if (a >= edges[b] && a < edges[b + 1]) { counts[b]++; break; }
        }
        for (var b = 0; b < counts.Length; b++)
        {
            // ∫ π(a) da over the bin by the trapezoid rule on 400 points, with u = atanh(a).
            const int n = 400;
            var a = Enumerable.Range(0, n + 1).Select(k => edges[b] + (edges[b + 1] - edges[b]) * k / n).ToArray();
            var density = LogDensity(mu, sigma, a.Select(Math.Atanh).ToArray()).Select(Math.Exp).ToArray();
            var mass = 0.0;
            for (var k = 0; k < n; k++) mass += 0.5 * (density[k] + density[k + 1]) * (a[k + 1] - a[k]);
            var share = counts[b] / (double)samples;
            var sd = Math.Sqrt(mass * (1 - mass) / samples);
            Assert.True(Math.Abs(share - mass) < 4 * sd + 1e-4, $"bin [{edges[b]}, {edges[b + 1]}): sampled {share:F5}, density {mass:F5}");
        }
    }

    [Fact]
    public void Sampled_actions_are_tanh_of_the_gaussian_and_their_log_prob_is_the_squashed_density()
    {
        torch.random.manual_seed(3);
        using var actor = new SquashedGaussianActor(4, 2, [8]);
        using var scope = NewDisposeScope();
        var obs = randn(5, 4);
        var noise = randn(5, 2);
        var (action, logProb) = actor.Sample(obs, noise);
        var (mean, logStd) = actor.Distribution(obs);
        var u = mean + logStd.exp() * noise;
        Assert.True(allclose(action, u.tanh(), 1e-6, 1e-6));
        Assert.True(allclose(logProb, SquashedGaussianActor.SquashedLogProb(u, mean, logStd), 1e-6, 1e-6));
        Assert.True(allclose(actor.call(obs), mean.tanh(), 1e-6, 1e-6));
        var ls = logStd.data<float>().ToArray();
        Assert.All(ls, v => Assert.InRange(v, SquashedGaussianActor.LogStdMin, SquashedGaussianActor.LogStdMax));
    }

    [SkippableFact]
    public void Sac_losses_and_gradients_equal_PyTorchs_for_the_same_batch()
    {
        Skip.IfNot(PythonTorch.Available, PythonTorch.SkipReason);
        const int n = 12;
        const double gamma = 0.99, targetEntropy = -3;
        double[] Column(Func<int, double> f) => Enumerable.Range(0, n).Select(f).ToArray();
        var r = Column(i => Math.Sin(i));
        var done = Column(i => i % 4 == 3 ? 1 : 0);
        var nq1 = Column(i => 10 + Math.Cos(0.7 * i));
        var nq2 = Column(i => 10 + Math.Sin(0.9 * i));
        var nlp = Column(i => -2 + 0.3 * Math.Cos(i));
        var q1 = Column(i => 9 + 0.5 * Math.Sin(1.3 * i));
        var q2 = Column(i => 9.2 + 0.4 * Math.Cos(1.1 * i));
        var lp = Column(i => -2.5 + 0.2 * Math.Sin(2 * i));
        const double logAlpha = -1.3;

        using var scope = NewDisposeScope();
        using Scalar g = gamma, h = targetEntropy;
        var alpha = tensor(Math.Exp(logAlpha));
        var y = SacLosses.CriticTarget(tensor(r), tensor(done), tensor(nq1), tensor(nq2), tensor(nlp), alpha, g);
        var q1T = tensor(q1).requires_grad_();
        var q2T = tensor(q2).requires_grad_();
        var critic = SacLosses.CriticLoss(q1T, q2T, y);
        critic.backward();
        var lpT = tensor(lp).requires_grad_();
        var qa = tensor(q1).requires_grad_();
        var qb = tensor(q2).requires_grad_();
        var actor = SacLosses.ActorLoss(lpT, qa, qb, alpha);
        actor.backward();
        var logAlphaT = tensor(new[] { logAlpha }).requires_grad_();
        var temperature = SacLosses.TemperatureLoss(logAlphaT, tensor(lp), h);
        temperature.backward();
        var ours = new Dictionary<string, double[]>
        {
            ["target"] = y.data<double>().ToArray(), ["critic"] = [critic.item<double>()], ["actor"] = [actor.item<double>()],
            ["temperature"] = [temperature.item<double>()], ["grad_q1"] = q1T.grad!.data<double>().ToArray(),
            ["grad_logp"] = lpT.grad!.data<double>().ToArray(), ["grad_qa"] = qa.grad!.data<double>().ToArray(),
            ["grad_qb"] = qb.grad!.data<double>().ToArray(), ["grad_log_alpha"] = logAlphaT.grad!.data<double>().ToArray(),
        };
        var input = Path.Combine(dir, "batch.json");
        File.WriteAllText(input, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["r"] = r, ["done"] = done, ["nq1"] = nq1, ["nq2"] = nq2, ["nlp"] = nlp, ["q1"] = q1, ["q2"] = q2, ["lp"] = lp,
            ["gamma"] = gamma, ["target_entropy"] = targetEntropy, ["log_alpha"] = logAlpha,
        }));
        var script = Path.Combine(dir, "sac_losses.py");
        // CleanRL's sac_continuous_action.py formulas, written independently of ours.
        File.WriteAllText(script, """
import json, sys, torch
import torch.nn.functional as F
d = json.load(open(sys.argv[1]))
t = lambda k: torch.tensor(d[k], dtype=torch.float64)
alpha = torch.tensor(d['log_alpha'], dtype=torch.float64).exp()
min_next = torch.min(t('nq1'), t('nq2')) - alpha * t('nlp')
y = t('r') + (1 - t('done')) * d['gamma'] * min_next
q1 = t('q1').requires_grad_(); q2 = t('q2').requires_grad_()
critic = F.mse_loss(q1, y) + F.mse_loss(q2, y)
critic.backward()
lp = t('lp').requires_grad_(); qa = t('q1').requires_grad_(); qb = t('q2').requires_grad_()
actor = ((alpha * lp) - torch.min(qa, qb)).mean()
actor.backward()
log_alpha = torch.tensor([d['log_alpha']], dtype=torch.float64, requires_grad=True)
temperature = (-log_alpha.exp() * (t('lp') + d['target_entropy'])).mean()
temperature.backward()
print(json.dumps({'target': y.tolist(), 'critic': [critic.item()], 'actor': [actor.item()],
    'temperature': [temperature.item()], 'grad_q1': q1.grad.tolist(), 'grad_logp': lp.grad.tolist(),
    'grad_qa': qa.grad.tolist(), 'grad_qb': qb.grad.tolist(), 'grad_log_alpha': log_alpha.grad.tolist()}))
""");
        PythonTorch.AssertSameNumbers(script, input, ours);
    }

    [Fact]
    public void Soft_update_moves_the_target_a_fraction_tau_towards_the_source()
    {
        torch.random.manual_seed(5);
        using var source = new Mlp("q", 3, [4], 1, Activation.Relu, 1.0);
        using var target = new Mlp("q", 3, [4], 1, Activation.Relu, 1.0);
        var before = target.parameters().Select(p => p.data<float>().ToArray()).ToArray();
        var src = source.parameters().Select(p => p.data<float>().ToArray()).ToArray();
        using (Scalar keep = 0.995, tau = 0.005) SacLosses.SoftUpdate(target, source, keep, tau);
        var after = target.parameters().Select(p => p.data<float>().ToArray()).ToArray();
        for (var i = 0; i < after.Length; i++)
            for (var j = 0; j < after[i].Length; j++)
                Assert.Equal(0.995 * before[i][j] + 0.005 * src[i][j], after[i][j], 5);
    }
}

/// <summary>IQL's losses and gradients against PyTorch, and the expectile's asymmetry by hand.</summary>
public class IqlLossesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("o2o-iql-math-").FullName;

    public IqlLossesTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    [Fact]
    public void Expectile_weights_positive_errors_by_tau_and_negative_ones_by_one_minus_tau()
    {
        using Scalar tau = 0.7;
        using var u = tensor(new[] { 2.0, -2.0 });
        using var loss = IqlLosses.ExpectileLoss(u, tau);
        Assert.Equal((0.7 * 4 + 0.3 * 4) / 2, loss.item<double>(), 12);
        using var big = tensor(new[] { 10.0 });
        using var lp = tensor(new[] { -1.0 });
        using Scalar beta = 3.0;
        using var capped = IqlLosses.AwrLoss(big, lp, beta);
        Assert.Equal(IqlLosses.MaxAdvantageWeight, capped.item<double>(), 9);
    }

    [SkippableFact]
    public void Iql_losses_and_gradients_equal_PyTorchs_for_the_same_batch()
    {
        Skip.IfNot(PythonTorch.Available, PythonTorch.SkipReason);
        const int n = 12;
        const double gamma = 0.99, expectile = 0.7, beta = 3.0;
        double[] Column(Func<int, double> f) => Enumerable.Range(0, n).Select(f).ToArray();
        var tq = Column(i => 5 + Math.Sin(1.1 * i));
        var v = Column(i => 5 + 0.8 * Math.Cos(0.7 * i));
        var r = Column(i => Math.Cos(i));
        var done = Column(i => i % 5 == 4 ? 1 : 0);
        var nv = Column(i => 4.5 + 0.3 * Math.Sin(i));
        var q1 = Column(i => 5.5 + 0.2 * Math.Sin(2 * i));
        var q2 = Column(i => 5.2 + 0.3 * Math.Cos(2 * i));
        var lp = Column(i => -1.5 + 0.4 * Math.Sin(3 * i));

        using var scope = NewDisposeScope();
        using Scalar g = gamma, t = expectile, b = beta;
        var vT = tensor(v).requires_grad_();
        var adv = tensor(tq) - vT;
        var vLoss = IqlLosses.ExpectileLoss(adv, t);
        vLoss.backward();
        var y = IqlLosses.QTarget(tensor(r), tensor(done), tensor(nv), g);
        var q1T = tensor(q1).requires_grad_();
        var q2T = tensor(q2).requires_grad_();
        var qLoss = IqlLosses.QLoss(q1T, q2T, y);
        qLoss.backward();
        var lpT = tensor(lp).requires_grad_();
        var aLoss = IqlLosses.AwrLoss(adv, lpT, b);
        aLoss.backward();
        var ours = new Dictionary<string, double[]>
        {
            ["v_loss"] = [vLoss.item<double>()], ["grad_v"] = vT.grad!.data<double>().ToArray(),
            ["target"] = y.data<double>().ToArray(), ["q_loss"] = [qLoss.item<double>()],
            ["grad_q1"] = q1T.grad!.data<double>().ToArray(), ["actor_loss"] = [aLoss.item<double>()],
            ["grad_logp"] = lpT.grad!.data<double>().ToArray(),
        };
        var input = Path.Combine(dir, "batch.json");
        File.WriteAllText(input, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["tq"] = tq, ["v"] = v, ["r"] = r, ["done"] = done, ["nv"] = nv, ["q1"] = q1, ["q2"] = q2, ["lp"] = lp,
            ["gamma"] = gamma, ["expectile"] = expectile, ["beta"] = beta,
        }));
        var script = Path.Combine(dir, "iql_losses.py");
        // CORL's iql.py formulas, written independently of ours.
        File.WriteAllText(script, """
import json, sys, torch
import torch.nn.functional as F
d = json.load(open(sys.argv[1]))
t = lambda k: torch.tensor(d[k], dtype=torch.float64)
v = t('v').requires_grad_()
adv = t('tq') - v
v_loss = torch.mean(torch.abs(d['expectile'] - (adv < 0).float()) * adv ** 2)
v_loss.backward()
y = t('r') + (1.0 - t('done')) * d['gamma'] * t('nv')
q1 = t('q1').requires_grad_(); q2 = t('q2').requires_grad_()
q_loss = (F.mse_loss(q1, y) + F.mse_loss(q2, y)) / 2
q_loss.backward()
lp = t('lp').requires_grad_()
exp_adv = torch.exp(d['beta'] * adv.detach()).clamp(max=100.0)
actor_loss = torch.mean(exp_adv * -lp)
actor_loss.backward()
print(json.dumps({'v_loss': [v_loss.item()], 'grad_v': v.grad.tolist(), 'target': y.tolist(),
    'q_loss': [q_loss.item()], 'grad_q1': q1.grad.tolist(), 'actor_loss': [actor_loss.item()],
    'grad_logp': lp.grad.tolist()}))
""");
        PythonTorch.AssertSameNumbers(script, input, ours);
    }
}
