using O2O.Core;

namespace O2O.Cli.Tests;

/// <summary>
/// One run per folder (issue 17, item 6): `o2o run` on a root another run holds is refused with one line naming the
/// holder; the lock of a SIGKILLed run is stale and the next run takes it over with a notice.
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
}
