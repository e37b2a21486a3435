using O2O.Core;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.OffPolicy;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

/// <summary>
/// The two pieces of Uni-O4's recipe in PPO: the actor's own learning rate (<see cref="PpoOptions.ActorLr"/>) and
/// the critic pre-trained on the offline data's Monte-Carlo returns (<see cref="CriticPretraining"/>).
/// </summary>
[Collection("Torch training")]
public class PpoUniO4Tests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-unio4-").FullName;

    public PpoUniO4Tests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    /// <summary>The small Hopper BC actor of the PPO baseline fixtures.</summary>
    static string BcActor()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", "ppo-baseline", "bc_actor.pt");
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException("tests/fixtures/ppo-baseline/bc_actor.pt not found");
    }

    /// <summary>
    /// Episodes of <paramref name="length"/> steps whose first observation column is the time step / 100 and whose
    /// reward is 1: the return-to-go is a function of that column, so a critic can learn it. Every episode ends by
    /// a time limit except the last, which ends with a fall.
    /// </summary>
    static OfflineDataset Episodes(int episodes, int length, int obsDim = 11, int actDim = 3)
    {
        var n = episodes * length;
        var rng = new Random(5);
        var obs = new float[n * obsDim];
        var next = new float[n * obsDim];
        var rewards = new float[n];
        var terminals = new bool[n];
        var timeouts = new bool[n];
        for (var e = 0; e < episodes; e++)
            for (var t = 0; t < length; t++)
            {
                var i = e * length + t;
                for (var j = 0; j < obsDim; j++)
                    obs[i * obsDim + j] = j == 0 ? t / 100f : (float)(rng.NextDouble() - 0.5);
                rewards[i] = 1;
                var last = t == length - 1;
                terminals[i] = last && e == episodes - 1;
                timeouts[i] = last && !terminals[i];
            }
        for (var i = 0; i < n; i++)
        {
            var src = i + 1 < n && !terminals[i] && !timeouts[i] ? i + 1 : i;
            Array.Copy(obs, src * obsDim, next, i * obsDim, obsDim);
        }
        var actions = Enumerable.Range(0, n * actDim).Select(k => (float)Math.Sin(k)).ToArray();
        return new OfflineDataset(n, obsDim, actDim, obs, actions, rewards, next, terminals, timeouts);
    }

    string SaveNpz(OfflineDataset d, string name)
    {
        var path = Path.Combine(tmp, name);
        DatasetIO.SaveNpz(path, d);
        return path;
    }

    /// <summary>Every tensor of <paramref name="learner"/>'s networks, by name.</summary>
    static Dictionary<string, float[]> Weights(ILearner learner)
    {
        using var state = new TrainingState();
        learner.WriteState(state);
        return state.Tensors.Where(kv => kv.Key.StartsWith("actor.", StringComparison.Ordinal)
                || kv.Key.StartsWith("critic.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().data<float>().ToArray());
    }

    // ---- the actor's learning rate ----

    [Fact]
    public void Adam_groups_with_equal_rates_step_exactly_as_one_group_and_a_group_rate_moves_only_its_group()
    {
        using var _ = NewDisposeScope();
        float[] a0 = [0.5f, -1.5f, 2f], b0 = [0.25f, 3f];
        Tensor ga = tensor(new[] { 0.3f, -0.2f, 1.1f }), gb = tensor(new[] { -0.7f, 0.05f });
        (float[] A, float[] B) Steps(Func<Parameter, Parameter, AdamOptimizer> make, int steps)
        {
            var pa = nn.Parameter(tensor(a0));
            var pb = nn.Parameter(tensor(b0));
            using var opt = make(pa, pb);
            for (var s = 0; s < steps; s++)
            {
                // Gradients ga·(s + 1) and gb/(s + 1): the loss is linear in the parameters.
                opt.ZeroGrad();
                using Scalar ka = s + 1.0, kb = 1.0 / (s + 1);
                var loss = (pa * ga.mul(ka)).sum() + (pb * gb.mul(kb)).sum();
                loss.backward();
                opt.Step();
            }
            return (pa.detach().data<float>().ToArray(), pb.detach().data<float>().ToArray());
        }
        var one = Steps((pa, pb) => new AdamOptimizer([pa, pb], 1e-2, eps: 1e-5), 5);
        var grouped = Steps((pa, pb) => new AdamOptimizer([[pa], [pb]], [1e-2, 1e-2], eps: 1e-5), 5);
        Assert.Equal(one.A, grouped.A);
        Assert.Equal(one.B, grouped.B);

        // A tenth of the rate for group 0: its first step is a tenth as long, group 1's is unchanged.
        var slow = Steps((pa, pb) => new AdamOptimizer([[pa], [pb]], [1e-3, 1e-2], eps: 1e-5), 1);
        var fast = Steps((pa, pb) => new AdamOptimizer([pa, pb], 1e-2, eps: 1e-5), 1);
        Assert.Equal(fast.B, slow.B);
        for (var i = 0; i < a0.Length; i++)
            Assert.Equal((fast.A[i] - a0[i]) / 10, slow.A[i] - a0[i], 6);
    }

    [Fact]
    public void Actor_lr_equal_to_lr_gives_the_run_of_an_unset_actor_lr()
    {
        var unset = LearningTestSupport.TinyPpo(Path.Combine(tmp, "unset"), epochs: 2) with { Verbose = false };
        var same = unset with { LogDir = Path.Combine(tmp, "same"), ActorLr = unset.Lr };
        using (var t = new PpoTrainer(unset)) t.Run();
        using (var t = new PpoTrainer(same)) t.Run();
        Assert.Equal(LearningTestSupport.WithoutTiming(unset.Csv), LearningTestSupport.WithoutTiming(same.Csv));
    }

    [Fact]
    public void Actor_lr_scales_only_the_actors_step_of_one_update()
    {
        // One epoch of one minibatch and one pass: exactly one Adam step, at the unannealed rates. Adam's first step
        // is −lr·g/(|g| + ε) per weight, so a tenth of the actor's rate moves every actor weight a tenth as far;
        // the critic's gradient (and the global norm clip, computed before the step) does not see the actor's rate.
        var o = LearningTestSupport.TinyPpo(tmp, epochs: 1) with
        {
            StepsPerEpoch = 128, MinibatchSize = 128, TrainIters = 1, EvalEpisodes = 0, Verbose = false,
        };
        (Dictionary<string, float[]> Before, Dictionary<string, float[]> After) OneUpdate(double? actorLr)
        {
            using var learner = new PpoLearner(o with { ActorLr = actorLr });
            var before = Weights(learner);
            Assert.True(learner.TrainEpoch(0, 0, new Dictionary<string, double>()));
            return (before, Weights(learner));
        }
        var full = OneUpdate(null);
        var tenth = OneUpdate(o.Lr / 10);
        Assert.Equal(full.Before.Keys, tenth.Before.Keys);
        var actorMoved = 0;
        foreach (var (key, b) in full.Before)
        {
            Assert.Equal(b, tenth.Before[key]);
            if (key.StartsWith("critic.", StringComparison.Ordinal))
            {
                Assert.Equal(full.After[key], tenth.After[key]);
                continue;
            }
            for (var i = 0; i < b.Length; i++)
            {
                var step = (double)full.After[key][i] - b[i];
                var slow = (double)tenth.After[key][i] - b[i];
                if (step != 0) actorMoved++;
                Assert.True(Math.Abs(slow - step / 10) <= 1e-6 * Math.Abs(b[i]) + 1e-9,
                    $"{key}[{i}]: full step {step:G9}, tenth-rate step {slow:G9}");
            }
        }
        Assert.True(actorMoved > 100, $"only {actorMoved} actor weights moved");
    }

    // ---- the critic's pre-training ----

    [Fact]
    public void Targets_are_the_monte_carlo_returns_times_the_scale_on_a_hand_made_dataset()
    {
        // Episodes: rows 0–2 end with a fall, rows 3–4 with a time limit, row 5's next observation is not row 6's
        // (a cut), row 6 is the data's last. γ = 0.5.
        float[] rewards = [1, 2, 4, 2, 2, 8, 2];
        const int n = 7, od = 2;
        var obs = Enumerable.Range(0, n * od).Select(k => (float)k).ToArray();
        var next = new float[n * od];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < od; j++) next[i * od + j] = i + 1 < n ? obs[(i + 1) * od + j] : -1;
        next[5 * od] = 99;
        bool[] terminals = [false, false, true, false, false, false, false];
        bool[] timeouts = [false, false, false, false, true, false, false];
        var t = new OfflineDataset(n, od, 1, obs, new float[n], rewards, next, terminals, timeouts);

        Assert.Equal([3f, 4f, 4f, 3f, 2f, 8f, 2f], OfflineTransitions.MonteCarloReturns(t, 0.5));
        Assert.Equal([1f, 2.5f, 5.25f, 2f, 3f, 8f, 2f], CriticPretraining.DiscountedSums(t, 0.5));
        Assert.Equal([0.75f, 1f, 1f, 0.75f, 0.5f, 2f, 0.5f], CriticPretraining.Targets(t, 0.5, 0.25));
    }

    [Fact]
    public void Pretraining_lowers_the_loss_and_its_targets_are_the_returns_over_the_primed_reward_std()
    {
        var data = Episodes(episodes: 4, length: 150);
        var path = SaveNpz(data, "episodes.npz");
        var o = LearningTestSupport.TinyPpo(tmp, epochs: 1) with
        {
            InitActor = BcActor(), CriticPretrainData = path, CriticPretrainSteps = 300, Verbose = false,
        };
        var lines = new List<string>();
        CriticPretrainResult r;
        double std;
        using (var learner = new PpoLearner(o))
        {
            r = learner.PretrainCritic(lines.Add);
            using var state = new TrainingState();
            learner.WriteState(state);
            std = Math.Sqrt(state.Doubles("ret_rms.var")[0] + 1e-8);
        }
        Assert.True(r.LossAfter < 0.2 * r.LossBefore, $"loss {r.LossBefore} → {r.LossAfter}");
        Assert.Equal((600, 300), (r.Rows, r.Steps));
        Assert.Contains(lines, l => l.StartsWith("critic pre-training 300/300: loss", StringComparison.Ordinal));

        // σ: a fresh scaler's statistics (mean 0, var 1, count 1e-4) merged with the data's discounted sums.
        var norm = new RunningNorm(1);
        norm.Update(CriticPretraining.DiscountedSums(data, o.Gamma), data.Count);
        var expectedStd = Math.Sqrt(norm.Var[0] + 1e-8);
        Assert.Equal(expectedStd, std, 12);
        Assert.Equal(expectedStd, r.RewardStd!.Value, 12);
        Assert.Equal(1 / expectedStd, r.TargetScale, 12);
        var mc = OfflineTransitions.MonteCarloReturns(data, o.Gamma);
        Assert.Equal(mc.Average(g => (double)(float)(g / expectedStd)), r.TargetMean, 5);

        // Without reward scaling the targets are the returns themselves, and the scaler is left alone.
        using var plain = new PpoLearner(o with { ScaleRewards = false, CriticPretrainSteps = 1 });
        var p = plain.PretrainCritic(_ => { });
        Assert.Null(p.RewardStd);
        Assert.Equal(1.0, p.TargetScale);
        Assert.Equal(mc.Average(g => (double)g), p.TargetMean, 4);
    }

    [Fact]
    public void Pretraining_is_deterministic_given_the_seed()
    {
        var path = SaveNpz(Episodes(2, 100), "det.npz");
        var o = LearningTestSupport.TinyPpo(tmp, epochs: 1) with
        {
            InitActor = BcActor(), CriticPretrainData = path, CriticPretrainSteps = 50, Verbose = false,
        };
        Dictionary<string, float[]> Fit(int seed)
        {
            using var learner = new PpoLearner(o with { Seed = seed });
            learner.PretrainCritic(_ => { });
            return Weights(learner).Where(kv => kv.Key.StartsWith("critic.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value);
        }
        var a = Fit(1);
        var b = Fit(1);
        var c = Fit(2);
        foreach (var (k, v) in a) Assert.Equal(v, b[k]);
        Assert.Contains(a, kv => !kv.Value.SequenceEqual(c[kv.Key]));
    }

    [Fact]
    public void Resume_after_pretraining_reproduces_the_uninterrupted_run_without_pretraining_again()
    {
        var path = SaveNpz(Episodes(3, 120), "resume.npz");
        PpoOptions Make(string dir) => LearningTestSupport.TinyPpo(Path.Combine(tmp, dir), epochs: 3) with
        {
            InitActor = BcActor(), CriticPretrainData = path, CriticPretrainSteps = 100, ActorLr = 3e-5,
        };
        var a = Make("a") with { Verbose = false };
        using (var t = new PpoTrainer(a)) t.Run();

        var b = Make("b");
        var firstLog = new List<string>();
        using (var cts = new CancellationTokenSource())
        using (var t = new PpoTrainer(b, log: line =>
        {
            firstLog.Add(line);
            if (line.StartsWith("epoch 1/", StringComparison.Ordinal)) cts.Cancel();
        }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        Assert.Contains(firstLog, l => l.StartsWith("critic pre-trained", StringComparison.Ordinal));

        // The data is gone: a resumed run must take the pre-trained critic and the primed scaler from its checkpoint.
        File.Delete(path);
        var resumedLog = new List<string>();
        using (var t = new PpoTrainer(b with { Verbose = false }, log: resumedLog.Add)) t.Run(resume: true);
        Assert.DoesNotContain(resumedLog, l => l.StartsWith("critic pre-train", StringComparison.Ordinal));
        Assert.Equal(LearningTestSupport.WithoutTiming(a.Csv), LearningTestSupport.WithoutTiming(b.Csv));

        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(b.Csv, ".json")))!;
        Assert.Equal(path, (string?)json["CriticPretrainData"]);
        Assert.Equal(3e-5, (double)json["ActorLr"]!);
        var result = json["CriticPretrainResult"]!;
        Assert.Equal(100, (int)result["Steps"]!);
        Assert.True((double)result["LossAfter"]! < (double)result["LossBefore"]!);
    }

    // ---- bad input ----

    [Fact]
    public void Pretraining_data_of_another_env_or_missing_is_a_one_line_error()
    {
        var walker = SaveNpz(Episodes(1, 20, obsDim: 17, actDim: 6), "walker.npz");
        var o = LearningTestSupport.TinyPpo(tmp, epochs: 1) with
        {
            InitActor = BcActor(), CriticPretrainData = walker, Verbose = false,
        };
        using (var learner = new PpoLearner(o))
        {
            var e = Assert.Throws<OptionError>(() => learner.PretrainCritic(_ => { }));
            Assert.Contains("obs dim 17 and action dim 6, but Hopper-v4 has obs dim 11", e.Message,
                StringComparison.Ordinal);
            Assert.Equal([nameof(PpoOptions.CriticPretrainData)], e.Options);
            Assert.DoesNotContain('\n', e.Message);
        }
        var noRewards = new OfflineDataset(4, 11, 3, new float[44], new float[12]);
        var bare = SaveNpz(noRewards, "bare.npz");
        using (var learner = new PpoLearner(o with { CriticPretrainData = bare }))
            Assert.Contains("has no rewards", Assert.Throws<OptionError>(() => learner.PretrainCritic(_ => { })).Message,
                StringComparison.Ordinal);
        using (var learner = new PpoLearner(o with { CriticPretrainData = Path.Combine(tmp, "nope.npz") }))
            Assert.Contains("does not exist",
                Assert.ThrowsAny<UserError>(() => learner.PretrainCritic(_ => { })).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("steps", "CriticPretrainSteps must be > 0, got 0")]
    [InlineData("actor_lr", "ActorLr must be > 0, got 0")]
    [InlineData("actor_lr_negative", "ActorLr must be > 0, got -0.001")]
    [InlineData("no_init_actor", "CriticPretrainData needs InitActor")]
    public void Bad_settings_are_option_errors(string what, string message)
    {
        var o = LearningTestSupport.TinyPpo(tmp, epochs: 1) with { InitActor = BcActor(), CriticPretrainData = "x" };
        o = what switch
        {
            "steps" => o with { CriticPretrainSteps = 0 },
            "actor_lr" => o with { ActorLr = 0 },
            "actor_lr_negative" => o with { ActorLr = -1e-3 },
            _ => o with { InitActor = null },
        };
        var e = Assert.Throws<OptionError>(o.Validate);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
