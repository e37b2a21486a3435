using O2O.Core;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

/// <summary>
/// A learner with no algorithm: each epoch it moves the actor's log-std by a draw of its own RNG and logs the
/// draw. It can be told to report a non-finite update at chosen epochs (after poisoning its weights), so the
/// harness's bookkeeping is tested apart from PPO.
/// </summary>
internal sealed class CountingLearner : ILearner
{
    readonly GaussianActor actor = new(11, 3, [4]);
    readonly RunningNorm norm = new(11);
    readonly Rng rng = new(42);
    readonly HashSet<int> failAt;
    double total;

    public CountingLearner(params int[] failAt) => this.failAt = [.. failAt];

    public string Name => "counting";
    public IReadOnlyList<string> TimeColumns => ["time/work_s"];
    public IReadOnlyList<string> MetricColumns => ["train/draw", "losses/total", "charts/log_std"];
    public IReadOnlyList<string> ExtraColumns => ["extra/epoch_seen"];
    public int Calls { get; private set; }

    public float LogStd0
    {
        get
        {
            using var _ = no_grad();
            using var first = actor.LogStd.view(-1)[0];
            return first.item<float>();
        }
    }

    public bool TrainEpoch(int epoch, long envStepsDone, IDictionary<string, double> row)
    {
        Calls++;
        var draw = rng.NextDouble();
        total += draw;
        using (no_grad())
        using (Scalar d = draw * 0.01)
            actor.LogStd.add_(d);
        row["time/work_s"] = 0.001;
        row["train/draw"] = draw;
        row["losses/total"] = total;
        row["charts/log_std"] = LogStd0;
        row["extra/epoch_seen"] = epoch;
        if (!failAt.Contains(epoch)) return true;
        using (no_grad())
        using (Scalar nan = double.NaN)
            actor.LogStd.fill_(nan);
        return false;
    }

    public IPolicy CreatePolicy() => new PolicyRunner(actor, norm);

    public void WriteState(TrainingState state)
    {
        state.AddModule("actor.", actor);
        state.Add("rng", rng.GetState());
        state.Add("total", [total]);
    }

    public void ReadState(TrainingState state, bool modelOnly)
    {
        state.CopyInto("actor.", actor);
        if (modelOnly) return;
        rng.SetState(state.Words("rng"));
        total = state.Doubles("total")[0];
    }

    public void SaveActor(string path, string runName, long envSteps) =>
        new ActorBundle("Hopper-v4", actor, norm, Name).Save(path);

    public string Describe(IReadOnlyDictionary<string, double> row) => $"draw {row["train/draw"]:F3}";

    public void Dispose() => actor.Dispose();
}

/// <summary>The run harness with a trivial learner: schema, resume equality, rollback, divergence, early stop.</summary>
[Collection("Torch training")]
public class RunHarnessTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-harness-").FullName;

    public RunHarnessTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    RunSettings Settings(string name, int epochs = 4, int evalEpisodes = 0, int evalEvery = 1) => new()
    {
        EnvId = "Hopper-v4",
        Epochs = epochs,
        StepsPerEpoch = 100,
        Seed = 1,
        EvalEpisodes = evalEpisodes,
        EvalEveryEpochs = evalEvery,
        RunName = name,
        CsvPath = Path.Combine(tmp, name + ".csv"),
        CheckpointPath = Path.Combine(tmp, name + ".ckpt"),
        FinalActorPath = Path.Combine(tmp, name + "_actor.pt"),
        Options = System.Text.Json.Nodes.JsonNode.Parse("{\"Seed\": 1, \"Lr\": 0.1}")!,
        ResumeKeys = ["Seed"],
    };

    static string[] Header(string csv) => File.ReadLines(csv).First().Split(',');

    static Dictionary<string, string>[] Rows(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        return lines.Skip(1).Select(l => l.Split(',').Select((c, j) => (header[j], c)).ToDictionary()).ToArray();
    }

    [Fact]
    public void The_csv_schema_is_harness_columns_around_the_learners_and_evaluation_runs_on_schedule()
    {
        var s = Settings("schema", epochs: 3, evalEpisodes: 1, evalEvery: 2);
        using (var learner = new CountingLearner()) RunHarness.Run(learner, s, resume: false, _ => { });
        string[] expected =
        [
            "epoch", "env_steps", "wall_s", "time/fps", "time/work_s", "time/eval_s",
            "eval/return_mean", "eval/return_std", "eval/normalized", "eval/length_mean",
            "train/draw", "losses/total", "charts/log_std", "charts/nonfinite_restores", "extra/epoch_seen",
        ];
        Assert.Equal(expected, Header(s.CsvPath));
        var rows = Rows(s.CsvPath);
        Assert.Equal(["1", "2", "3"], rows.Select(r => r["epoch"]));
        Assert.Equal(["100", "200", "300"], rows.Select(r => r["env_steps"]));
        // Evaluated at epoch 2 (every second epoch) and at the last epoch; not at epoch 1.
        Assert.Equal("", rows[0]["eval/return_mean"]);
        Assert.NotEqual("", rows[1]["eval/return_mean"]);
        Assert.NotEqual("", rows[2]["eval/normalized"]);
        Assert.All(rows, r => Assert.Equal("0", r["charts/nonfinite_restores"]));
        Assert.True(File.Exists(Path.ChangeExtension(s.CsvPath, ".json")));
        Assert.True(File.Exists(s.FinalActorPath));
    }

    [Fact]
    public void Resume_after_a_cancellation_gives_the_uninterrupted_csv_and_state()
    {
        var a = Settings("whole");
        float whole;
        using (var learner = new CountingLearner())
        {
            RunHarness.Run(learner, a, resume: false, _ => { });
            whole = learner.LogStd0;
        }

        var b = Settings("parts");
        using (var cts = new CancellationTokenSource())
        using (var learner = new CountingLearner())
        {
            void Log(string line) { if (line.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }
            Assert.Throws<OperationCanceledException>(() => RunHarness.Run(learner, b, resume: false, Log, cts.Token));
        }
        Assert.Equal(3, File.ReadAllLines(b.CsvPath).Length);
        using (var learner = new CountingLearner())
        {
            var r = RunHarness.Run(learner, b, resume: true, _ => { });
            Assert.Equal((4, 400L), (r.Epochs, r.EnvSteps));
            Assert.Equal(2, learner.Calls);
            Assert.Equal(whole, learner.LogStd0);
        }
        Assert.Equal(LearningTestSupport.WithoutTiming(a.CsvPath), LearningTestSupport.WithoutTiming(b.CsvPath));
    }

    [Fact]
    public void Resume_with_other_settings_names_the_property_and_without_a_checkpoint_is_an_error()
    {
        var s = Settings("keys", epochs: 1);
        using (var learner = new CountingLearner()) RunHarness.Run(learner, s, resume: false, _ => { });
        var other = s with { Options = System.Text.Json.Nodes.JsonNode.Parse("{\"Seed\": 2, \"Lr\": 0.1}")! };
        using (var learner = new CountingLearner())
        {
            var e = Assert.Throws<OptionError>(() => RunHarness.Run(learner, other, resume: true, _ => { }));
            Assert.Equal(["Seed"], e.Options);
            Assert.Contains("another Seed", e.Message, StringComparison.Ordinal);
        }
        var none = Settings("none", epochs: 1);
        using (var learner = new CountingLearner())
            Assert.Contains("no checkpoint", Assert.ThrowsAny<UserError>(() => RunHarness.Run(learner, none, true, _ => { })).Message,
                StringComparison.Ordinal);
        Assert.False(File.Exists(none.CsvPath));
    }

    [Fact]
    public void A_non_finite_epoch_is_rolled_back_to_the_last_checkpoint_and_logged()
    {
        var s = Settings("rollback", epochs: 3);
        var lines = new List<string>();
        using var learner = new CountingLearner(failAt: 1);
        RunHarness.Run(learner, s, resume: false, lines.Add);
        var rows = Rows(s.CsvPath);
        Assert.Equal(["0", "1", "1"], rows.Select(r => r["charts/nonfinite_restores"]));
        Assert.Equal("nan", rows[1]["losses/total"]);
        Assert.NotEqual("nan", rows[2]["losses/total"]);
        Assert.True(float.IsFinite(learner.LogStd0));
        // The poisoned weights were replaced by epoch 1's checkpoint, so epoch 3 moved on from where epoch 1 ended.
        double Cell(int i, string c) => double.Parse(rows[i][c], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Cell(0, "charts/log_std") + 0.01 * Cell(2, "train/draw"), Cell(2, "charts/log_std"), 6);
        Assert.Contains(lines, l => l.Contains("restored the last good checkpoint", StringComparison.Ordinal));
    }

    [Fact]
    public void Three_non_finite_epochs_in_five_end_the_run_with_advice_naming_the_option()
    {
        var s = Settings("diverge", epochs: 6);
        using var learner = new CountingLearner(failAt: [1, 2, 3]);
        var e = Assert.Throws<OptionError>(() => RunHarness.Run(learner, s, resume: false, _ => { }));
        Assert.Contains("training diverged", e.Message, StringComparison.Ordinal);
        Assert.Equal(["Lr"], e.Options);
        Assert.Equal("--lr", e.Reword(p => p == "Lr" ? "--lr" : null).Split(' ').First(w => w.StartsWith("--", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_stop_condition_ends_the_run_after_the_epoch_it_accepts()
    {
        var s = Settings("early", epochs: 5);
        using var learner = new CountingLearner();
        var r = RunHarness.Run(learner, s, resume: false, _ => { }, stopWhen: e => e.Epoch == 2);
        Assert.Equal((2, 200L), (r.Epochs, r.EnvSteps));
        Assert.Equal(3, File.ReadAllLines(s.CsvPath).Length);
        Assert.True(File.Exists(s.FinalActorPath));
    }
}
