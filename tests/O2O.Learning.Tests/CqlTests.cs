using O2O.Data;
using O2O.Learning.OffPolicy;
using O2O.Learning.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

/// <summary>CQL's conservative term and Cal-QL's bound against PyTorch, Monte-Carlo returns by hand.</summary>
public class CqlLossesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("o2o-cql-math-").FullName;

    public CqlLossesTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    [Fact]
    public void Monte_Carlo_returns_by_hand_on_a_small_episode_set()
    {
        // Episode A falls after 3 steps; B is cut by the time limit after 3 (its last row has no next observation
        // and is dropped from the transitions); C is still running when the data ends.
        float[] r = [1, 2, 3, 4, 5, 6, 7, 8];
        bool[] terminals = [false, false, true, false, false, false, false, false];
        bool[] timeouts = [false, false, false, false, false, true, false, false];
        var obs = Enumerable.Range(0, 8).Select(i => (float)i).ToArray();
        var raw = new OfflineDataset(8, 1, 1, obs, new float[8], r, null, terminals, timeouts);
        var t = raw.ToQLearningTransitions();
        Assert.Equal([0f, 1f, 2f, 3f, 4f, 6f], t.Observations);
        const double g = 0.5;
        // A: 1 + g·2 + g²·3, 2 + g·3, 3 (terminal). B without its dropped row: 4 + g·5, 5. C: the last row has no
        // next observation in the data, so C keeps only 7: a single row whose episode the data cuts.
        double[] expected = [1 + g * 2 + g * g * 3, 2 + g * 3, 3, 4 + g * 5, 5, 7];
        var returns = OfflineTransitions.MonteCarloReturns(t, g);
        Assert.Equal(expected.Length, returns.Length);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], returns[i], 5);
    }

    [Fact]
    public void The_bound_raises_only_policy_action_values_below_the_return()
    {
        // One state, one action of each kind, |A| = 1, τ = 1: gap = log(e^(qr − log ½) + e^(qn − lpn) + e^(qc − lpc)) − q.
        using var scope = NewDisposeScope();
        Tensor T(double v) => tensor(new[] { v }).reshape(1, 1);
        var bound = tensor(new[] { 2.0 });
        var gap = CqlLosses.ConservativeGap(T(0.5), T(1.0), T(3.0), T(-1.0), T(-2.0), tensor(new[] { 1.5 }), bound, 1,
            1.0).item<double>();
        // qNext = 1 is raised to the bound 2; qCurrent = 3 is above it and stays; the random action's Q is not bounded.
        var expected = Math.Log(Math.Exp(0.5 - Math.Log(0.5)) + Math.Exp(2.0 + 1.0) + Math.Exp(3.0 + 2.0)) - 1.5;
        Assert.Equal(expected, gap, 10);
        var free = CqlLosses.ConservativeGap(T(0.5), T(1.0), T(3.0), T(-1.0), T(-2.0), tensor(new[] { 1.5 }), null, 1,
            1.0).item<double>();
        Assert.Equal(Math.Log(Math.Exp(0.5 - Math.Log(0.5)) + Math.Exp(1.0 + 1.0) + Math.Exp(3.0 + 2.0)) - 1.5, free, 10);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Conservative_term_and_its_gradients_equal_PyTorchs_for_the_same_batch(bool calibrated)
    {
        Skip.IfNot(PythonTorch.Available, PythonTorch.SkipReason);
        const int b = 5, n = 4, actDim = 3;
        const double temp = 0.7;
        double[] Grid(int rows, int cols, Func<int, int, double> f) =>
            Enumerable.Range(0, rows * cols).Select(k => f(k / cols, k % cols)).ToArray();
        var qr = Grid(b, n, (i, j) => 3 + Math.Sin(1.3 * i + 0.7 * j));
        var qn = Grid(b, n, (i, j) => 4 + 1.5 * Math.Cos(0.9 * i - 0.4 * j));
        var qc = Grid(b, n, (i, j) => 4 + 1.2 * Math.Sin(0.5 * i * j + 1));
        var lpn = Grid(b, n, (i, j) => -2 + 0.5 * Math.Sin(i + 2 * j));
        var lpc = Grid(b, n, (i, j) => -1.5 + 0.6 * Math.Cos(2 * i + j));
        var qd = Grid(b, 1, (i, _) => 3.5 + 0.3 * i);
        var mc = Grid(b, 1, (i, _) => 3.0 + 0.6 * i);

        using var scope = NewDisposeScope();
        var qrT = tensor(qr).reshape(b, n).requires_grad_();
        var qnT = tensor(qn).reshape(b, n).requires_grad_();
        var qcT = tensor(qc).reshape(b, n).requires_grad_();
        var qdT = tensor(qd).requires_grad_();
        var gap = CqlLosses.ConservativeGap(qrT, qnT, qcT, tensor(lpn).reshape(b, n), tensor(lpc).reshape(b, n), qdT,
            calibrated ? tensor(mc) : null, actDim, temp);
        gap.backward();
        double[] G(Tensor t) => t.grad!.reshape(-1).data<double>().ToArray();
        var ours = new Dictionary<string, double[]>
        {
            ["gap"] = [gap.item<double>()], ["grad_qr"] = G(qrT), ["grad_qn"] = G(qnT), ["grad_qc"] = G(qcT),
            ["grad_qd"] = G(qdT),
        };
        var input = Path.Combine(dir, "batch.json");
        File.WriteAllText(input, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["qr"] = qr, ["qn"] = qn, ["qc"] = qc, ["lpn"] = lpn, ["lpc"] = lpc, ["qd"] = qd, ["mc"] = mc,
            ["b"] = b, ["n"] = n, ["act_dim"] = actDim, ["temp"] = temp, ["calibrated"] = calibrated,
        }));
        var script = Path.Combine(dir, "cql_gap.py");
        // CORL's cal_ql.py formulas (cql_importance_sample, one critic), written independently of ours.
        File.WriteAllText(script, """
import json, sys, numpy as np, torch
d = json.load(open(sys.argv[1]))
b, n = d['b'], d['n']
m = lambda k: torch.tensor(d[k], dtype=torch.float64).reshape(b, n)
qr = m('qr').requires_grad_(); qn = m('qn').requires_grad_(); qc = m('qc').requires_grad_()
qd = torch.tensor(d['qd'], dtype=torch.float64).requires_grad_()
cur, nxt = qc, qn
if d['calibrated']:
    lower = torch.tensor(d['mc'], dtype=torch.float64).reshape(-1, 1).repeat(1, n)
    cur = torch.maximum(cur, lower); nxt = torch.maximum(nxt, lower)
random_density = np.log(0.5 ** d['act_dim'])
cat_q = torch.cat([qr - random_density, nxt - m('lpn'), cur - m('lpc')], dim=1)
ood = torch.logsumexp(cat_q / d['temp'], dim=1) * d['temp']
gap = (ood - qd).mean()
gap.backward()
print(json.dumps({'gap': [gap.item()], 'grad_qr': qr.grad.reshape(-1).tolist(),
    'grad_qn': qn.grad.reshape(-1).tolist(), 'grad_qc': qc.grad.reshape(-1).tolist(), 'grad_qd': qd.grad.tolist()}))
""");
        PythonTorch.AssertSameNumbers(script, input, ours);
    }
}

/// <summary>CQL and Cal-QL through the harness: offline, SAC fine-tuning with and without the term, resume, errors.</summary>
[Collection("Torch training")]
public class CqlRunTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cql-").FullName;

    public CqlRunTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    CqlOptions Tiny(string name, int epochs, bool calibrated = false) => new()
    {
        EnvId = "Hopper-v4", Calibrated = calibrated, Steps = 20L * epochs, StepsPerEpoch = 20, BatchSize = 16,
        Hidden = [16, 16], SampledActions = 3, EvalEpisodes = 1, EvalEvery = 20, Seed = 3, RunName = name,
        LogDir = Path.Combine(tmp, name), Verbose = false,
    };

    /// <summary>Run <paramref name="o"/> whole, and again killed in epoch 2 and resumed; both logs.</summary>
    static (string[] Whole, string[] Resumed) WholeAndResumed(CqlOptions o, OfflineDataset? data)
    {
        var a = o with { RunName = "whole" };
        using (var t = new CqlTrainer(a, data)) t.Run();
        var b = o with { RunName = "parts", Verbose = true };
        using (var cts = new CancellationTokenSource())
        using (var t = new CqlTrainer(b, data, l => { if (l.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        using (var t = new CqlTrainer(b with { Verbose = false }, data)) t.Run(resume: true);
        return (LearningTestSupport.WithoutTiming(a.Csv), LearningTestSupport.WithoutTiming(b.Csv));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_offline_run_resumes_to_the_same_log_and_saves_the_agent(bool calibrated)
    {
        var data = IqlRunTests.RandomHopper(1200);
        var o = Tiny(calibrated ? "calql" : "cql", epochs: 3, calibrated);
        var (whole, resumed) = WholeAndResumed(o, data);
        Assert.Equal(4, whole.Length);
        Assert.Equal(whole, resumed);
        Assert.Contains("losses/conservative", whole[0], StringComparison.Ordinal);
        var (tensors, meta) = O2O.Learning.Checkpoints.StateDictFile.Load(Path.Combine(o.LogDir, "whole_agent.pt"), "agent");
        Assert.Equal(calibrated ? "calql" : "cql", (string?)meta!["algo"]);
        foreach (var key in new[] { "actor.net.out.weight", "q1.out.weight", "q2_target.out.weight", "log_alpha", "obs_rms.var" })
            Assert.True(tensors.ContainsKey(key), key);
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>A tiny offline agent, then options that continue it online with SAC.</summary>
    (OfflineDataset Data, CqlOptions Online) AgentAndOnline(string name, bool calibrated)
    {
        var data = IqlRunTests.RandomHopper(1200);
        var offline = Tiny(name + "-offline", epochs: 1, calibrated);
        using (var t = new CqlTrainer(offline, data)) t.Run();
        var online = Tiny(name, epochs: 3) with { InitAgent = offline.FinalAgentPath, StepsPerEpoch = 60, Steps = 180,
            EvalEvery = 60, BufferSize = 500, OfflineData = "drop" };
        return (data, online);
    }

    [Theory]
    [InlineData(false, "drop", null)]
    [InlineData(true, "keep", 0.5)]
    public void Sac_fine_tuning_resumes_to_the_same_log(bool keepConservative, string offlineData, double? mixingRatio)
    {
        var (data, online) = AgentAndOnline("ft" + keepConservative, calibrated: keepConservative);
        var o = online with { KeepConservative = keepConservative, OfflineData = offlineData, MixingRatio = mixingRatio };
        var (whole, resumed) = WholeAndResumed(o, offlineData == "keep" ? data : null);
        Assert.Equal(4, whole.Length);
        Assert.Equal(whole, resumed);
        Assert.StartsWith("epoch,env_steps,wall_s,time/fps,time/env_s,time/update_s,", whole[0], StringComparison.Ordinal);
        var header = whole[0].Split(',');
        var gap = double.Parse(whole[3].Split(',')[Array.IndexOf(header, "losses/conservative")],
            System.Globalization.CultureInfo.InvariantCulture);
        // With the term removed the critic loss is SAC's: the gap is not even computed.
        Assert.Equal(keepConservative, gap != 0);
    }

    [Fact]
    public void The_dsr_at_beta_and_eta_zero_gives_the_plain_numbers_and_both_pessimisms_differ()
    {
        var (_, online) = AgentAndOnline("dsr", calibrated: false);
        var plain = online with { RunName = "plain" };
        using (var t = new CqlTrainer(plain, null)) t.Run();
        var zero = online with
        {
            RunName = "zero", DsrPath = OffPolicySupportTests.FixtureDsr(),
            Shaping = new O2O.Learning.Ppo.DsrShapingOptions { Beta = 0, Eta = 0 },
        };
        using (var t = new CqlTrainer(zero, null)) t.Run();
        Assert.Equal(SacRunTests.WithoutTimingAndDsr(plain.Csv), SacRunTests.WithoutTimingAndDsr(zero.Csv));
        Assert.Contains("time/dsr_s", File.ReadLines(zero.Csv).First(), StringComparison.Ordinal);
        string Critic(string pessimism)
        {
            var o = online with
            {
                RunName = "rv-" + pessimism, DsrPath = OffPolicySupportTests.FixtureDsr(),
                Shaping = new O2O.Learning.Ppo.DsrShapingOptions { Pessimism = pessimism, Beta = 1, Eta = 0, Anneal = "none" },
            };
            using (var t = new CqlTrainer(o, null)) t.Run();
            var lines = File.ReadAllLines(o.Csv);
            return lines[2].Split(',')[Array.IndexOf(lines[0].Split(','), "losses/critic")];
        }
        var none = File.ReadAllLines(plain.Csv)[2].Split(',')[Array.IndexOf(File.ReadLines(plain.Csv).First().Split(','), "losses/critic")];
        var (reward, value) = (Critic("reward"), Critic("value"));
        Assert.NotEqual(none, reward);
        Assert.NotEqual(none, value);
        Assert.NotEqual(reward, value);
    }

    [Fact]
    public void Fine_tuning_with_the_dsr_in_the_value_resumes_to_the_same_log()
    {
        var (_, online) = AgentAndOnline("dsr-resume", calibrated: false);
        var o = online with
        {
            DsrPath = OffPolicySupportTests.FixtureDsr(),
            Shaping = new O2O.Learning.Ppo.DsrShapingOptions { Pessimism = "value", AnnealFrac = 1 },
        };
        var (whole, resumed) = WholeAndResumed(o, null);
        Assert.Equal(4, whole.Length);
        Assert.Equal(whole, resumed);
    }

    [Fact]
    public void A_warm_up_acts_with_the_agent_and_updates_nothing_until_it_ends()
    {
        var (_, online) = AgentAndOnline("warm", calibrated: false);
        var o = online with { WarmupSteps = 60, RunName = "warm" };
        using (var t = new CqlTrainer(o, null)) t.Run();
        var lines = File.ReadAllLines(o.Csv);
        var header = lines[0].Split(',');
        string Cell(int row, string col) => lines[row].Split(',')[Array.IndexOf(header, col)];
        Assert.Equal("", Cell(1, "losses/critic"));
        Assert.NotEqual("", Cell(2, "losses/critic"));
        Assert.NotEqual("", Cell(1, "eval/return_mean"));
        Assert.Equal(["WarmupSteps", "InitAgent"], Assert.Throws<O2O.Core.OptionError>(() =>
            new CqlTrainer(Tiny("w0", 1) with { WarmupSteps = 10 }, IqlRunTests.RandomHopper(300))).Options);
    }

    [Fact]
    public void Resuming_with_another_dsr_or_without_one_is_refused()
    {
        var (_, online) = AgentAndOnline("dsr-keys", calibrated: false);
        var o = online with { DsrPath = OffPolicySupportTests.FixtureDsr(), Verbose = true };
        using (var cts = new CancellationTokenSource())
        using (var t = new CqlTrainer(o, null, l => { if (l.StartsWith("epoch 1/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        using (var t = new CqlTrainer(o with { DsrPath = null, Verbose = false }, null))
            Assert.Equal(["DsrPath"], Assert.Throws<O2O.Core.OptionError>(() => t.Run(resume: true)).Options);
        var beta = o with { Shaping = new O2O.Learning.Ppo.DsrShapingOptions { Beta = 2 }, Verbose = false };
        using (var t = new CqlTrainer(beta, null))
            Assert.Equal(["Shaping"], Assert.Throws<O2O.Core.OptionError>(() => t.Run(resume: true)).Options);
    }

    [Fact]
    public void Agents_of_another_algorithm_or_env_and_bad_settings_are_one_line_errors()
    {
        var (data, online) = AgentAndOnline("bad", calibrated: false);
        var iql = new IqlOptions { EnvId = "Hopper-v4", Steps = 20, StepsPerEpoch = 20, BatchSize = 16, Hidden = [16],
            EvalEpisodes = 0, RunName = "iql", LogDir = Path.Combine(tmp, "iql"), Verbose = false };
        using (var t = new IqlTrainer(iql, data)) t.Run();
        var e = Assert.Throws<O2O.Core.OptionError>(() => new CqlTrainer(online with { InitAgent = iql.FinalAgentPath }, null));
        Assert.Contains("was trained by iql, which this learner cannot continue; pass an agent of cql or calql", e.Message,
            StringComparison.Ordinal);
        e = Assert.Throws<O2O.Core.OptionError>(() =>
            new IqlTrainer(iql with { InitAgent = online.InitAgent, OfflineData = "drop", RunName = "x" }, null));
        Assert.Contains("was trained by cql", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<O2O.Core.OptionError>(() => new CqlTrainer(online with { EnvId = "Walker2d-v4" }, null));
        Assert.Contains("was trained for Hopper-v4, not Walker2d-v4", e.Message, StringComparison.Ordinal);
        Assert.Equal(["OfflineData"], Assert.Throws<O2O.Core.OptionError>(() =>
            new CqlTrainer(online with { OfflineData = "keep" }, null)).Options);
        Assert.Equal(["MixingRatio"], Assert.Throws<O2O.Core.OptionError>(() =>
            new CqlTrainer(online with { MixingRatio = -0.1 }, null)).Options);
        Assert.Equal(["KeepConservative"], Assert.Throws<O2O.Core.OptionError>(() =>
            new CqlTrainer(Tiny("k", 1) with { KeepConservative = true }, data)).Options);
        Assert.Equal(["DsrPath", "InitAgent"], Assert.Throws<O2O.Core.OptionError>(() =>
            new CqlTrainer(Tiny("d", 1) with { DsrPath = OffPolicySupportTests.FixtureDsr() }, data)).Options);
        var walker = new OfflineDataset(3, 17, 6, new float[51], new float[18], new float[3]);
        Assert.Contains("17 observation and 6 action dims but Hopper-v4 has 11 and 3",
            Assert.ThrowsAny<O2O.Core.UserError>(() => new CqlTrainer(Tiny("w", 1), walker)).Message, StringComparison.Ordinal);
    }
}
