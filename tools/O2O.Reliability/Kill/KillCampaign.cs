using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace O2O.Reliability.Kill;

/// <summary>Settings of a kill campaign.</summary>
/// <param name="Rounds">Rounds of `o2o run --profile smoke`: each is killed once or twice in every phase, then
/// finished and compared with the uninterrupted reference.</param>
/// <param name="Seed">Campaign seed (the kills' phases and delays).</param>
/// <param name="Work">Scratch folder (the reference root, each round's root, the logs of every process).</param>
/// <param name="SweepKills">SIGKILLs of a small sweep (tiny.yaml with longer runs) before it is finished and compared
/// with an uninterrupted sweep; 0 leaves the sweep out.</param>
/// <param name="KillsPerPhase">Most kills per phase and round (each phase gets 1 … this many).</param>
public sealed record KillOptions(int Rounds, int Seed, string Work, int SweepKills, int KillsPerPhase = 2);

/// <summary>One SIGKILL: where it was aimed, where it landed (by the artefacts present after it), when.</summary>
public sealed record KillRecord(string Target, int Round, int Index, string Aimed, string Landed, double AfterMs);

/// <summary>The campaign's outcome: every kill, and every failure (a partial file, a differing artefact, a rerun
/// that did not finish).</summary>
public sealed class KillReport
{
    public List<KillRecord> Kills { get; } = [];
    public List<string> Failures { get; } = [];
    public int Comparisons { get; set; }
    public int FilesCompared { get; set; }
    public int FilesValidated { get; set; }
    public int Leftovers { get; set; }

    public string Table()
    {
        var w = new StringBuilder();
        var byPhase = Kills.GroupBy(k => (k.Target, k.Landed)).OrderBy(g => g.Key.Target)
            .ThenBy(g => Array.IndexOf(KillCampaign.Phases, g.Key.Landed)).ThenBy(g => g.Key.Landed);
        w.AppendLine("| target | phase at the kill | kills |");
        w.AppendLine("|---|---|---|");
        foreach (var g in byPhase) w.AppendLine($"| {g.Key.Target} | {g.Key.Landed} | {g.Count()} |");
        w.AppendLine(CultureInfo.InvariantCulture, $"| **total** | | **{Kills.Count}** |");
        w.AppendLine();
        w.AppendLine(CultureInfo.InvariantCulture, $"{Kills.Count} SIGKILLs; {FilesValidated} final-named files "
            + $"checked after the kills; {Comparisons} finished runs compared with the uninterrupted reference "
            + $"({FilesCompared} files); {Leftovers} writer temporaries left by killed processes; "
            + $"{Failures.Count} failures.");
        foreach (var f in Failures) w.AppendLine("- FAILURE: " + f);
        return w.ToString();
    }
}

/// <summary>
/// The kill campaign (docs/reliability.md): `o2o run --profile smoke` into a fresh root, SIGKILLed at seeded moments
/// in every phase — each kill aimed at a phase starts from the line that opens it and waits a seeded fraction of the
/// phase's length in the reference run — and rerun after each kill; after every kill each file under a final name
/// must read back whole, and the finished run's artefacts must equal those of an uninterrupted reference run. Then
/// the same for a small sweep killed at seeded moments (the runner alone or its whole process tree).
/// </summary>
public static class KillCampaign
{
    /// <summary>The phases of `o2o run` in order; a kill's phase is read from the artefacts present after it.</summary>
    public static readonly string[] Phases =
        ["behaviour PPO", "collection", "conversion", "DSR", "BC", "online", "summary", "finished"];

    const string Data = "data/hopper-medium-v2.hdf5", Npz = "data/hopper_medium.npz";
    const string BehaviourActor = "data/behaviour/Hopper-v4_medium_behaviour_s1_actor.pt";
    const string Dsr = "checkpts/hopper_medium_dsr.pt", Bc = "checkpts/hopper_medium_bc_actor.pt";
    const string Online = "logs/hopper_medium_bc_dsr_s1_actor.pt", Summary = "logs/hopper_medium_bc_dsr_s1_summary.md";

    /// <summary>The line that opens each phase (its own, or the one that says a previous session finished it).
    /// </summary>
    static bool Opens(string phase, string line) => phase switch
    {
        "behaviour PPO" => line.StartsWith("o2o run: ", StringComparison.Ordinal),
        "collection" => line.StartsWith("behaviour policy:", StringComparison.Ordinal),
        "conversion" => line.Contains("hopper-medium-v2.hdf5", StringComparison.Ordinal)
            && WroteOrFound(line),
        "DSR" => line.StartsWith("converted ", StringComparison.Ordinal)
            || (line.StartsWith("found ", StringComparison.Ordinal) && line.EndsWith(".npz", StringComparison.Ordinal)),
        "BC" => line.Contains("_dsr.pt", StringComparison.Ordinal)
            && WroteOrFound(line),
        "online" => line.Contains("_bc_actor.pt", StringComparison.Ordinal)
            && WroteOrFound(line),
        _ => false,
    };

    static bool WroteOrFound(string line) =>
        line.StartsWith("wrote ", StringComparison.Ordinal) || line.StartsWith("found ", StringComparison.Ordinal);

    /// <summary>The phase a run killed in was in, from what it left.</summary>
    public static string Landed(string root)
    {
        bool Has(string rel) => File.Exists(Path.Combine(root, rel));
        // The behaviour actor's name carries the data recipe when it is not the first one: any of them.
        var behaviour = Path.Combine(root, Path.GetDirectoryName(BehaviourActor)!);
        bool HasActor() => Directory.Exists(behaviour)
            && Directory.GetFiles(behaviour, "Hopper-v4_medium_*behaviour_s1_actor.pt").Length > 0;
        if (!Has(Data)) return HasActor() ? "collection" : "behaviour PPO";
        if (!Has(Npz)) return "conversion";
        if (!Has(Dsr)) return "DSR";
        if (!Has(Bc)) return "BC";
        if (!Has(Online)) return "online";
        return Has(Summary) ? "finished" : "summary";
    }

    public static KillReport Run(KillOptions o, Action<string> log)
    {
        Directory.CreateDirectory(o.Work);
        var report = new KillReport();
        var rng = new Random(o.Seed);
        var durations = new Dictionary<string, TimeSpan>();
        var refRoot = Path.Combine(o.Work, "reference");
        if (Directory.Exists(refRoot)) Directory.Delete(refRoot, true);
        log($"kill campaign: seed {o.Seed}, {o.Rounds} round(s) of o2o run --profile smoke, {o.SweepKills} sweep "
            + $"kill(s); work {o.Work}");
        if (o.Rounds > 0)
        {
            var reference = O2o.Start(RunArgs(refRoot), Path.Combine(o.Work, "reference.log"));
            var code = reference.WaitForExit(TimeSpan.FromMinutes(20));
            if (code != 0)
                throw new InvalidOperationException($"the reference run failed (exit {code}); see {reference.Log}");
            durations = Durations(reference);
            log("reference run: " + string.Join(", ", durations.Select(d => $"{d.Key} {d.Value.TotalSeconds:F1} s")));
        }

        for (var round = 1; round <= o.Rounds; round++)
        {
            var root = Path.Combine(o.Work, $"round-{round}");
            if (Directory.Exists(root)) Directory.Delete(root, true);
            var plan = new List<(string Phase, double Fraction)>();
            foreach (var phase in Phases[..6])
                for (var k = 1 + rng.Next(o.KillsPerPhase); k > 0; k--) plan.Add((phase, rng.NextDouble()));
            // Two kills aimed at one phase: the later one a larger fraction of it, as a rerun starts it over.
            plan = [.. plan.OrderBy(p => Array.IndexOf(Phases, p.Phase)).ThenBy(p => p.Fraction)];
            var index = 0;
            var session = 0;
            while (true)
            {
                var child = O2o.Start(RunArgs(root), Path.Combine(o.Work, $"round-{round}-{++session}.log"));
                if (index >= plan.Count)
                {
                    var end = child.WaitForExit(TimeSpan.FromMinutes(20));
                    if (end != 0)
                        report.Failures.Add($"round {round}: the final rerun failed (exit {end}); see {child.Log}");
                    break;
                }
                var (aim, fraction) = plan[index];
                var opened = child.WaitFor(l => Opens(aim, l), TimeSpan.FromMinutes(10));
                if (opened is null)
                {
                    // The phase was done before it could be aimed at (a previous session finished it): next target.
                    var end = child.WaitForExit(TimeSpan.FromMinutes(20));
                    if (end != 0) report.Failures.Add($"round {round}: a rerun failed (exit {end}); see {child.Log}");
                    index++;
                    if (end == 0 && index >= plan.Count) break;
                    continue;
                }
                var delay = durations.GetValueOrDefault(aim, TimeSpan.FromSeconds(1)) * (0.02 + 0.96 * fraction);
                Thread.Sleep(delay);
                if (!child.Kill())
                {
                    index++;
                    if (child.WaitForExit(TimeSpan.FromMinutes(1)) != 0)
                        report.Failures.Add($"round {round}: a run failed (exit {child.Code}); see {child.Log}");
                    if (index >= plan.Count) break;
                    continue;
                }
                var landed = Landed(root);
                report.Kills.Add(new KillRecord("o2o run", round, index, aim, landed, delay.TotalMilliseconds));
                log($"round {round} kill {index + 1}/{plan.Count}: aimed at {aim} (+{delay.TotalSeconds:F2} s), "
                    + $"landed in {landed}");
                foreach (var rel in Artefacts.FinalFiles(root))
                {
                    report.FilesValidated++;
                    if (Artefacts.Validate(Path.Combine(root, rel)) is { } why)
                        report.Failures.Add(
                            $"round {round} after kill {index + 1} ({landed}): {rel} is not whole: {why}");
                }
                index++;
            }
            CompareRuns(report, refRoot, root, $"round {round}", log);
            report.Leftovers += Artefacts.Leftovers(root).Count;
        }
        if (o.SweepKills > 0) SweepRounds(o, report, rng, log);
        return report;
    }

    static string[] RunArgs(string root) => ["run", "--profile", "smoke", "--root", root, "--download", "false"];

    static void CompareRuns(KillReport report, string refRoot, string root, string what, Action<string> log)
    {
        report.Comparisons++;
        var expected = Artefacts.FinalFiles(refRoot);
        var got = Artefacts.FinalFiles(root);
        foreach (var missing in expected.Except(got)) report.Failures.Add($"{what}: {missing} is missing");
        foreach (var extra in got.Except(expected)) report.Failures.Add($"{what}: {extra} was not in the reference");
        var diffs = 0;
        foreach (var rel in expected.Intersect(got))
        {
            report.FilesCompared++;
            var d = Artefacts.Compare(refRoot, root, rel);
            diffs += d.Count;
            report.Failures.AddRange(d.Select(x => $"{what}: {x}"));
        }
        log($"{what}: {expected.Intersect(got).Count()} files compared with the reference, {diffs} differences, "
            + $"{Artefacts.Leftovers(root).Count} temporaries left");
    }

    /// <summary>The length of each phase in a finished run, from the times its opening lines were printed.</summary>
    static Dictionary<string, TimeSpan> Durations(O2o run)
    {
        var opens = new List<(string Phase, TimeSpan At)>();
        foreach (var (at, line) in run.Lines)
            foreach (var p in Phases[..6])
                if (Opens(p, line) && opens.All(x => x.Phase != p)) opens.Add((p, at));
        var d = new Dictionary<string, TimeSpan>();
        for (var i = 0; i < opens.Count; i++)
            d[opens[i].Phase] = (i + 1 < opens.Count ? opens[i + 1].At : run.Lines[^1].At) - opens[i].At;
        return d;
    }

    /// <summary>
    /// A sweep (tiny.yaml, runs of 4096 env steps) killed <see cref="KillOptions.SweepKills"/> times at seeded
    /// moments — alternately the runner alone (its jobs die with it) and its whole process tree —, two per round
    /// into a fresh folder, each round then finished and compared with an uninterrupted sweep: every job's data, BC
    /// actor and run CSV (learning columns).
    /// </summary>
    static void SweepRounds(KillOptions o, KillReport report, Random rng, Action<string> log)
    {
        var text = File.ReadAllText(Path.Combine(Program.Repo(), "experiments", "tiny.yaml")).Replace("768", "4096");
        var spec = Path.Combine(o.Work, "sweep.yaml");
        File.WriteAllText(spec, text);
        string[] Args(string root) => ["sweep", "run", spec, "--out", root, "--jobs", "2"];
        var refRoot = Path.Combine(o.Work, "sweep-reference");
        if (Directory.Exists(refRoot)) Directory.Delete(refRoot, true);
        var clock = Stopwatch.StartNew();
        var reference = O2o.Start(Args(refRoot), Path.Combine(o.Work, "sweep-reference.log"));
        if (reference.WaitForExit(TimeSpan.FromMinutes(30)) != 0)
            throw new InvalidOperationException($"the reference sweep failed; see {reference.Log}");
        var length = clock.Elapsed;
        log($"reference sweep: {length.TotalSeconds:F0} s");
        var kills = 0;
        for (var round = 1; kills < o.SweepKills; round++)
        {
            var root = Path.Combine(o.Work, $"sweep-round-{round}");
            if (Directory.Exists(root)) Directory.Delete(root, true);
            for (var k = 0; k < 2 && kills < o.SweepKills; k++)
            {
                var child = O2o.Start(Args(root), Path.Combine(o.Work, $"sweep-{round}-{k + 1}.log"));
                // The first kill anywhere in the sweep; the second within what a rerun has left to do.
                var delay = TimeSpan.FromSeconds(0.3) + length * ((k == 0 ? 0.85 : 0.4) * rng.NextDouble());
                Thread.Sleep(delay);
                var running = RunningStages(root);
                var tree = kills % 2 == 1;
                if (!child.Kill(tree))
                {
                    log($"sweep round {round}: it finished before kill {k + 1}");
                    break;
                }
                kills++;
                var stage = running.Count == 0 ? "starting" : string.Join("+", running.Select(r => r.Split('/')[0])
                    .Distinct());
                report.Kills.Add(new KillRecord("sweep", round, k, "sweep", "sweep: " + stage,
                    delay.TotalMilliseconds));
                log($"sweep round {round} kill {k + 1}: +{delay.TotalSeconds:F1} s, "
                    + $"{(tree ? "process tree" : "runner")}, running: "
                    + (running.Count == 0 ? "nothing yet" : string.Join(", ", running)));
                Thread.Sleep(300);
                var finals = Artefacts.FinalFiles(root).Where(f => !f.EndsWith("log.txt", StringComparison.Ordinal));
                foreach (var rel in finals)
                {
                    report.FilesValidated++;
                    if (Artefacts.Validate(Path.Combine(root, rel)) is { } why)
                        report.Failures.Add($"sweep round {round} after kill {k + 1}: {rel} is not whole: {why}");
                }
            }
            var last = O2o.Start(Args(root), Path.Combine(o.Work, $"sweep-{round}-final.log"));
            if (last.WaitForExit(TimeSpan.FromMinutes(30)) != 0)
            {
                report.Failures.Add($"sweep round {round} did not finish after its kills; see {last.Log}");
                continue;
            }
            report.Comparisons++;
            var files = Artefacts.FinalFiles(refRoot).Where(f => f.StartsWith("data/", StringComparison.Ordinal)
                || f.StartsWith("bc/", StringComparison.Ordinal) || f.StartsWith("run/", StringComparison.Ordinal))
                .Where(f => Path.GetExtension(f) is ".csv" or ".hdf5" or ".pt").ToList();
            foreach (var rel in files)
            {
                report.FilesCompared++;
                if (!File.Exists(Path.Combine(root, rel)))
                    report.Failures.Add($"sweep round {round}: {rel} is missing");
                else
                    report.Failures.AddRange(Artefacts.Compare(refRoot, root, rel)
                        .Select(d => $"sweep round {round}: {d}"));
            }
            log($"sweep round {round}: {files.Count} files compared with the uninterrupted sweep");
            report.Leftovers += Artefacts.Leftovers(root).Count;
        }
    }

    static List<string> RunningStages(string root) =>
        !Directory.Exists(root) ? [] :
        [
            .. Directory.GetFiles(root, "status.json", SearchOption.AllDirectories)
                .Where(f => File.ReadAllText(f).Contains("\"running\"", StringComparison.Ordinal))
                .Select(f => Path.GetRelativePath(root, Path.GetDirectoryName(f)!)).Order(StringComparer.Ordinal),
        ];
}

/// <summary>`o2o` as a child process (o2o.dll beside this tool) whose output lines are kept with their times.
/// </summary>
sealed class O2o
{
    readonly Process process;
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly List<(TimeSpan At, string Line)> lines = [];
    readonly StreamWriter logFile;
    int seen;

    O2o(Process p, string log)
    {
        process = p;
        Log = log;
        logFile = new StreamWriter(log) { AutoFlush = true };
    }

    public string Log { get; }
    public int Code => process.ExitCode;

    public List<(TimeSpan At, string Line)> Lines { get { lock (lines) return [.. lines]; } }

    public static O2o Start(IReadOnlyList<string> args, string log)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "o2o.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        var child = new O2o(p, log);
        void On(string? line)
        {
            if (line is null) return;
            lock (child.lines)
            {
                child.lines.Add((child.clock.Elapsed, line));
                child.logFile.WriteLine(line);
            }
        }
        p.OutputDataReceived += (_, e) => On(e.Data);
        p.ErrorDataReceived += (_, e) => On(e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>Wait for a new line matching <paramref name="match"/>; null if the process ends first.</summary>
    public string? WaitFor(Func<string, bool> match, TimeSpan timeout)
    {
        var until = clock.Elapsed + timeout;
        while (clock.Elapsed < until)
        {
            lock (lines)
                for (; seen < lines.Count; seen++)
                    if (match(lines[seen].Line)) { seen++; return lines[seen - 1].Line; }
            if (process.HasExited)
            {
                process.WaitForExit();
                lock (lines)
                    for (; seen < lines.Count; seen++)
                        if (match(lines[seen].Line)) { seen++; return lines[seen - 1].Line; }
                return null;
            }
            Thread.Sleep(5);
        }
        throw new TimeoutException($"no expected line within {timeout}; see {Log}");
    }

    /// <summary>SIGKILL the process (or its whole tree); false if it had ended already.</summary>
    public bool Kill(bool tree = false)
    {
        if (process.HasExited) return false;
        try { process.Kill(entireProcessTree: tree); }
        catch (InvalidOperationException) { return false; }
        process.WaitForExit();
        if (process.ExitCode != 128 + 9) return false;  // it ended by itself just before
        lock (lines) logFile.WriteLine("<<< SIGKILL >>>");
        return true;
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"o2o did not end within {timeout}; see {Log}");
        }
        process.WaitForExit();
        return process.ExitCode;
    }
}
