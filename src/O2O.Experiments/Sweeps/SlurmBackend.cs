using System.Diagnostics;
using System.Globalization;
using System.Text;
using O2O.Core;

namespace O2O.Experiments.Sweeps;

/// <summary>
/// The Slurm backend: one `sbatch --array` per stage with the jobs not done yet (array index = the job's index in
/// its stage), `--dependency=afterok:` on the arrays of the stages it needs, resources from the spec, the stage and
/// flags. Each array task runs `o2o sweep job DIR --stage S --index I`, which runs the job as the local backend
/// does and records SLURM_JOB_ID and SLURM_ARRAY_TASK_ID in its status file. Only sbatch and squeue are used (no
/// accounting daemon): a job that squeue no longer lists and whose status is not final was lost (cancelled, timed
/// out, node failure).
/// </summary>
public static class SlurmBackend
{
    /// <summary>The full path of <paramref name="tool"/> on the PATH, or a one-line error saying how to get it.
    /// </summary>
    public static string Require(string tool)
    {
        var found = Which(tool);
        return found ?? throw new UserError($"--backend slurm: '{tool}' is not on the PATH; run on a Slurm cluster's "
            + "login node, or install Slurm on this machine (Debian: apt install slurm-wlm munge; one node for tests: "
            + "scripts/slurm/single-node.sh start), or use --backend local");
    }

    static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    /// <summary>Slurm job id ("123_4") → state, for every array task squeue lists; empty when squeue is missing.
    /// </summary>
    public static Dictionary<string, string> Queue()
    {
        var q = new Dictionary<string, string>();
        if (Which("squeue") is null) return q;
        var (code, output, _) = Exec("squeue", ["-h", "-r", "-o", "%i %T"]);
        if (code != 0) return q;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 2);
            if (parts.Length == 2) q[parts[0]] = parts[1];
        }
        return q;
    }

    /// <summary>Submit every job that is neither done nor queued; returns the Slurm job id per stage submitted.
    /// </summary>
    public static IReadOnlyList<(string Stage, string JobId, int Tasks)> Submit(SweepPlan plan,
        SlurmResources flags, IReadOnlyList<string> launcher, Action<string> log)
    {
        var sbatch = Require("sbatch");
        LocalRunner.Prepare(plan);
        using var lockFile = LocalRunner.Lock(plan.Root, log);
        var done = LocalRunner.Done(plan, 1);
        var queue = Queue();
        var statuses = plan.Jobs.ToDictionary(j => j.Id, j => JobStatus.Read(j.StatusPath));
        bool Queued(SweepJob j) => statuses[j.Id]?.SlurmJobId is { } id && queue.ContainsKey(id)
            && statuses[j.Id]!.State is JobStatus.Submitted or JobStatus.Running;
        var arrays = new Dictionary<string, HashSet<string>>();
        var submitted = new List<(string, string, int)>();
        var slurmDir = Path.Combine(plan.Root, "slurm");
        Directory.CreateDirectory(slurmDir);
        foreach (var stage in plan.Spec.Stages)
        {
            var jobs = plan.Jobs.Where(j => j.Stage == stage.Name).ToList();
            var ids = new HashSet<string>(jobs.Where(Queued).Select(j => statuses[j.Id]!.SlurmJobId!.Split('_')[0]));
            var todo = jobs.Where(j => !done.Contains(j.Id) && !Queued(j)).ToList();
            arrays[stage.Name] = ids;
            if (todo.Count == 0) continue;
            var res = plan.Spec.Slurm.With(stage.Slurm).With(flags);
            var script = Path.Combine(slurmDir, stage.Name + ".sbatch");
            var sb = new StringBuilder("#!/bin/bash\n");
            sb.Append($"# o2o sweep {plan.Spec.Name}: stage {stage.Name}; task i runs the stage's job of index i\n");
            sb.Append("exec ").Append(SweepPlan.Quote([.. launcher, "sweep", "job", plan.Root, "--stage", stage.Name]))
                .Append(" --index \"$SLURM_ARRAY_TASK_ID\"\n");
            AtomicFile.WriteText(script, sb.ToString());
            var args = new List<string>
            {
                "--parsable", $"--job-name=o2o-{plan.Spec.Name}-{stage.Name}",
                "--array=" + string.Join(',', todo.Select(j => j.Index.ToString(CultureInfo.InvariantCulture))),
                $"--output={Path.Combine(slurmDir, stage.Name + "-%A_%a.out")}", $"--chdir={plan.Root}",
            };
            if (res.Partition is { } p) args.Add($"--partition={p}");
            if (res.Time is { } t) args.Add($"--time={t}");
            args.Add($"--cpus-per-task={res.CpusPerTask ?? 1}");
            if (res.Mem is { } m) args.Add($"--mem={m}");
            var deps = stage.Needs.SelectMany(n => arrays[n]).Distinct().ToList();
            if (deps.Count > 0)
            {
                args.Add("--dependency=afterok:" + string.Join(':', deps));
                args.Add("--kill-on-invalid-dep=yes");
            }
            args.Add(script);
            var (code, output, error) = Exec(sbatch, args);
            if (code != 0)
                throw new UserError($"sbatch refused stage '{stage.Name}' (exit {code}): "
                    + $"{error.Trim().Split('\n').LastOrDefault()}; check --partition, --time, --mem and 'sinfo'");
            var jobId = output.Trim().Split(';')[0];
            ids.Add(jobId);
            submitted.Add((stage.Name, jobId, todo.Count));
            foreach (var j in todo)
            {
                Directory.CreateDirectory(j.Dir);
                var prev = statuses[j.Id];
                new JobStatus
                {
                    Job = j.Id, State = JobStatus.Submitted, Command = prev?.Command, Attempts = prev?.Attempts ?? 0,
                    SlurmJobId = $"{jobId}_{j.Index}",
                }.Write(j.StatusPath);
            }
            File.AppendAllText(Path.Combine(slurmDir, "submissions.txt"),
                $"{DateTimeOffset.Now:O} {stage.Name} {jobId} {SweepPlan.Quote(["sbatch", .. args])}\n");
            log($"submitted stage {stage.Name}: Slurm job {jobId}, {todo.Count} array task(s)"
                + (deps.Count > 0 ? $", after {string.Join(", ", deps)}" : ""));
        }
        if (submitted.Count == 0)
            log($"nothing to submit: every job is done or queued ('o2o sweep status {plan.Root}')");
        return submitted;
    }

    /// <summary>One row per job: its state from the status file, refined by squeue (pending, running, lost).
    /// </summary>
    public static IReadOnlyList<(SweepJob Job, string State, JobStatus? Status)> States(SweepPlan plan)
    {
        var queue = Queue();
        return plan.Jobs.Select(j =>
        {
            var s = JobStatus.Read(j.StatusPath);
            var state = s?.State ?? "not started";
            if (s is { State: JobStatus.Submitted or JobStatus.Running, SlurmJobId: { } id })
                state = queue.TryGetValue(id, out var q) ? $"{s.State} (slurm: {q.ToLowerInvariant()})"
                    : s.State == JobStatus.Submitted && queue.Keys.Any(k => k.StartsWith(id.Split('_')[0] + "_["))
                        ? "submitted (slurm: pending)"
                        : "lost (no longer in squeue: cancelled, timed out or node failure)";
            else if (s is { State: JobStatus.Running, SlurmJobId: null, Pid: int pid }
                && !Directory.Exists($"/proc/{pid}"))
                state = "killed (runs again, resuming, at the next 'o2o sweep run')";
            return (j, state, s);
        }).ToList();
    }

    /// <summary>Wait until no job is submitted or running under Slurm any more; false when
    /// <paramref name="limit"/> passed first.</summary>
    public static bool Wait(SweepPlan plan, Action<string> log, CancellationToken cancel, TimeSpan poll, TimeSpan limit)
    {
        var last = "";
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var states = States(plan);
            var open = states.Count(s => s.State.StartsWith("submitted", StringComparison.Ordinal)
                || s.State.StartsWith("running", StringComparison.Ordinal));
            var summary = string.Join(", ", states.GroupBy(s => s.State.Split(" (")[0]).OrderBy(g => g.Key)
                .Select(g => $"{g.Count()} {g.Key}"));
            if (summary != last) log("waiting: " + summary);
            last = summary;
            if (open == 0) return true;
            if (limit != Timeout.InfiniteTimeSpan && clock.Elapsed > limit) return false;
            Task.Delay(poll, cancel).Wait(cancel);
        }
    }

    static (int Code, string Out, string Err) Exec(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new UserError($"cannot start {file}");
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }
}
