using O2O.Data;
using O2O.Learning;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using static TorchSharp.torch;

namespace O2O.Cli.Tests;

/// <summary>
/// pretrain-bc, train-online, eval and data collect run in-process with tiny budgets, with the
/// notebook's flags: files written, their contents, determinism, and one-line errors for bad input.
/// </summary>
public class LearningCommandTests(LearningData data) : IClassFixture<LearningData>
{
    static (int Code, string Out, string Err) Ok(params string[] args)
    {
        var r = CliHarness.Run(args);
        Assert.True(r.Code == 0, $"o2o {string.Join(' ', args)} exited {r.Code}:\n{r.Err}\n{r.Out}");
        return r;
    }

    static string[] TinyOnline(string logDir, string? initActor, int seed = 1, long totalSteps = 4096) =>
    [
        "train_online", "--env_id", "Hopper-v4",
        "--total_steps", totalSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--steps_per_epoch", "1024", "--minibatch_size", "256", "--train_iters", "10", "--device", "cpu",
        "--log_csv", logDir,
        .. initActor is null ? Array.Empty<string>() : ["--init_actor", initActor],
        "--num_envs", "2", "--eval_episodes", "2",
        "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ];

    // ---- pretrain-bc ----

    [Fact]
    public void Pretrain_bc_with_the_notebook_flags_writes_a_loadable_actor()
    {
        var outActor = Path.Combine(data.NewFolder("bc"), "Y_bc_actor.pt");
        var r = Ok("pretrain_bc", "--offline_path", data.HopperNpz, "--env_id", "Hopper-v4", "--out_actor", outActor,
            "--device", "cpu", "--epochs", "20", "--batch_size", "1024");
        Assert.Contains("bc epoch 20/20", r.Out, StringComparison.Ordinal);
        Assert.Contains("bc eval: return", r.Out, StringComparison.Ordinal);
        using var actor = ActorBundle.Load(outActor, "Hopper-v4", 11, 3);
        Assert.Equal("bc", actor.Source);
        Assert.Equal([256, 256], actor.Actor.Mean.Hidden);
        Assert.Equal(20, (int)actor.Extra["epochs"]!);
        // The observation normaliser is the dataset's: its mean is the data's column mean.
        var ds = DatasetIO.Load(data.HopperNpz);
        var col0 = Enumerable.Range(0, ds.Count).Average(i => (double)ds.Observations[i * ds.ObsDim]);
        Assert.Equal(col0, actor.ObsNorm.Mean[0], 4);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outActor)!, ".tmp-*"));
    }

    [Fact]
    public void Pretrain_bc_reads_hdf5_too_and_recovers_the_random_policy()
    {
        // Random-policy actions are uniform on [-1, 1] whatever the state: mean 0, std 1/√3 ≈ 0.577.
        var outActor = Path.Combine(data.NewFolder("bc-uniform"), "u_actor.pt");
        Ok("pretrain_bc", "--offline_path", data.HopperHdf5, "--env_id", "Hopper-v4", "--out_actor", outActor,
            "--epochs", "5", "--batch_size", "256", "--lr", "0.01", "--hidden", "64,64", "--eval_episodes", "0");
        using var bundle = ActorBundle.Load(outActor);
        var ds = DatasetIO.Load(data.HopperHdf5);
        var obsN = new float[ds.Count * ds.ObsDim];
        bundle.ObsNorm.Normalize(ds.Observations, obsN, ds.Count);
        using var _ = no_grad();
        using var obs = tensor(obsN, [ds.Count, ds.ObsDim]);
        using var mean = bundle.Actor.call(obs);
        using var perDim = mean.mean([0]);
        using var rms = mean.pow(2).mean().sqrt();
        using var std = bundle.Actor.LogStd.exp();
        var m = perDim.data<float>().ToArray();
        var s = std.data<float>().ToArray();
        for (var j = 0; j < 3; j++)
        {
            Assert.True(Math.Abs(m[j]) < 0.03, $"dim {j}: mean action {m[j]}, expected ≈ 0");
            Assert.True(Math.Abs(s[j] - 1 / Math.Sqrt(3)) < 0.03, $"dim {j}: σ {s[j]}, expected ≈ 0.577");
        }
        Assert.True(rms.item<float>() < 0.1,
            $"the mean action varies with the state (rms {rms.item<float>()}) "
            + "though the data's actions do not depend on it");
    }

    [Fact]
    public void Bc_student_of_a_deterministic_teacher_earns_the_teachers_return()
    {
        var dir = data.NewFolder("teacher");
        var teacher = Path.Combine(dir, "teacher_actor.pt");
        LearningData.SaveTeacher(teacher, outputScale: 60);
        var dataset = Path.Combine(dir, "teacher.npz");
        Ok("data", "collect", "--env_id", "Hopper-v4", "--policy", teacher, "--deterministic", "--steps", "10000",
            "--out", dataset);
        var student = Path.Combine(dir, "student_actor.pt");
        Ok("pretrain_bc", "--offline_path", dataset, "--env_id", "Hopper-v4", "--out_actor", student,
            "--epochs", "30", "--batch_size", "256", "--lr", "0.003", "--hidden", "64,64", "--eval_episodes", "0");

        EvalResult Eval(string path)
        {
            using var b = ActorBundle.Load(path, "Hopper-v4");
            return Evaluation.Run("Hopper-v4", () => new PolicyRunner(b), episodes: 5, seed: 500, deterministic: true);
        }
        var t = Eval(teacher);
        var s = Eval(student);
        Assert.True(t.Mean > 10, $"teacher return {t.Mean:F1}: too weak to tell copying from chance");
        Assert.True(Math.Abs(s.Mean - t.Mean) <= 0.15 * t.Mean, $"student return {s.Mean:F1} vs teacher {t.Mean:F1}");
    }

    [Fact]
    public void Pretrain_bc_without_actions_is_a_one_line_error()
    {
        var dir = data.NewFolder("no-actions");
        var npz = Path.Combine(dir, "states_only.npz");
        Npz.Write(npz, [new("states", NpyArray.FromFloat32(new float[20 * 11], 20, 11))]);
        var outActor = Path.Combine(dir, "a_actor.pt");
        var r = CliHarness.Run("pretrain_bc", "--offline_path", npz, "--env_id", "Hopper-v4", "--out_actor", outActor);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "o2o pretrain-bc: error:", "no 'actions' array");
        Assert.False(File.Exists(outActor));
    }

    [Fact]
    public void Pretrain_bc_on_data_of_another_env_is_a_one_line_error()
    {
        var outActor = Path.Combine(data.NewFolder("walker-data"), "a_actor.pt");
        var r = CliHarness.Run("pretrain_bc", "--offline_path", data.WalkerNpz, "--env_id", "Hopper-v4",
            "--out_actor", outActor);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "17 dims but Hopper-v4 has 11");
        Assert.False(File.Exists(outActor));
    }

    [Theory]
    [InlineData("--batch_size", "0", "--batch_size must be ≥ 1, got 0")]
    [InlineData("--epochs", "0", "--epochs must be ≥ 1, got 0")]
    public void Pretrain_bc_zero_counts_are_usage_errors(string flag, string value, string message)
    {
        var outActor = Path.Combine(data.NewFolder("zero"), "a_actor.pt");
        var r = CliHarness.Run("pretrain_bc", "--offline_path", data.HopperNpz, "--env_id", "Hopper-v4",
            "--out_actor", outActor, flag, value);
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, message);
        Assert.False(File.Exists(outActor));
    }

    [Fact]
    public void Pretrain_bc_to_an_unwritable_place_fails_before_training()
    {
        var r = CliHarness.Run("pretrain_bc", "--offline_path", data.HopperNpz, "--env_id", "Hopper-v4",
            "--out_actor", "/proc/o2o-x/actor.pt");
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "--out_actor '/proc/o2o-x/actor.pt' is not writable");
        Assert.DoesNotContain("bc epoch", r.Out, StringComparison.Ordinal);
    }

    // ---- train-online ----

    [Fact]
    public void Train_online_with_the_notebook_flags_logs_every_epoch_and_writes_an_actor_eval_accepts()
    {
        var logs = data.NewFolder("online");
        var r = Ok(TinyOnline(logs, data.HopperActor));
        var csv = Path.Combine(logs, "Hopper-v4_ppo_s1.csv");
        var lines = File.ReadAllLines(csv);
        Assert.Equal(string.Join(',', O2O.Learning.Ppo.PpoTrainer.BaseColumns), lines[0]);
        Assert.Equal(5, lines.Length);
        var header = lines[0].Split(',');
        for (var e = 1; e <= 4; e++)
        {
            var cells = lines[e].Split(',');
            Assert.Equal(header.Length, cells.Length);
            Assert.Equal(e.ToString(System.Globalization.CultureInfo.InvariantCulture), cells[0]);
            Assert.Equal((e * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), cells[1]);
            foreach (var col in new[] { "eval/return_mean", "losses/policy", "losses/value", "losses/approx_kl",
                "losses/explained_variance", "charts/lr" })
            {
                var cell = cells[Array.IndexOf(header, col)];
                var parsed = double.TryParse(cell, System.Globalization.CultureInfo.InvariantCulture, out var v);
                Assert.True(parsed && double.IsFinite(v), $"epoch {e}: {col} = '{cell}'");
            }
        }
        var jsonText = File.ReadAllText(Path.Combine(logs, "Hopper-v4_ppo_s1.json"));
        var json = System.Text.Json.Nodes.JsonNode.Parse(jsonText)!;
        Assert.Equal(4096, (long)json["TotalSteps"]!);
        Assert.Equal(data.HopperActor, (string?)json["InitActor"]);
        var actor = Path.Combine(logs, "Hopper-v4_ppo_s1_actor.pt");
        Assert.Contains(actor, r.Out, StringComparison.Ordinal);
        using (var b = ActorBundle.Load(actor, "Hopper-v4", 11, 3))
        {
            Assert.Equal("ppo", b.Source);
            Assert.Equal([64, 64], b.Actor.Mean.Hidden); // the BC actor's architecture carries over
        }
        var ev = Ok("eval", "--env_id", "Hopper-v4", "--actor", actor, "--episodes", "2");
        Assert.Contains("Hopper-v4 (ppo actor): return", ev.Out, StringComparison.Ordinal);
        Assert.Contains("D4RL normalised score", ev.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_online_is_deterministic_given_the_seed()
    {
        string[] Rows(int seed, string name)
        {
            var logs = data.NewFolder(name);
            Ok(TinyOnline(logs, data.HopperActor, seed, totalSteps: 2048));
            var lines = File.ReadAllLines(Path.Combine(logs, $"Hopper-v4_ppo_s{seed}.csv"));
            var header = lines[0].Split(',');
            bool Kept(int j) => header[j] != "wall_s" && !header[j].StartsWith("time/", StringComparison.Ordinal);
            return lines.Skip(1).Select(l => string.Join(',', l.Split(',').Where((_, j) => Kept(j)))).ToArray();
        }
        var a = Rows(1, "det-a");
        var b = Rows(1, "det-b");
        var c = Rows(2, "det-c");
        Assert.Equal(2, a.Length);
        Assert.Equal(a, b);
        Assert.All(a.Zip(c), p => Assert.NotEqual(p.First, p.Second));
    }

    [Theory]
    [InlineData("--num_envs=3", "--steps_per_epoch=1024", "--minibatch_size=256", "--total_steps=4096",
        "--steps_per_epoch 1024 is not divisible by --num_envs 3")]
    [InlineData("--num_envs=2", "--steps_per_epoch=128", "--minibatch_size=256", "--total_steps=4096",
        "--steps_per_epoch 128 is smaller than --minibatch_size 256")]
    [InlineData("--num_envs=2", "--steps_per_epoch=1024", "--minibatch_size=256", "--total_steps=512",
        "not one epoch would run")]
    public void Train_online_inconsistent_budgets_are_one_line_errors(string envs, string spe, string mb,
        string total, string message)
    {
        var logs = data.NewFolder("budget");
        var r = CliHarness.Run("train_online", "--env_id", "Hopper-v4", envs, spe, mb, total, "--log_csv", logs);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "o2o train-online: error:", message);
        Assert.Empty(Directory.GetFileSystemEntries(logs));
    }

    [Fact]
    public void Train_online_from_an_actor_of_another_env_is_a_one_line_error()
    {
        var logs = data.NewFolder("walker-actor");
        var r = CliHarness.Run([.. TinyOnline(logs, data.WalkerActor)]);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "trained for Walker2d-v4, not Hopper-v4");
        Assert.Empty(Directory.GetFileSystemEntries(logs));
    }

    [Fact]
    public void Train_online_into_an_unwritable_log_folder_is_a_one_line_error()
    {
        var r = CliHarness.Run([.. TinyOnline("/proc/o2o-x/logs", null)]);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "not writable");
    }

    [Fact]
    public void Train_online_resume_without_a_checkpoint_is_a_one_line_error()
    {
        var logs = data.NewFolder("resume-none");
        var r = CliHarness.Run([.. TinyOnline(logs, null), "--resume"]);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "--resume: no checkpoint at", "start without --resume");
        Assert.Empty(Directory.GetFileSystemEntries(logs));
    }

    [Fact]
    public void Train_online_missing_init_actor_is_a_one_line_error()
    {
        var logs = data.NewFolder("init-missing");
        var r = CliHarness.Run([.. TinyOnline(logs, Path.Combine(logs, "nope_actor.pt"))]);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "--init_actor", "does not exist", "o2o pretrain-bc");
    }

    // ---- eval, data collect ----

    [Fact]
    public void Eval_of_an_unknown_env_lists_the_known_ones()
    {
        var r = CliHarness.Run("eval", "--env_id", "Hopper-v9", "--actor", data.HopperActor);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "o2o eval: error:", "unknown env id 'Hopper-v9'", "known:", "Hopper-v4",
            "Walker2d-v4");
    }

    [Fact]
    public void Eval_of_a_missing_actor_is_a_one_line_error()
    {
        var missing = Path.Combine(data.Dir, "missing_actor.pt");
        var r = CliHarness.Run("eval", "--env_id", "Hopper-v4", "--actor", missing);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, $"'{missing}' does not exist");
    }

    [Fact]
    public void Eval_of_an_actor_of_another_env_is_a_one_line_error()
    {
        var r = CliHarness.Run("eval", "--env_id", "Hopper-v4", "--actor", data.WalkerActor);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "trained for Walker2d-v4, not Hopper-v4");
    }

    [Fact]
    public void Collect_with_an_unknown_policy_path_is_a_one_line_error_and_writes_nothing()
    {
        var dir = data.NewFolder("collect");
        var outPath = Path.Combine(dir, "x.hdf5");
        var r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--policy", Path.Combine(dir,
            "nope_actor.pt"), "--steps", "100", "--out", outPath);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "o2o data collect: error:",
            "neither 'random' nor an existing actor checkpoint");
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void Collect_with_an_actor_of_another_env_is_a_one_line_error_and_writes_nothing()
    {
        var dir = data.NewFolder("collect-walker");
        var outPath = Path.Combine(dir, "x.npz");
        var r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--policy", data.WalkerActor, "--steps",
            "100", "--out", outPath);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "trained for Walker2d-v4, not Hopper-v4");
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }
}
