using O2O.Core;

namespace O2O.Cli.Tests;

/// <summary>
/// One run per folder (issue 17, item 6): `o2o run` on a root another run holds, and train-online / train-offline with
/// a run name another run holds in the same folder, are refused with one line naming the holder; the lock of a
/// SIGKILLed run is stale and the next run takes it over with a notice. (`o2o sweep run`: SweepTests.)
/// </summary>
public sealed class RunLockTests(LearningData data) : IClassFixture<LearningData>
{
    [Fact]
    public void A_second_run_on_a_held_root_is_refused_and_a_killed_runs_lock_is_taken_over()
    {
        var root = data.NewFolder("locked");
        Directory.CreateDirectory(Path.Combine(root, "data"));
        File.Copy(data.HopperHdf5, Path.Combine(root, "data", "hopper-medium-v2.hdf5"));
        string[] run = ["run", "--profile", "smoke", "--root", root, "--download", "false"];
        int pid;
        using (var first = ChildProcess.Start(root, run))
        {
            first.WaitForOutput("o2o run: ", TimeSpan.FromMinutes(2));
            pid = first.Pid;
            var second = CliHarness.Run(run);
            Assert.Equal(1, second.Code);
            CliHarness.AssertOneLineError(second, $"run root '{root}' is in use by another o2o process (PID {pid} on "
                + $"{Environment.MachineName}, since ", "wait for it to end or choose another folder");
            first.Signal(ChildProcess.SigKill);
            first.WaitForExit(TimeSpan.FromMinutes(1));
        }
        Assert.True(File.Exists(Path.Combine(root, RunLock.FileName)), "a killed run leaves its lock");
        var third = CliHarness.Run(run);
        Assert.True(third.Code == 0, third.Err + third.Out);
        Assert.Contains($"run root '{root}': taking over the stale lock of PID {pid} on {Environment.MachineName}",
            third.Out);
        Assert.False(File.Exists(Path.Combine(root, RunLock.FileName)), "a finished run releases its lock");
    }

    [Theory]
    [InlineData("ppo")]
    [InlineData("iql")]
    public void A_second_training_run_with_the_same_name_is_refused_and_a_killed_runs_lock_is_taken_over(
        string kind)
    {
        var dir = data.NewFolder($"locked-{kind}");
        string[] Args(string steps) => kind == "ppo"
            ? ["train-online", "--env_id", "Hopper-v4", "--total_steps", steps, "--steps_per_epoch", "512",
                "--minibatch_size", "256", "--train_iters", "1", "--num_envs", "2", "--eval_episodes", "0",
                "--log_csv", Path.Combine(dir, "logs"), "--run_name", "same"]
            : ["train-offline", "--algo", "iql", "--offline_path", data.HopperHdf5, "--env_id", "Hopper-v4",
                "--steps", steps, "--steps_per_epoch", "100", "--batch_size", "32", "--hidden", "16,16",
                "--eval_episodes", "0", "--out", Path.Combine(dir, "agents", "same.pt")];
        var log = kind == "ppo" ? Path.Combine(dir, "logs", "same.csv") : Path.Combine(dir, "agents", "same.csv");
        var lockFile = Path.ChangeExtension(log, ".lock");
        int pid;
        using (var first = ChildProcess.Start(dir, Args("1000000")))
        {
            first.WaitForOutput("epoch 1/", TimeSpan.FromMinutes(2));
            pid = first.Pid;
            Assert.True(File.Exists(lockFile), "a running training run holds NAME.lock beside its log");
            var second = CliHarness.Run(Args("1024"));
            Assert.Equal(1, second.Code);
            CliHarness.AssertOneLineError(second, $"run 'same' (log '{log}') is in use by another o2o process (PID "
                + $"{pid} on {Environment.MachineName}, since ", "wait for it to end or choose another folder");
            first.Signal(ChildProcess.SigKill);
            first.WaitForExit(TimeSpan.FromMinutes(1));
        }
        Assert.True(File.Exists(lockFile), "a killed run leaves its lock");
        var third = CliHarness.Run(Args(kind == "ppo" ? "1024" : "200"));
        Assert.True(third.Code == 0, third.Err + third.Out);
        Assert.Contains($"run 'same' (log '{log}'): taking over the stale lock of PID {pid} on "
            + Environment.MachineName, third.Out + third.Err);
        Assert.False(File.Exists(lockFile), "a finished run releases its lock");
    }
}
