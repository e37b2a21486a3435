using System.Diagnostics;
using O2O.Core;

namespace O2O.Data.Tests;

/// <summary>What a killed writer leaves: its temporary, removed by the next write in the folder.</summary>
public class AtomicFileTests
{
    [Fact]
    public void A_write_removes_the_temporaries_of_dead_writers_here_and_keeps_live_ones_and_other_hosts()
    {
        using var tmp = new TempDir();
        using var gone = Process.Start("true")!;
        gone.WaitForExit();
        // The name AtomicFile gives: .tmp-PID-HOSTGUID-NAME, HOST the FNV-1a hash of this machine's name.
        var h = 2166136261u;
        foreach (var c in Environment.MachineName) h = (h ^ c) * 16777619u;
        var host = h.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
        var dead = tmp.File($".tmp-{gone.Id}-{host}0123456789abcdef01234567-data.hdf5");
        var live = tmp.File($".tmp-1-{host}0123456789abcdef01234567-data.npz");  // PID 1 runs
        var elsewhere = tmp.File($".tmp-{gone.Id}-{(h + 1):x8}0123456789abcdef01234567-data.npz");  // another host
        var other = tmp.File(".tmp-notes.txt");  // not a writer's name
        foreach (var f in new[] { dead, live, elsewhere, other }) File.WriteAllText(f, "partial");
        AtomicFile.WriteText(tmp.File("x.txt"), "whole\n");
        Assert.False(File.Exists(dead), "a dead writer's temporary is removed");
        Assert.True(File.Exists(live) && File.Exists(elsewhere) && File.Exists(other));
        Assert.Equal("whole\n", File.ReadAllText(tmp.File("x.txt")));
    }

    [Fact]
    public void A_full_disk_is_told_from_other_io_errors()
    {
        Assert.True(DiskFull.Is(new IOException("No space left on device : '/x'", 28)));
        Assert.True(DiskFull.Is(new InvalidOperationException("wrapped", new IOException("x", 122))));
        Assert.False(DiskFull.Is(new IOException("Permission denied", 13)));
        var e = DiskFull.Error(TmpPath, 3 << 20, new IOException("x", 28));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("disk full: writing '", e.Message);
        Assert.Contains("stopped after 3.0 MB", e.Message);
        Assert.Contains("free some space or choose a folder on another disk, then rerun", e.Message);
    }

    static readonly string TmpPath = Path.Combine(Path.GetTempPath(), "o2o-x", "data.hdf5");
}
