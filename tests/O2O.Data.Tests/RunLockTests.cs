using System.Diagnostics;
using O2O.Core;

namespace O2O.Data.Tests;

/// <summary>The run lock itself: held, released, stale (a dead PID), and a holder on another host.</summary>
public class RunLockTests
{
    [Fact]
    public void A_held_lock_is_refused_naming_the_holder_and_released_on_dispose()
    {
        using var tmp = new TempDir();
        var notes = new List<string>();
        using (var held = RunLock.Acquire(tmp.Path, "run root", notes.Add))
        {
            var e = Assert.Throws<UserError>(() => RunLock.Acquire(tmp.Path, "run root"));
            AssertOneLine.Message(e, $"is in use by another o2o process (PID {Environment.ProcessId} on "
                + Environment.MachineName);
            Assert.True(File.Exists(held.Path));
        }
        Assert.False(File.Exists(Path.Combine(tmp.Path, RunLock.FileName)));
        using (RunLock.Acquire(tmp.Path, "run root", notes.Add)) { }
        Assert.Empty(notes);
    }

    [Fact]
    public void A_dead_pid_is_taken_over_with_a_notice_and_another_hosts_lock_is_kept()
    {
        using var tmp = new TempDir();
        using var gone = Process.Start("true")!;
        gone.WaitForExit();
        var file = Path.Combine(tmp.Path, RunLock.FileName);
        File.WriteAllText(file, $"{gone.Id}\n{Environment.MachineName}\n2020-01-01T00:00:00Z\n");
        var notes = new List<string>();
        using (RunLock.Acquire(tmp.Path, "run root", notes.Add))
            Assert.Equal($"{Environment.ProcessId}", File.ReadAllLines(file)[0]);
        Assert.Contains($"taking over the stale lock of PID {gone.Id}", Assert.Single(notes));

        File.WriteAllText(file, "4242\nsome-other-host\n2020-01-01T00:00:00Z\n");
        var e = Assert.Throws<UserError>(() => RunLock.Acquire(tmp.Path, "run root"));
        AssertOneLine.Message(e, "PID 4242 on some-other-host", "if that run is gone, delete");
    }
}
