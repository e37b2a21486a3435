using System.Diagnostics;
using System.Text.Json.Nodes;
using O2O.Cli.Commands;

namespace O2O.Cli.Tests;

/// <summary>`o2o sweep`: spec errors, the local backend (kill and restart, nothing rerun, failed jobs), Slurm (when
/// ./test.sh has started the single-node Slurm: O2O_SLURM=1).</summary>
public class SweepTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cli-sweep-").FullName;

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    /// <summary>The repository's experiments/ folder.</summary>
    internal static string Experiments()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "experiments", "tiny.yaml")))
                return Path.Combine(d.FullName, "experiments");
        throw new InvalidOperationException("experiments/tiny.yaml not found above the test folder");
    }

    string Spec(string name, string text)
    {
        var path = Path.Combine(tmp, name);
        File.WriteAllText(path, text);
        return path;
    }

    const string Minimal = """
        name: t
        tasks: [Hopper-v4]
        seeds: [1]
        arms:
          a: {args: --x}
        stages:
          one:
            command: o2o envs
        """;

    [Fact]
    public void Invalid_yaml_is_a_one_line_error_with_line_and_column()
    {
        var spec = Spec("bad.yaml", "name: t\nstages:\n  one: {command: o2o envs\n  two: [\n");
        var r = CliHarness.Run("sweep", "run", spec, "--dry_run");
        CliHarness.AssertOneLineError(r, "bad.yaml:", "not valid YAML");
        Assert.Matches(@"bad\.yaml:\d+:\d+: not valid YAML", r.Err);
        var tab = Spec("tab.yaml", "name: t\nstages:\n  one:\n    command: o2o envs\n   per: [task]\n");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", tab, "--dry_run"), "tab.yaml:5:", "not valid YAML");
    }

    [Fact]
    public void An_unknown_arm_field_names_it_with_its_place()
    {
        var spec = Spec("arm.yaml", Minimal.Replace("a: {args: --x}", "a: {args: --x, seeds: [1]}"));
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", spec, "--dry_run"),
            "arm.yaml:5:", "unknown field 'seeds' in arm 'a'", "known: args, command, vars");
        var top = Spec("top.yaml", Minimal + "\nbudget: 3\n");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", top, "--dry_run"), "top.yaml:9:1",
            "unknown field 'budget'");
    }

    [Fact]
    public void A_cyclic_dependency_is_named()
    {
        var spec = Spec("cycle.yaml", """
            name: t
            stages:
              a: {command: o2o envs, needs: [c]}
              b: {command: o2o envs, needs: [a]}
              c: {command: o2o envs, needs: [b]}
            """);
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", spec, "--dry_run"),
            "cycle.yaml:", "cyclic dependency between stages: a → c → b → a");
    }

    [Fact]
    public void Unknown_placeholders_stages_and_axes_are_one_line_errors()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run",
            Spec("ph.yaml", Minimal.Replace("o2o envs", "o2o envs {sede}")), "--dry_run"),
            "ph.yaml:8:", "unknown placeholder '{sede}'");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run",
            Spec("need.yaml", Minimal.Replace("command: o2o envs", "command: o2o envs\n    needs: [nope]")),
            "--dry_run"), "need.yaml:", "needs 'nope', which is no stage");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run",
            Spec("per.yaml", Minimal.Replace("command: o2o envs", "command: o2o envs\n    per: [sed]")),
            "--dry_run"), "per.yaml:", "runs per 'sed', which is no axis");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", Path.Combine(tmp, "none.yaml")), "does not exist");
    }

    [Fact]
    public void A_dry_run_prints_every_job_with_its_dependencies_and_runs_nothing()
    {
        var outDir = Path.Combine(tmp, "dry");
        var r = CliHarness.Run("sweep", "run", Path.Combine(Experiments(), "tiny.yaml"), "--out", outDir, "--dry_run");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("6 jobs", r.Out);
        Assert.Contains("run/Hopper-v4_clip01_s2  (after bc/Hopper-v4)", r.Out);
        Assert.Contains($"--init_actor {outDir}/bc/Hopper-v4/bc_actor.pt", r.Out);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Set_vars_and_sweep_folders_are_checked()
    {
        var tiny = Path.Combine(Experiments(), "tiny.yaml");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", tiny, "--set", "nope=1", "--dry_run"),
            "--set nope: the spec's vars: have no 'nope'; vars: steps");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", tiny, "--set", "steps", "--dry_run"),
            "--set 'steps' must look like NAME=VALUE");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", tiny, "--set", "steps=many", "--dry_run"),
            "compare total_steps 'many' is not a positive integer");
        var bad = Spec("budget.yaml", File.ReadAllText(tiny).Replace("total_steps: \"{steps}\"", "total_steps: \"{stpes}\""));
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", bad, "--dry_run"),
            "budget.yaml:39:16: compare total_steps '{stpes}' is not a positive integer");
        var r = CliHarness.Run("sweep", "run", tiny, "--set", "steps=512", "--dry_run", "--out", tmp);
        Assert.Contains("--total_steps 512", r.Out);
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "status", tmp), "is not a sweep folder (no sweep.yaml)");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "report", tmp), "is not a sweep folder");
        CliHarness.AssertOneLineError(CliHarness.Run("sweep", "run", tiny, "--backend", "pbs"), "--backend");
    }

    [Fact]
    public void Every_committed_spec_expands()
    {
        foreach (var spec in Directory.GetFiles(Experiments(), "*.yaml"))
        {
            var r = CliHarness.Run("sweep", "run", spec, "--out", Path.Combine(tmp, "x"), "--dry_run");
            Assert.True(r.Code == 0, $"{spec}: {r.Err}");
        }
    }

    [Fact]
    public void Slurm_without_sbatch_on_the_path_says_how_to_get_it()
    {
        var path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", tmp);
        try
        {
            var outDir = Path.Combine(tmp, "slurm");
            var r = CliHarness.Run("sweep", "run", Path.Combine(Experiments(), "tiny.yaml"), "--out", outDir,
                "--backend", "slurm");
            CliHarness.AssertOneLineError(r, "'sbatch' is not on the PATH", "apt install slurm-wlm", "cluster");
            Assert.False(Directory.Exists(Path.Combine(outDir, "data")));
        }
        finally { Environment.SetEnvironmentVariable("PATH", path); }
    }

    [Fact]
    public void A_failed_job_is_named_with_its_log_tail_and_its_dependents_do_not_run()
    {
        var spec = Spec("fail.yaml", """
            name: fail
            stages:
              good:
                command: o2o envs
              bad:
                command: o2o data info {out}/missing.npz
              after:
                command: o2o envs
                needs: [bad]
            """);
        var outDir = Path.Combine(tmp, "fail");
        var r = CliHarness.Run("sweep", "run", spec, "--out", outDir);
        CliHarness.AssertOneLineError(r, "1 job(s) failed: bad/all (exit 1", "missing.npz", "log:",
            "1 job(s) that need them did not run");
        Assert.Contains("FAILED bad/all", r.Out);
        Assert.Contains("  | o2o data info: error:", r.Out);
        Assert.Equal("done", Status(outDir, "good/all")["state"]!.GetValue<string>());
        Assert.Equal("failed", Status(outDir, "bad/all")["state"]!.GetValue<string>());
        Assert.False(File.Exists(Path.Combine(outDir, "after", "all", "status.json")));
    }

    static JsonNode Status(string dir, string job) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(dir, job, "status.json")))!;

    /// <summary>Every column but wall_s and time/* of a CSV.</summary>
    static List<string> Learning(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length)
            .Where(i => header[i] != "wall_s" && !header[i].StartsWith("time/", StringComparison.Ordinal)).ToList();
        return lines.Select(l => string.Join(',', keep.Select(i => l.Split(',')[i]))).ToList();
    }

    [Fact]
    public void A_sweep_killed_with_sigkill_and_restarted_gives_the_csvs_of_an_uninterrupted_one_and_reruns_nothing()
    {
        // Longer runs than tiny.yaml's, so that the kill lands inside a run that has a checkpoint.
        var text = File.ReadAllText(Path.Combine(Experiments(), "tiny.yaml")).Replace("768", "4096");
        var spec = Spec("kill.yaml", text);
        var whole = Path.Combine(tmp, "whole");
        var r = CliHarness.Run("sweep", "run", spec, "--out", whole, "--jobs", "2");
        Assert.True(r.Code == 0, r.Err + r.Out);

        var killed = Path.Combine(tmp, "killed");
        int pid;
        var psi = new ProcessStartInfo(SweepCommand.Launcher()[0]) { RedirectStandardOutput = true };
        foreach (var x in SweepCommand.Launcher().Skip(1).Concat(["sweep", "run", spec, "--out", killed, "--jobs", "2"]))
            psi.ArgumentList.Add(x);
        using (var p = Process.Start(psi)!)
        {
            _ = p.StandardOutput.ReadToEndAsync();
            var sw = Stopwatch.StartNew();
            bool Mid() => Directory.Exists(Path.Combine(killed, "run")) && Directory.GetDirectories(
                Path.Combine(killed, "run")).Any(d => File.Exists(Path.Combine(d, "run.ckpt", "model.pt"))
                    && File.Exists(Path.Combine(d, "status.json"))
                    && Status(killed, Path.GetRelativePath(killed, d))["state"]!.GetValue<string>() == "running");
            while (!Mid() && !p.HasExited && sw.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(20);
            Assert.False(p.HasExited, "the sweep ended before a run had a checkpoint; make the runs longer");
            // One runner per sweep folder: a second is refused with one line naming the holder.
            var second = CliHarness.Run("sweep", "run", spec, "--out", killed, "--jobs", "2");
            CliHarness.AssertOneLineError(second, $"sweep folder '{killed}' is in use by another o2o process (PID "
                + $"{p.Id} on {Environment.MachineName}");
            pid = p.Id;
            p.Kill(entireProcessTree: false); // SIGKILL the runner alone; its jobs die with it (parent-death signal)
            p.WaitForExit();
        }
        Thread.Sleep(500);
        var again = CliHarness.Run("sweep", "run", spec, "--out", killed, "--jobs", "2");
        Assert.True(again.Code == 0, again.Err + again.Out);
        Assert.Contains($"sweep folder '{killed}': taking over the stale lock of PID {pid}", again.Out);
        var runs = Directory.GetDirectories(Path.Combine(whole, "run")).Select(Path.GetFileName).ToList();
        Assert.Equal(4, runs.Count);
        var resumed = 0;
        foreach (var run in runs)
        {
            Assert.Equal(Learning(Path.Combine(whole, "run", run!, "run.csv")),
                Learning(Path.Combine(killed, "run", run!, "run.csv")));
            if (Status(killed, $"run/{run}")["resumed"]!.GetValue<bool>()) resumed++;
        }
        Assert.True(resumed >= 1, "no run resumed from its checkpoint");

        var before = Directory.GetFiles(killed, "status.json", SearchOption.AllDirectories)
            .ToDictionary(f => f, File.ReadAllText);
        var third = CliHarness.Run("sweep", "run", spec, "--out", killed, "--jobs", "2");
        Assert.True(third.Code == 0, third.Err);
        Assert.Contains("nothing to run: all 6 jobs are done", third.Out);
        Assert.DoesNotContain("start ", third.Out);
        foreach (var (f, t) in before) Assert.Equal(t, File.ReadAllText(f));
        Assert.True(File.Exists(Path.Combine(killed, "report", "report.md")));
    }

    [SkippableFact]
    public void A_tiny_sweep_runs_through_slurm_with_its_stage_dependency_and_a_report()
    {
        var wanted = Environment.GetEnvironmentVariable("O2O_SLURM") == "1";
        Skip.IfNot(wanted, "the single-node Slurm is not running (./test.sh starts it: O2O_SLURM=1)");
        var outDir = Path.Combine(tmp, "slurm");
        var r = CliHarness.Run("sweep", "run", Path.Combine(Experiments(), "tiny.yaml"), "--out", outDir,
            "--backend", "slurm", "--wait", "--wait_minutes", "8");
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("submitted stage run", r.Out);
        var statuses = Directory.GetFiles(outDir, "status.json", SearchOption.AllDirectories)
            .Select(f => (Path.GetRelativePath(outDir, Path.GetDirectoryName(f)!), JsonNode.Parse(File.ReadAllText(f))!))
            .ToList();
        Assert.Equal(6, statuses.Count);
        foreach (var (job, s) in statuses)
        {
            Assert.Equal("done", s["state"]!.GetValue<string>());
            Assert.False(string.IsNullOrEmpty(s["slurm_array_task_id"]?.GetValue<string>()), $"{job}: no array task id");
            Assert.EndsWith("_" + s["slurm_array_task_id"]!.GetValue<string>(), s["slurm_job_id"]!.GetValue<string>());
        }
        DateTimeOffset T(JsonNode s, string k) => DateTimeOffset.Parse(s[k]!.GetValue<string>(),
            System.Globalization.CultureInfo.InvariantCulture);
        var sharedEnd = statuses.Where(s => !s.Item1.StartsWith("run", StringComparison.Ordinal))
            .Max(s => T(s.Item2, "finished"));
        var runsStart = statuses.Where(s => s.Item1.StartsWith("run", StringComparison.Ordinal))
            .Min(s => T(s.Item2, "started"));
        Assert.True(sharedEnd <= runsStart, $"a run started at {runsStart:O} before the shared stages ended {sharedEnd:O}");
        Assert.True(File.Exists(Path.Combine(outDir, "report", "report.md")));
        var status = CliHarness.Run("sweep", "status", outDir);
        Assert.Contains("6 jobs: 6 done", status.Out);
        var again = CliHarness.Run("sweep", "resubmit", outDir);
        Assert.Contains("nothing to submit", again.Out);
    }

    [SkippableFact]
    public void Under_slurm_a_failed_job_is_named_its_dependents_are_cancelled_and_resubmit_finishes_the_sweep()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("O2O_SLURM") == "1",
            "the single-node Slurm is not running (./test.sh starts it: O2O_SLURM=1)");
        var spec = Spec("slurm-fail.yaml", """
            name: slurm-fail
            stages:
              bad:
                command: o2o data info {dir}/input.npz
              after:
                command: o2o envs
                needs: [bad]
            """);
        var outDir = Path.Combine(tmp, "slurm-fail");
        var r = CliHarness.Run("sweep", "run", spec, "--out", outDir, "--backend", "slurm", "--wait", "--wait_minutes",
            "5");
        CliHarness.AssertOneLineError(r, "2 job(s) did not finish", "bad/all (failed, exit 1", "after/all (lost",
            "o2o sweep resubmit");
        Assert.Contains("input.npz", r.Out);
        var status = CliHarness.Run("sweep", "status", outDir);
        Assert.Contains("2 jobs: 1 failed, 1 lost", status.Out);
        // Repair the cause; resubmit runs both again, the dependency included.
        var fixtures = Path.Combine(Path.GetDirectoryName(Experiments())!, "tests", "fixtures");
        File.Copy(Path.Combine(fixtures, "tiny_numpy_stored.npz"), Path.Combine(outDir, "input.npz"));
        var again = CliHarness.Run("sweep", "resubmit", outDir, "--wait", "--wait_minutes", "5");
        Assert.True(again.Code == 0, again.Err + again.Out);
        Assert.Contains("2 jobs: 2 done", CliHarness.Run("sweep", "status", outDir).Out);
        Assert.Equal(2, Status(outDir, "bad/all")["attempts"]!.GetValue<int>());
    }
}
