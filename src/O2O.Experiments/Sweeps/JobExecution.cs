using System.Diagnostics;
using O2O.Core;

namespace O2O.Experiments.Sweeps;

/// <summary>
/// Runs one job in the foreground, the same way for every backend: status "running" (atomically), the command
/// with --resume when its checkpoint exists, output appended to its log, status "done" or "failed" at the end.
/// <paramref name="Launcher"/> replaces a command's first word `o2o` (e.g. `dotnet /…/o2o.dll`).
/// </summary>
public sealed record JobExecution(IReadOnlyList<string> Launcher)
{
    const string SetPriv = "/usr/bin/setpriv";

    /// <summary>The command a job runs now (argv) and whether it resumes.</summary>
    public (List<string> Argv, bool Resumed) CommandFor(SweepJob job, int threads)
    {
        var argv = job.Argv(threads).ToList();
        var resumed = job.ResumePath is { } r && HasContent(r);
        if (resumed) argv.Add("--resume");
        if (argv.Count > 0 && argv[0] == "o2o") argv = [.. Launcher, .. argv.Skip(1)];
        return (argv, resumed);
    }

    /// <summary>A file, or a folder with a finished file in it: a learner makes its checkpoint folder before the
    /// first checkpoint is in it (an empty folder is no checkpoint to resume from).</summary>
    static bool HasContent(string path) => File.Exists(path) || (Directory.Exists(path)
        && Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Any(f => !Path.GetFileName(f).StartsWith(".tmp-", StringComparison.Ordinal)));

    /// <summary>Run <paramref name="job"/> to its end; returns its exit code. <paramref name="started"/> sees the
    /// process (to kill it on cancel).</summary>
    public int Run(SweepJob job, int threads, IReadOnlyDictionary<string, string>? slurm = null,
        Action<Process>? started = null)
    {
        Directory.CreateDirectory(job.Dir);
        var previous = JobStatus.Read(job.StatusPath);
        var (argv, resumed) = CommandFor(job, threads);
        var status = new JobStatus
        {
            Job = job.Id, State = JobStatus.Running, Command = job.CommandLine(threads),
            Attempts = (previous?.Attempts ?? 0) + 1, Resumed = resumed, Started = DateTimeOffset.Now,
            Host = Environment.MachineName, Threads = threads,
            SlurmJobId = slurm?.GetValueOrDefault("SLURM_JOB_ID") is { } sj
                ? slurm.GetValueOrDefault("SLURM_ARRAY_JOB_ID") is { } aj
                    ? $"{aj}_{slurm.GetValueOrDefault("SLURM_ARRAY_TASK_ID")}" : sj
                : previous?.SlurmJobId,
            SlurmArrayTaskId = slurm?.GetValueOrDefault("SLURM_ARRAY_TASK_ID"),
        };
        status.Write(job.StatusPath);
        File.AppendAllText(job.LogPath, $"== o2o sweep: attempt {status.Attempts} at {status.Started:O}"
            + $"{(resumed ? " (resumes)" : "")}: {SweepPlan.Quote(argv)}\n");
        // The job writes its output straight into its log (through sh), so a log survives the runner; setpriv makes
        // the kernel kill the job when the thread that started it dies (a sweep killed with SIGKILL leaves no
        // orphan that would race with its rerun).
        var psi = new ProcessStartInfo(File.Exists(SetPriv) ? SetPriv : "/bin/sh") { UseShellExecute = false };
        string[] wrap = File.Exists(SetPriv) ? ["--pdeathsig", "KILL", "--", "/bin/sh"] : [];
        foreach (var a in wrap) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "-c", "exec \"$@\" >> \"$0\" 2>&1 < /dev/null", job.LogPath })
            psi.ArgumentList.Add(a);
        foreach (var a in argv) psi.ArgumentList.Add(a);
        var t = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["OMP_NUM_THREADS"] = t;
        psi.Environment["MKL_NUM_THREADS"] = t;
        psi.WorkingDirectory = job.Dir;
        int code;
        try
        {
            using var p = Process.Start(psi) ?? throw new UserError($"job {job.Id}: could not start {argv[0]}");
            (status with { Pid = p.Id }).Write(job.StatusPath);
            started?.Invoke(p);
            p.WaitForExit();
            code = p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            File.AppendAllText(job.LogPath, $"o2o sweep: cannot start '{argv[0]}': {e.Message}\n");
            code = 127;
        }
        (status with
        {
            State = code == 0 ? JobStatus.Done : JobStatus.Failed, ExitCode = code, Finished = DateTimeOffset.Now,
        }).Write(job.StatusPath);
        return code;
    }
}
