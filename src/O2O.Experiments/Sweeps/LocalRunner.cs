using System.Diagnostics;
using System.Globalization;
using O2O.Core;

namespace O2O.Experiments.Sweeps;

/// <summary>What a sweep run did: jobs run now, already done, failed (with their exit codes), not run.</summary>
public sealed record SweepOutcome(int Ran, int AlreadyDone, IReadOnlyList<(SweepJob Job, int Code)> Failed,
    IReadOnlyList<SweepJob> Blocked);

/// <summary>
/// The local backend: a pool of <c>workers</c> jobs at a time, each with <c>threads</c> libtorch threads, in
/// dependency order. A job whose status says done with the same command is never run again; a job killed with
/// its sweep (status still "running") runs again and resumes from its checkpoint. One runner per sweep folder
/// (<see cref="RunLock"/>).
/// </summary>
public static class LocalRunner
{
    /// <summary>Folder for the sweep's own files (lock, copy of the spec) and the state the plan has on disk.
    /// </summary>
    public static void Prepare(SweepPlan plan)
    {
        Directory.CreateDirectory(plan.Root);
        AtomicFile.WriteText(Path.Combine(plan.Root, "sweep.yaml"), plan.Spec.Text);
        // The variables as run (with --set), which the folder's spec alone would not give back.
        AtomicFile.WriteText(Path.Combine(plan.Root, "sweep-vars.json"),
            System.Text.Json.JsonSerializer.Serialize(plan.Spec.Vars));
    }

    /// <summary>Jobs already done; a job done with another command is an error (a changed spec).</summary>
    public static HashSet<string> Done(SweepPlan plan, int threads)
    {
        var done = new HashSet<string>();
        foreach (var j in plan.Jobs)
        {
            var s = JobStatus.Read(j.StatusPath);
            if (s?.State != JobStatus.Done) continue;
            if (s.Command != j.CommandLine(s.Threads ?? threads))
                throw new UserError($"job {j.Id} finished with another command than the spec's now ('{s.Command}'); "
                    + $"run the changed spec into a new --out, or delete '{j.Dir}' to run it again");
            done.Add(j.Id);
        }
        return done;
    }

    /// <summary>Run every job not done yet; see the class summary.</summary>
    public static SweepOutcome Run(SweepPlan plan, int workers, int threads, JobExecution exec, Action<string> log,
        CancellationToken cancel)
    {
        Prepare(plan);
        using var lockFile = Lock(plan.Root, log);
        var done = Done(plan, threads);
        foreach (var j in plan.Jobs)
        {
            var s = JobStatus.Read(j.StatusPath);
            if (s?.State == JobStatus.Submitted)
                throw new UserError($"job {j.Id} was submitted to Slurm (job {s.SlurmJobId}); follow it with "
                    + $"'o2o sweep status {plan.Root}' or use --backend slurm");
            if (s?.State == JobStatus.Running && s.Pid is int pid) KillStale(pid, j.Dir);
        }
        var pending = plan.Jobs.Where(j => !done.Contains(j.Id)).ToList();
        if (pending.Count == 0)
        {
            log($"nothing to run: all {plan.Jobs.Count} jobs are done");
            return new SweepOutcome(0, done.Count, [], []);
        }
        log($"{pending.Count} of {plan.Jobs.Count} jobs to run, {workers} at a time, {threads} libtorch thread(s) "
            + "each");
        var alreadyDone = done.Count;
        var failed = new List<(SweepJob, int)>();
        var blocked = new List<SweepJob>();
        var running = new Dictionary<string, Process?>();
        var finished = new System.Collections.Concurrent.BlockingCollection<(SweepJob Job, int Code, double Secs)>();
        var failedIds = new HashSet<string>();
        var ran = 0;
        var gate = new object();
        using var reg = cancel.Register(() =>
        {
            lock (gate)
                foreach (var p in running.Values)
                    try { p?.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        });
        while (pending.Count > 0 || running.Count > 0)
        {
            foreach (var j in pending.Where(j => j.Needs.Any(n => failedIds.Contains(n))).ToList())
            {
                pending.Remove(j);
                blocked.Add(j);
                failedIds.Add(j.Id);
            }
            // Jobs with more dependencies first (a stable order otherwise): a run whose inputs are ready goes before
            // another long shared stage, so that results complete early rather than all at the end.
            var ready = pending.Where(j => j.Needs.All(done.Contains)).OrderByDescending(j => j.Needs.Count).ToList();
            foreach (var j in ready.Take(workers - running.Count))
            {
                cancel.ThrowIfCancellationRequested();
                pending.Remove(j);
                lock (gate) running[j.Id] = null;
                log($"start {j.Id}: {j.CommandLine(threads)}");
                var job = j;
                var thread = new Thread(() =>
                {
                    // A dedicated thread that lives as long as the job: the kernel's parent-death signal follows it.
                    var sw = Stopwatch.StartNew();
                    int code;
                    try
                    {
                        code = exec.Run(job, threads, started: p => { lock (gate) running[job.Id] = p; });
                    }
                    catch (Exception e) when (e is IOException or UserError or UnauthorizedAccessException)
                    {
                        File.AppendAllText(job.LogPath, $"o2o sweep: {e.Message}\n");
                        code = 126;
                    }
                    finished.Add((job, code, sw.Elapsed.TotalSeconds));
                }) { IsBackground = true, Name = "sweep " + j.Id };
                thread.Start();
            }
            if (running.Count == 0) break;
            var (fj, fc, secs) = finished.Take(CancellationToken.None);
            lock (gate) running.Remove(fj.Id);
            cancel.ThrowIfCancellationRequested();
            ran++;
            if (fc == 0)
            {
                done.Add(fj.Id);
                log($"done {fj.Id} ({secs.ToString("F1", CultureInfo.InvariantCulture)} s)");
            }
            else
            {
                failed.Add((fj, fc));
                failedIds.Add(fj.Id);
                log($"FAILED {fj.Id} (exit {fc}); the end of {fj.LogPath}:");
                foreach (var l in JobStatus.Tail(fj.LogPath, 10)) log("  | " + l);
            }
        }
        blocked.AddRange(pending);
        return new SweepOutcome(ran, alreadyDone, failed, blocked);
    }

    /// <summary>One runner per sweep folder: <see cref="RunLock"/> (PID and host of the holder; a lock whose process
    /// is gone is taken over with a notice on <paramref name="log"/>).</summary>
    public static RunLock Lock(string root, Action<string>? log = null) => RunLock.Acquire(root, "sweep folder", log);

    /// <summary>A job left "running" by a killed sweep: if its process still lives (no parent-death signal on this
    /// system), kill it before the job runs again.</summary>
    static void KillStale(int pid, string dir)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            if (!cmdline.Contains(dir, StringComparison.Ordinal)) return;
            using var p = Process.GetProcessById(pid);
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException
            or UnauthorizedAccessException) { }
    }

    /// <summary>The one-line error of failed jobs: which, their exit codes, the last line of each log.</summary>
    public static string FailureMessage(SweepOutcome o)
    {
        var parts = o.Failed.Select(f =>
        {
            var tail = JobStatus.Tail(f.Job.LogPath, 1);
            return $"{f.Job.Id} (exit {f.Code}; last log line: '{(tail.Count > 0 ? tail[0].Trim() : "")}'; "
                + $"log: {f.Job.LogPath})";
        });
        var blocked = o.Blocked.Count > 0 ? $"; {o.Blocked.Count} job(s) that need them did not run" : "";
        return $"{o.Failed.Count} job(s) failed: {string.Join("; ", parts)}{blocked}; fix the cause and run the "
            + "sweep again (finished jobs are kept)";
    }
}
