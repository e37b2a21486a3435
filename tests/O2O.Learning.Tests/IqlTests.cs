using O2O.Data;
using O2O.Learning.OffPolicy;
using O2O.Learning.Runtime;
using O2O.Sim;

namespace O2O.Learning.Tests;

/// <summary>Offline IQL: reward scaling by hand, a tiny run through the harness, exact resume, bad data.</summary>
[Collection("Torch training")]
public class IqlRunTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-iql-").FullName;

    public IqlRunTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    /// <summary>Hopper-v4 under a fixed random policy, with D4RL's terminals and timeouts (episodes cut at 200).</summary>
    internal static OfflineDataset RandomHopper(int rows)
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        int od = env.Spec.ObsDim, ad = env.Spec.ActDim;
        var obs = new float[rows * od];
        var actions = new float[rows * ad];
        var rewards = new float[rows];
        var terminals = new bool[rows];
        var timeouts = new bool[rows];
        var rng = new Random(4);
        var current = new float[od];
        env.Reset(7, current);
        var length = 0;
        for (var i = 0; i < rows; i++)
        {
            current.CopyTo(obs, i * od);
            for (var j = 0; j < ad; j++) actions[i * ad + j] = (float)(2 * rng.NextDouble() - 1);
            var r = env.Step(actions.AsSpan(i * ad, ad), current);
            rewards[i] = (float)r.Reward;
            terminals[i] = r.Terminated;
            timeouts[i] = !r.Terminated && ++length == 200;
            if (terminals[i] || timeouts[i]) { env.Reset(null, current); length = 0; }
        }
        return new OfflineDataset(rows, od, ad, obs, actions, rewards, null, terminals, timeouts);
    }

    IqlOptions Tiny(string name, int epochs) => new()
    {
        EnvId = "Hopper-v4", Steps = 40L * epochs, StepsPerEpoch = 40, BatchSize = 32, Hidden = [16, 16],
        EvalEpisodes = 1, EvalEvery = 40, Seed = 3, RunName = name, LogDir = Path.Combine(tmp, name), Verbose = false,
    };

    [Fact]
    public void Rewards_are_scaled_so_the_best_and_worst_complete_episodes_are_1000_apart()
    {
        float[] r = [1, 2, 3, 10, 0, 5, 5];
        bool[] terminals = [false, true, false, false, true, false, false];
        bool[] timeouts = [false, false, false, false, false, false, true];
        var data = new OfflineDataset(7, 1, 1, new float[7], new float[7], r, null, terminals, timeouts);
        Assert.Equal([3.0, 13.0, 10.0], OfflineTransitions.EpisodeReturns(data));
        Assert.Equal(1000 / 10.0, OfflineTransitions.ScaleForReturns(OfflineTransitions.EpisodeReturns(data)), 12);
        Assert.Equal(1.0, OfflineTransitions.ScaleForReturns([4.0]));
        Assert.Equal(3e-4, IqlLearner.CosineLr(3e-4, 0, 100), 15);
        Assert.Equal(1.5e-4, IqlLearner.CosineLr(3e-4, 50, 100), 15);
    }

    [Fact]
    public void Denormalize_gives_back_the_raw_observations_the_dsr_scores()
    {
        var norm = new O2O.Learning.Nn.RunningNorm(2);
        norm.Update([1f, 10f, 3f, 30f, 2f, 20f], 3);
        float[] raw = [1.5f, 25f, -4f, 12f];
        var z = new float[4];
        var back = new float[4];
        norm.Normalize(raw, z, 2);
        OfflineTransitions.Denormalize(norm, z, back, 2);
        for (var i = 0; i < 4; i++) Assert.Equal(raw[i], back[i], 4);
    }

    [Fact]
    public void A_killed_offline_run_resumes_to_the_same_log_and_saves_the_agent()
    {
        var data = RandomHopper(1500);
        var a = Tiny("whole", epochs: 3);
        using (var t = new IqlTrainer(a, data)) t.Run();
        var b = Tiny("parts", epochs: 3) with { Verbose = true };
        using (var cts = new CancellationTokenSource())
        using (var t = new IqlTrainer(b, data, line => { if (line.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        using (var t = new IqlTrainer(b with { Verbose = false }, data)) t.Run(resume: true);
        var rows = LearningTestSupport.WithoutTiming(a.Csv);
        Assert.Equal(4, rows.Length);
        Assert.Equal(rows, LearningTestSupport.WithoutTiming(b.Csv));
        Assert.Contains("losses/value", rows[0], StringComparison.Ordinal);
        var (tensors, meta) = O2O.Learning.Checkpoints.StateDictFile.Load(a.FinalAgentPath, "agent");
        Assert.Equal("iql", (string?)meta!["algo"]);
        foreach (var key in new[] { "actor.log_std", "q1.out.weight", "q2_target.out.weight", "value.out.weight", "obs_rms.mean" })
            Assert.True(tensors.ContainsKey(key), key);
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>A tiny offline agent, then online options that continue it.</summary>
    (OfflineDataset Data, IqlOptions Online) AgentAndOnline(string name)
    {
        var data = RandomHopper(1500);
        var offline = Tiny(name + "-offline", epochs: 1);
        using (var t = new IqlTrainer(offline, data)) t.Run();
        var online = Tiny(name, epochs: 3) with { InitAgent = offline.FinalAgentPath, StepsPerEpoch = 100,
            Steps = 300, EvalEvery = 100, BufferSize = 1000 };
        return (data, online);
    }

    [Theory]
    [InlineData("keep", null)]
    [InlineData("keep", 0.5)]
    [InlineData("drop", null)]
    public void Online_fine_tuning_resumes_to_the_same_log(string offlineData, double? mixingRatio)
    {
        var (data, online) = AgentAndOnline("ft-" + offlineData + mixingRatio);
        var a = online with { OfflineData = offlineData, MixingRatio = mixingRatio, RunName = "whole" };
        using (var t = new IqlTrainer(a, data)) t.Run();
        var b = a with { RunName = "parts", Verbose = true };
        using (var cts = new CancellationTokenSource())
        using (var t = new IqlTrainer(b, data, l => { if (l.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        using (var t = new IqlTrainer(b with { Verbose = false }, data)) t.Run(resume: true);
        var rows = LearningTestSupport.WithoutTiming(a.Csv);
        Assert.Equal(4, rows.Length);
        Assert.Equal(rows, LearningTestSupport.WithoutTiming(b.Csv));
        Assert.StartsWith("epoch,env_steps,wall_s,time/fps,time/env_s,time/update_s", rows[0], StringComparison.Ordinal);
        // Online the actor learns at the full rate: the offline cosine schedule is not carried over.
        var header = rows[0].Split(',');
        Assert.Equal("0.0003", rows[3].Split(',')[Array.IndexOf(header, "charts/actor_lr")]);
    }

    [Fact]
    public void Fine_tuning_with_a_dsr_at_beta_and_eta_zero_gives_the_plain_numbers_and_value_pessimism_differs()
    {
        var (data, online) = AgentAndOnline("ft-dsr");
        var dsrPath = OffPolicySupportTests.FixtureDsr();
        var plain = online with { RunName = "plain" };
        using (var t = new IqlTrainer(plain, data)) t.Run();
        var zero = online with { RunName = "zero", DsrPath = dsrPath,
            Shaping = new O2O.Learning.Ppo.DsrShapingOptions { Beta = 0, Eta = 0 } };
        using (var t = new IqlTrainer(zero, data)) t.Run();
        Assert.Equal(SacRunTests.WithoutTimingAndDsr(plain.Csv), SacRunTests.WithoutTimingAndDsr(zero.Csv));
        Assert.DoesNotContain("dsr", File.ReadLines(plain.Csv).First(), StringComparison.Ordinal);
        var header = File.ReadLines(zero.Csv).First();
        Assert.Contains("time/dsr_s", header, StringComparison.Ordinal);
        Assert.EndsWith(string.Join(',', O2O.Learning.Ppo.DsrShaper.Columns), header, StringComparison.Ordinal);

        var value = online with { RunName = "value", DsrPath = dsrPath,
            Shaping = new O2O.Learning.Ppo.DsrShapingOptions { Pessimism = "value", Beta = 1, Anneal = "none" } };
        using (var t = new IqlTrainer(value, data)) t.Run();
        string Q(string csv) => File.ReadLines(csv).Last().Split(',')[Array.IndexOf(header.Split(','), "losses/q")];
        Assert.NotEqual(Q(plain.Csv), Q(value.Csv));
        var e = Assert.Throws<O2O.Core.OptionError>(() =>
            new IqlTrainer(Tiny("offline-dsr", 1) with { DsrPath = dsrPath }, data));
        Assert.Equal(["DsrPath", "InitAgent"], e.Options);
    }

    [Fact]
    public void A_warm_up_acts_with_the_agent_and_updates_nothing_until_it_ends()
    {
        var (_, online) = AgentAndOnline("ft-warm");
        var o = online with { OfflineData = "drop", WarmupSteps = 150, RunName = "warm" };
        using (var t = new IqlTrainer(o, null)) t.Run();
        var lines = File.ReadAllLines(o.Csv);
        var header = lines[0].Split(',');
        string Cell(int row, string col) => lines[row].Split(',')[Array.IndexOf(header, col)];
        Assert.Equal("", Cell(1, "losses/q"));
        Assert.NotEqual("", Cell(2, "losses/q"));
    }

    [Fact]
    public void Bad_agents_and_settings_for_fine_tuning_are_one_line_errors()
    {
        var (data, online) = AgentAndOnline("ft-bad");
        string[] Named(Action make) => [.. Assert.Throws<O2O.Core.OptionError>(make).Options];
        Assert.Equal(["OfflineData"], Named(() => new IqlTrainer(online, null)));
        Assert.Equal(["MixingRatio"], Named(() => new IqlTrainer(online with { OfflineData = "drop", MixingRatio = 0.5 }, null)));
        Assert.Equal(["MixingRatio"], Named(() => new IqlTrainer(online with { MixingRatio = 1.5 }, data)));
        var actorPath = Path.Combine(tmp, "ppo_actor.pt");
        using (var b = new O2O.Learning.Checkpoints.ActorBundle("Hopper-v4", new O2O.Learning.Nn.GaussianActor(11, 3, [8]),
            new O2O.Learning.Nn.RunningNorm(11), "ppo"))
            b.Save(actorPath);
        var e = Assert.Throws<O2O.Core.OptionError>(() => new IqlTrainer(online with { InitAgent = actorPath }, data));
        Assert.Contains("is an actor checkpoint (from BC or PPO), not an offline agent", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<O2O.Core.OptionError>(() => new IqlTrainer(online with { EnvId = "Walker2d-v4" }, null));
        Assert.Equal(["OfflineData"], e.Options);
        e = Assert.Throws<O2O.Core.OptionError>(() =>
            new IqlTrainer(online with { EnvId = "Walker2d-v4", OfflineData = "drop" }, null));
        Assert.Contains("was trained for Hopper-v4, not Walker2d-v4", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_of_another_env_or_without_rewards_is_a_one_line_error()
    {
        var walker = new OfflineDataset(3, 17, 6, new float[51], new float[18], new float[3]);
        var e = Assert.ThrowsAny<O2O.Core.UserError>(() => new IqlTrainer(Tiny("w", 1), walker));
        Assert.Contains("17 observation and 6 action dims but Hopper-v4 has 11 and 3", e.Message, StringComparison.Ordinal);
        var noRewards = new OfflineDataset(3, 11, 3, new float[33], new float[9]);
        Assert.Contains("no rewards", Assert.ThrowsAny<O2O.Core.UserError>(() => new IqlTrainer(Tiny("n", 1), noRewards)).Message,
            StringComparison.Ordinal);
    }
}
