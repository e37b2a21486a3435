using System.Globalization;
using O2O.Core;
using O2O.Experiments;
using O2O.Experiments.Sweeps;

namespace O2O.Cli.Commands;

/// <summary>
/// `o2o sweep run | status | resubmit | report | job`: experiment grids from a YAML spec (docs/sweeps.md) on this
/// machine (a resumable worker pool) or on Slurm (job arrays with dependencies).
/// </summary>
public static class SweepCommand
{
    static OptionSpec[] SlurmFlags =>
    [
        new("partition", "Slurm partition (overrides the spec's slurm: block)"),
        new("time", "Slurm time limit per job, e.g. 02:00:00"),
        new("cpus_per_task", "Slurm CPUs per job (also its libtorch threads)"),
        new("mem", "Slurm memory per job, e.g. 4G"),
        new("wait", "after submitting, wait until no job is queued or running (then report)", "false", IsFlag: true),
        new("wait_minutes", "with --wait: give up waiting after this many minutes (the jobs stay queued)")
            { DefaultNote = "no limit" },
    ];

    public static readonly CommandSpec Run = new(
        "sweep run",
        "run a sweep spec's jobs: locally (worker pool, resumes killed jobs) or as Slurm job arrays",
        [
            new("backend", "local (this machine) or slurm (sbatch --array per stage)", "local"),
            new("out", "the sweep's folder (jobs, logs, status files, report)") { DefaultNote = "runs/NAME" },
            new("jobs", "local: jobs at a time") { DefaultNote = "the number of cores" },
            new("threads", "libtorch threads per job ({threads})")
                { DefaultNote = "the spec's threads:, else cores / jobs" },
            new("dry_run", "print the jobs and their commands; run nothing", "false", IsFlag: true),
            new("set", "NAME=VALUE[,NAME=VALUE…]: set variables of the spec's vars: (kept in the sweep's folder)"),
            .. SlurmFlags,
        ],
        ExecuteRun,
        Positional: "spec",
        PositionalHelp: "the sweep spec (YAML, e.g. experiments/hopper-o2o-claim.yaml)")
    {
        StopsOnCancel = true,
        Resume = ResumeStyle.Rerun,
    };

    public static readonly CommandSpec Status = new(
        "sweep status",
        "every job of a sweep folder: state, exit code, attempts, Slurm job id and what squeue says",
        [],
        ExecuteStatus,
        Positional: "dir",
        PositionalHelp: "the sweep's folder (--out of sweep run)");

    public static readonly CommandSpec Resubmit = new(
        "sweep resubmit",
        "submit to Slurm again every job of a sweep folder that failed, was cancelled or lost",
        [.. SlurmFlags],
        ExecuteResubmit,
        Positional: "dir",
        PositionalHelp: "the sweep's folder") { StopsOnCancel = true };

    public static readonly CommandSpec Report = new(
        "sweep report",
        "the sweep's comparison (the spec's compare:): report.md with rliable statistics and curve PNGs",
        [
            new("out", "folder of report.md and the PNGs") { DefaultNote = "DIR/report" },
            new("baseline", "variant the others are compared with (probability of improvement)")
                { DefaultNote = "the spec's compare: baseline" },
            ReportFlags.Flag(nameof(ReportOptions.Resamples), "bootstrap resamples", min: 100, max: 1_000_000),
            ReportFlags.Flag(nameof(ReportOptions.Seed), "bootstrap seed"),
        ],
        ExecuteReport,
        Positional: "dir",
        PositionalHelp: "the sweep's folder");

    public static readonly CommandSpec Job = new(
        "sweep job",
        "run one job of a sweep folder (what each Slurm array task runs)",
        [
            new("stage", "the job's stage", Required: true),
            new("index", "the job's index in its stage (SLURM_ARRAY_TASK_ID)", Required: true),
            new("threads", "libtorch threads") { DefaultNote = "SLURM_CPUS_PER_TASK, else 1" },
        ],
        ExecuteJob,
        Positional: "dir",
        PositionalHelp: "the sweep's folder");

    /// <summary>How this process runs `o2o` again: the apphost, or the dotnet host and o2o.dll.</summary>
    internal static IReadOnlyList<string> Launcher()
    {
        var dll = typeof(Program).Assembly.Location;
        var host = Environment.ProcessPath;
        var apphost = Path.Combine(Path.GetDirectoryName(dll)!, "o2o");
        if (host is not null && Path.GetFullPath(host) == apphost) return [apphost];
        if (host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet") return [host, dll];
        return [Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet", dll];
    }

    static SlurmResources Resources(ParsedArgs a) => new(a.String("partition"), a.String("time"),
        a.Has("cpus_per_task") ? a.Int("cpus_per_task", 1, 4096) : null, a.String("mem"));

    static SweepPlan FromDir(ParsedArgs a, string command)
    {
        var dir = a.PositionalValue ?? throw new UsageError($"give the sweep's folder: o2o {command} DIR");
        var spec = Path.Combine(dir, "sweep.yaml");
        if (!File.Exists(spec))
            throw new UserError($"'{dir}' is not a sweep folder (no sweep.yaml); give the --out of 'o2o sweep run'");
        var loaded = SweepSpec.Load(spec);
        var vars = Path.Combine(dir, "sweep-vars.json");
        if (File.Exists(vars))
            loaded = loaded.WithVars(System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(
                File.ReadAllText(vars)) ?? []);
        return SweepPlan.Expand(loaded, dir);
    }

    static int ExecuteRun(CommandContext ctx)
    {
        var a = ctx.Args;
        var path = a.PositionalValue ?? throw new UsageError("give the sweep spec: o2o sweep run SPEC.yaml");
        var backend = a.Choice("backend", "local", "slurm");
        var spec = SweepSpec.Load(path);
        if (a.String("set") is { } set)
            spec = spec.WithVars(set.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(kv =>
            {
                var eq = kv.IndexOf('=');
                var value = kv[(eq + 1)..].Trim();
                // Jobs run in their own folders: a relative path that exists here is made absolute.
                if (value.Length > 0 && (File.Exists(value) || Directory.Exists(value)))
                    value = Path.GetFullPath(value);
                return eq > 0 ? KeyValuePair.Create(kv[..eq].Trim(), value)
                    : throw new UsageError($"--set '{kv}' must look like NAME=VALUE");
            }).ToDictionary());
        var plan = SweepPlan.Expand(spec, a.String("out") ?? Path.Combine("runs", spec.Name));
        var cores = Environment.ProcessorCount;
        var jobs = a.Has("jobs") ? a.Int("jobs", 1, 4096) : cores;
        var threads = a.Has("threads") ? a.Int("threads", 1, 256)
            : backend == "slurm" ? (a.Has("cpus_per_task") ? a.Int("cpus_per_task", 1, 4096)
                : spec.Slurm.CpusPerTask ?? spec.Threads ?? 1)
            : spec.Threads ?? Math.Max(1, cores / Math.Min(jobs, cores));
        if (a.Bool("dry_run"))
        {
            ctx.Log($"# sweep {spec.Name}: {plan.Jobs.Count} jobs into {plan.Root} ({backend} backend)");
            foreach (var j in plan.Jobs)
            {
                var needs = j.Needs.Count == 0 ? "" : $"  (after {string.Join(", ", j.Needs)})";
                ctx.Log($"{j.Id}{needs}\n  {j.CommandLine(threads)}");
            }
            return 0;
        }
        if (backend == "slurm")
        {
            SlurmBackend.Submit(plan, Resources(a), Launcher(), ctx.Log);
            return a.Bool("wait") ? WaitAndReport(ctx, plan) : 0;
        }
        var outcome = LocalRunner.Run(plan, jobs, threads, new JobExecution(Launcher()), ctx.Log, ctx.Cancel);
        if (outcome.Failed.Count > 0) throw new UserError(LocalRunner.FailureMessage(outcome));
        ctx.Log($"sweep {spec.Name}: {outcome.Ran} job(s) run now, {outcome.AlreadyDone} already done");
        if (spec.Compare is not null) WriteReport(ctx, plan, Path.Combine(plan.Root, "report"));
        return 0;
    }

    static int WaitAndReport(CommandContext ctx, SweepPlan plan)
    {
        var limit = ctx.Args.Has("wait_minutes") ? TimeSpan.FromMinutes(ctx.Args.Double("wait_minutes", 0.01))
            : Timeout.InfiniteTimeSpan;
        if (!SlurmBackend.Wait(plan, ctx.Log, ctx.Cancel, TimeSpan.FromSeconds(2), limit))
            throw new UserError($"jobs still queued or running after --wait_minutes {ctx.Args.String("wait_minutes")}; "
                + $"follow them with 'o2o sweep status {plan.Root}' (squeue shows why they wait)");
        var failed = SlurmBackend.States(plan).Where(s => s.State != JobStatus.Done).ToList();
        if (failed.Count > 0)
        {
            foreach (var f in failed)
            {
                ctx.Log($"{f.Job.Id}: {f.State}; the end of {f.Job.LogPath}:");
                foreach (var l in JobStatus.Tail(f.Job.LogPath, 10)) ctx.Log("  | " + l);
            }
            static string Exit(JobStatus? s) => s?.ExitCode is int c ? $", exit {c}" : "";
            throw new UserError($"{failed.Count} job(s) did not finish: "
                + string.Join("; ", failed.Select(f => $"{f.Job.Id} ({f.State}{Exit(f.Status)}; log: {f.Job.LogPath})"))
                + $"; fix the cause and run 'o2o sweep resubmit {plan.Root}'");
        }
        if (plan.Spec.Compare is not null) WriteReport(ctx, plan, Path.Combine(plan.Root, "report"));
        return 0;
    }

    static int ExecuteStatus(CommandContext ctx)
    {
        var plan = FromDir(ctx.Args, "sweep status");
        var states = SlurmBackend.States(plan);
        var w = Math.Max(4, plan.Jobs.Max(j => j.Id.Length));
        ctx.Out.WriteLine($"{"job".PadRight(w)}  {"exit",4}  {"tries",5}  {"slurm job",-12}  state");
        foreach (var (job, state, s) in states)
        {
            var exit = s?.ExitCode is int c ? c.ToString(CultureInfo.InvariantCulture) : "–";
            ctx.Out.WriteLine(
                $"{job.Id.PadRight(w)}  {exit,4}  {s?.Attempts ?? 0,5}  {s?.SlurmJobId ?? "–",-12}  {state}");
        }
        var counts = states.GroupBy(s => s.State.Split(" (")[0]).OrderBy(g => g.Key)
            .Select(g => $"{g.Count()} {g.Key}");
        ctx.Out.WriteLine($"{plan.Jobs.Count} jobs: {string.Join(", ", counts)}");
        return 0;
    }

    static int ExecuteResubmit(CommandContext ctx)
    {
        var plan = FromDir(ctx.Args, "sweep resubmit");
        SlurmBackend.Submit(plan, Resources(ctx.Args), Launcher(), ctx.Log);
        return ctx.Args.Bool("wait") ? WaitAndReport(ctx, plan) : 0;
    }

    static int ExecuteReport(CommandContext ctx)
    {
        var a = ctx.Args;
        var plan = FromDir(a, "sweep report");
        WriteReport(ctx, plan, a.String("out") ?? Path.Combine(plan.Root, "report"), a.String("baseline"),
            ReportFlags.Apply(a, new ReportOptions()));
        return 0;
    }

    /// <summary>The report of the spec's compare:; <paramref name="boot"/> carries the bootstrap's settings.</summary>
    static void WriteReport(CommandContext ctx, SweepPlan plan, string outDir, string? baseline = null,
        ReportOptions? boot = null)
    {
        var (resamples, seed) = boot is null ? (new ReportOptions().Resamples, new ReportOptions().Seed)
            : (boot.Resamples, boot.Seed);
        var c = plan.Spec.Compare ?? throw new UserError(
            $"{plan.Spec.File}: the spec has no compare: block; add one (docs/sweeps.md) to make a report");
        var jobs = plan.Jobs.Where(j => j.Stage == c.Stage).ToList();
        foreach (var j in jobs)
            if (JobStatus.Read(j.StatusPath)?.State != JobStatus.Done)
                throw new UserError($"job {j.Id} is not done ({JobStatus.Read(j.StatusPath)?.State ?? "not started"}); "
                    + "finish the sweep first ('o2o sweep status')");
        var variants = c.Variants.Select(v => new ReportVariant(v.Name, jobs
            .Where(j => j.Values.TryGetValue("arm", out var arm) && v.Arms.Contains(arm))
            .Select(j => new TaskRun(j.Values.GetValueOrDefault("task") ?? "all", j.ResultPath!)).ToList())).ToList();
        var vars = plan.Spec.Vars;
        var options = new ReportOptions(c.Metric, c.ReferenceWith(vars), c.TotalStepsWith(vars), baseline ?? c.Baseline,
            c.Title,
            resamples, seed);
        ComparisonReport.Write(outDir, variants, options);
        ctx.Log($"report: {Path.Combine(outDir, "report.md")}");
    }

    static int ExecuteJob(CommandContext ctx)
    {
        var a = ctx.Args;
        var plan = FromDir(a, "sweep job");
        var stage = a.RequiredString("stage");
        var index = a.Int("index", 0);
        var job = plan.Jobs.FirstOrDefault(j => j.Stage == stage && j.Index == index)
            ?? throw new UsageError($"the sweep has no job {index} in stage '{stage}'");
        var env = Environment.GetEnvironmentVariables();
        var slurm = env.Keys.Cast<string>().Where(k => k.StartsWith("SLURM_", StringComparison.Ordinal))
            .ToDictionary(k => k, k => (string)env[k]!);
        var threads = a.Has("threads") ? a.Int("threads", 1, 256)
            : int.TryParse(slurm.GetValueOrDefault("SLURM_CPUS_PER_TASK"), out var t) && t > 0 ? t : 1;
        var done = JobStatus.Read(job.StatusPath);
        if (done?.State == JobStatus.Done && done.Command == job.CommandLine(done.Threads ?? threads))
        {
            ctx.Log($"{job.Id} is done already");
            return 0;
        }
        var code = new JobExecution(Launcher()).Run(job, threads, slurm);
        ctx.Log($"{job.Id}: exit {code}");
        return code;
    }
}
