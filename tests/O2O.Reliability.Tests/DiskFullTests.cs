using System.Diagnostics;
using O2O.Reliability.Kill;
using Xunit.Abstractions;

namespace O2O.Reliability.Tests;

/// <summary>
/// Disk full (issue 17, item 7): `o2o run --profile smoke` with its root on a small tmpfs, mounted in a private mount
/// namespace (`unshare -rm`: root, or a user namespace, no sudo). First the dataset does not fit; then, given room,
/// the run gets to the online phase and the disk is filled behind it. Each time: exit 1, one line on stderr saying
/// "disk full" with the file and the space, no stack trace, no writer's temporary left, every final-named file whole;
/// the last rerun, with space, finishes and resumes the online run from its checkpoint.
/// </summary>
public class DiskFullTests(ITestOutputHelper output)
{
    const string Script = """
        set -u
        mnt="$1"; o2o="$2"; out="$3"
        mount -t tmpfs -o size=3m tmpfs "$mnt" || { echo "mount failed" > "$out/mount.err"; exit 90; }
        root="$mnt/root"
        run() { dotnet "$o2o" run --profile smoke --root "$root" --download false; }
        snapshot() { cp -a "$root" "$out/$1.root"; find "$mnt" -name '.tmp-*' > "$out/$1.tmp"; }
        run > "$out/1.out" 2> "$out/1.err"; echo $? > "$out/1.rc"; snapshot 1
        mount -o remount,size=64m "$mnt"
        run > "$out/2.out" 2> "$out/2.err" & pid=$!
        for i in $(seq 1 1200); do grep -q "epoch 1/4" "$out/2.out" && break; sleep 0.1; done
        dd if=/dev/zero of="$mnt/filler" bs=64k 2> /dev/null
        wait $pid; echo $? > "$out/2.rc"; snapshot 2
        rm -f "$mnt/filler"
        run > "$out/3.out" 2> "$out/3.err"; echo $? > "$out/3.rc"; snapshot 3
        """;

    static string? Unavailable()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("unshare", ["-rm", "true"])
            {
                RedirectStandardError = true, RedirectStandardOutput = true,
            })!;
            p.WaitForExit();
            return p.ExitCode == 0 ? null
                : $"'unshare -rm' is not permitted here ({p.StandardError.ReadToEnd().Trim()}): no private tmpfs";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"unshare is not installed ({e.Message})";
        }
    }

    [SkippableFact]
    public void A_full_disk_ends_the_run_with_one_line_and_no_partial_file_and_the_rerun_with_space_finishes()
    {
        var unavailable = Unavailable();
        Skip.If(unavailable is not null, unavailable);
        using var tmp = new TempDir();
        var mnt = Directory.CreateDirectory(Path.Combine(tmp.Path, "mnt")).FullName;
        var script = Path.Combine(tmp.Path, "disk-full.sh");
        File.WriteAllText(script, Script);
        var psi = new ProcessStartInfo("unshare", ["-rm", "bash", script, mnt,
            Path.Combine(AppContext.BaseDirectory, "o2o.dll"), tmp.Path]);
        using (var p = Process.Start(psi)!)
        {
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(10)), "the disk-full script did not end in 10 minutes");
            if (p.ExitCode == 90)
                Skip.If(true, "mounting a tmpfs is not permitted in a private mount namespace here: "
                    + File.ReadAllText(Path.Combine(tmp.Path, "mount.err")));
        }
        string Read(string name) => File.ReadAllText(Path.Combine(tmp.Path, name));
        for (var i = 1; i <= 2; i++)
        {
            var err = Read($"{i}.err");
            output.WriteLine($"run {i}: exit {Read($"{i}.rc").Trim()}: {err}");
            Assert.Equal("1", Read($"{i}.rc").Trim());
            var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{err}");
            Assert.StartsWith("o2o run: error: disk full: ", lines[0]);
            Assert.Contains(" free of ", lines[0]);
            Assert.Contains("free some space or choose a folder on another disk, then rerun", lines[0]);
            Assert.DoesNotContain("   at ", err);
            Assert.Equal("", Read($"{i}.tmp").Trim());  // no writer's temporary left
            var root = Path.Combine(tmp.Path, $"{i}.root");
            foreach (var rel in Artefacts.FinalFiles(root))
                Assert.True(Artefacts.Validate(Path.Combine(root, rel)) is null, $"run {i}: {rel} is not whole");
        }
        Assert.Contains("hopper-medium-v2.hdf5", Read("1.err"));  // the dataset did not fit in 3 MB
        Assert.False(File.Exists(Path.Combine(tmp.Path, "1.root", "data", "hopper-medium-v2.hdf5")));
        Assert.Contains("epoch 1/4", Read("2.out"));  // the disk filled during the online phase
        Assert.Equal("0", Read("3.rc").Trim());
        Assert.Contains("resumed hopper_medium_bc_dsr_s1 at epoch", Read("3.out"));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "3.root", "logs", "hopper_medium_bc_dsr_s1_summary.md")));
    }
}
