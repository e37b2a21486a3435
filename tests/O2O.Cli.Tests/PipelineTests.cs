using O2O.Learning.Dsr;

namespace O2O.Cli.Tests;

/// <summary>`o2o run` end to end on the smoke profile, its caching, and DSR use in train-online.</summary>
public class PipelineTests(LearningData data) : IClassFixture<LearningData>
{
    [Fact]
    public void Smoke_run_produces_every_artefact_and_a_second_run_reuses_them()
    {
        var root = data.NewFolder("smoke");
        var r = CliHarness.Run("run", "--profile", "smoke", "--root", root, "--download", "false");
        Assert.True(r.Code == 0, r.Err + r.Out);
        string[] expected =
        [
            "data/hopper-medium-v2.hdf5", "data/hopper_medium.npz", "checkpts/hopper_medium_dsr.pt",
            "checkpts/hopper_medium_dsr.json", "checkpts/hopper_medium_bc_actor.pt", "logs/hopper_medium_bc_dsr_s1.csv",
            "logs/hopper_medium_bc_dsr_s1.json", "logs/hopper_medium_bc_dsr_s1_actor.pt",
            "logs/hopper_medium_bc_dsr_s1.png", "logs/hopper_medium_bc_dsr_s1_summary.md",
        ];
        foreach (var f in expected) Assert.True(File.Exists(Path.Combine(root, f)), $"missing {f}\n{r.Out}");
        Assert.Contains("initial dip", r.Out);
        Assert.Contains("generated here", r.Out);
        var csv = File.ReadAllLines(Path.Combine(root, "logs/hopper_medium_bc_dsr_s1.csv"));
        Assert.Contains("dsr/support_mean", csv[0]);
        Assert.Equal(5, csv.Length); // header + 4 epochs of the smoke budget

        var stamps = expected.ToDictionary(f => f, f => File.GetLastWriteTimeUtc(Path.Combine(root, f)));
        var again = CliHarness.Run("run", "--profile", "smoke", "--root", root, "--download", "false");
        Assert.True(again.Code == 0, again.Err);
        foreach (var f in new[] { "data/hopper-medium-v2.hdf5", "data/hopper_medium.npz",
            "checkpts/hopper_medium_dsr.pt", "checkpts/hopper_medium_bc_actor.pt", "logs/hopper_medium_bc_dsr_s1.csv" })
            Assert.Equal(stamps[f], File.GetLastWriteTimeUtc(Path.Combine(root, f)));
        Assert.Contains("found finished online run", again.Out);
    }

    [Fact]
    public void Unknown_task_lists_the_known_ones()
    {
        var r = CliHarness.Run("run", "--task", "hopper-mediun-v2", "--root", data.NewFolder("badtask"));
        CliHarness.AssertOneLineError(r, "hopper-mediun-v2", "hopper-medium-v2");
    }

    string TrainDsr(string npz, string env, string name)
    {
        var path = Path.Combine(data.NewFolder(name), name + "_dsr.pt");
        var r = CliHarness.Run("train-dsr", "--offline_path", npz, "--env_id", env, "--dsr_out", path, "--epochs",
            "1", "--batch_size", "256", "--threads", "1");
        Assert.True(r.Code == 0, r.Err);
        return path;
    }

    [Fact]
    public void A_dsr_for_another_env_or_a_file_that_is_no_dsr_is_a_one_line_error()
    {
        var walkerDsr = TrainDsr(data.WalkerNpz, "Walker2d-v4", "walker");
        var log = data.NewFolder("dsr-env");
        var r = CliHarness.Run("train-online", "--env_id", "Hopper-v4", "--dsr_path", walkerDsr, "--total_steps",
            "1024", "--steps_per_epoch", "1024",
            "--num_envs", "2", "--log_csv", log, "--eval_episodes", "0");
        CliHarness.AssertOneLineError(r, "Walker2d-v4", "Hopper-v4");
        var r2 = CliHarness.Run("train-online", "--env_id", "Hopper-v4", "--dsr_path", data.HopperActor,
            "--total_steps", "1024", "--steps_per_epoch", "1024",
            "--num_envs", "2", "--log_csv", log, "--eval_episodes", "0");
        CliHarness.AssertOneLineError(r2, "not a DSR checkpoint");
    }

    [Fact]
    public void No_dsr_gives_exactly_the_plain_ppo_numbers_and_dsr_shaping_changes_them()
    {
        var dsr = TrainDsr(data.HopperNpz, "Hopper-v4", "hopper");
        string[] common = ["train-online", "--env_id", "Hopper-v4", "--total_steps", "2048", "--steps_per_epoch",
            "1024", "--minibatch_size", "256",
            "--train_iters", "2", "--num_envs", "2", "--eval_episodes", "1", "--seed", "3"];
        string Run(string name, params string[] extra)
        {
            var dir = data.NewFolder(name);
            var r = CliHarness.Run([.. common, "--log_csv", dir, "--run_name", name, .. extra]);
            Assert.True(r.Code == 0, r.Err);
            return Path.Combine(dir, name + ".csv");
        }
        var plain = Load(Run("plain"));
        var noDsr = Load(Run("nodsr", "--dsr_path", dsr, "--no_dsr"));
        var shaped = Load(Run("shaped", "--dsr_path", dsr, "--beta", "1", "--eta", "0.5"));
        string[] compared = ["losses/policy", "losses/value", "losses/approx_kl", "eval/return_mean",
            "train/return_mean", "charts/std_mean"];
        foreach (var c in compared) Assert.Equal(Column(plain, c), Column(noDsr, c));
        Assert.All(Column(noDsr, "dsr/beta"), v => Assert.Equal("0", v));
        Assert.NotEqual(Column(plain, "losses/value"), Column(shaped, "losses/value"));
        static double Number(string v) => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture);
        Assert.All(Column(shaped, "dsr/support_mean"), v => Assert.InRange(Number(v), 0, 1));
        // The DSR's scoring time is its own column (the speed benchmark reads it): zero without a shaper.
        Assert.All(Column(plain, "time/shape_s"), v => Assert.Equal("0", v));
        Assert.All(Column(shaped, "time/shape_s"), v => Assert.True(Number(v) > 0, $"time/shape_s {v}"));
    }

    [Fact]
    public void Tensorboard_events_are_written_when_asked()
    {
        var dir = data.NewFolder("tb");
        var r = CliHarness.Run("train-online", "--env_id", "Hopper-v4", "--total_steps", "2048", "--steps_per_epoch",
            "1024", "--num_envs", "2",
            "--eval_episodes", "1", "--log_csv", dir, "--tensorboard", Path.Combine(dir, "tb"));
        Assert.True(r.Code == 0, r.Err);
        var events = Directory.GetFiles(Path.Combine(dir, "tb"), "events.out.tfevents.*");
        Assert.Single(events);
        Assert.True(new FileInfo(events[0]).Length > 500, "the event file holds the scalars of two epochs");
    }

    static string[][] Load(string csv) => File.ReadAllLines(csv).Select(l => l.Split(',')).ToArray();

    static string[] Column(string[][] rows, string name)
    {
        var i = Array.IndexOf(rows[0], name);
        Assert.True(i >= 0, $"no column {name}");
        return rows.Skip(1).Select(r => r[i]).ToArray();
    }
}
