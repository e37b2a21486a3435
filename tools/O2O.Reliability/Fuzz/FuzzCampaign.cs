using System.Diagnostics;
using System.Globalization;
using System.Text;
using O2O.Core;

namespace O2O.Reliability.Fuzz;

/// <summary>Settings of a fuzz campaign.</summary>
/// <param name="Formats">Formats to fuzz (<see cref="FuzzFormat.All"/> names).</param>
/// <param name="Cases">Cases per format.</param>
/// <param name="Seed">Campaign seed: case i of a format is the same input for the same seed.</param>
/// <param name="Work">Scratch folder (seeds, the workers' case files).</param>
/// <param name="Findings">Where the input of every case that is not a clean read or a one-line error is kept.</param>
/// <param name="HangSeconds">A case still running after this long is a hang.</param>
public sealed record FuzzOptions(IReadOnlyList<string> Formats, int Cases, int Seed, string Work, string Findings,
    double HangSeconds = 5);

/// <summary>What happened to one case.</summary>
public sealed record FuzzResult(int Case, string Kind, long Allocated, long PeakRss, double Ms, string Seed,
    string What, string Message);

/// <summary>The figures of one format.</summary>
public sealed class FuzzTally(string format)
{
    public string Format { get; } = format;
    public int Cases { get; set; }
    public int Valid { get; set; }
    public int Errors { get; set; }
    public int Crashes { get; set; }
    public int Hangs { get; set; }
    public int Runaways { get; set; }
    public int MultiLine { get; set; }
    public long MaxAllocated { get; set; }
    public long MaxRss { get; set; }
    public double MaxMs { get; set; }
    public double Seconds { get; set; }
    public List<FuzzResult> Defects { get; } = [];
    public int Bad => Crashes + Hangs + Runaways + MultiLine;

    public void Add(FuzzResult r)
    {
        Cases++;
        switch (r.Kind)
        {
            case "valid": Valid++; break;
            case "error": Errors++; break;
            case "crash": Crashes++; break;
            case "hang": Hangs++; break;
            case "runaway": Runaways++; break;
            case "multiline": MultiLine++; break;
        }
        MaxAllocated = Math.Max(MaxAllocated, r.Allocated);
        MaxRss = Math.Max(MaxRss, r.PeakRss);
        MaxMs = Math.Max(MaxMs, r.Ms);
        if (r.Kind is not ("valid" or "error")) Defects.Add(r);
    }
}

/// <summary>
/// The fuzz campaign (docs/reliability.md): for each format, seeded cases — truncation at every structural boundary
/// of every seed, then 1–3 random mutations of a random seed — each read by the format's reader in a worker process
/// that measures the managed bytes it allocates and its peak resident memory. A case must end in a valid read or a
/// one-line <see cref="UserError"/>: an exception of another type (or a worker that dies) is a crash, a case running
/// past the hang limit is a hang (the worker is killed and restarted after it), an allocation beyond 64 MiB + 64 ×
/// the input's size (or a peak RSS growth beyond 256 MiB + 64 × it) is runaway.
/// </summary>
public static class FuzzCampaign
{
    const long AllocBase = 64L << 20, RssBase = 256L << 20, PerByte = 64;

    public static List<FuzzTally> Run(FuzzOptions o, string repo, Action<string> log)
    {
        var tallies = new List<FuzzTally>();
        foreach (var name in o.Formats)
        {
            var format = Find(name);
            var seedsDir = Path.Combine(o.Work, "seeds", format.Name);
            if (Directory.Exists(seedsDir)) Directory.Delete(seedsDir, true);
            Directory.CreateDirectory(seedsDir);
            format.MakeSeeds(seedsDir, repo);
            var seeds = LoadSeeds(seedsDir);
            var tally = new FuzzTally(format.Name);
            var clock = Stopwatch.StartNew();
            log($"fuzz {format.Name}: {o.Cases} cases from {seeds.Count} seeds ({string.Join(", ", seeds.Select(s =>
                s.Name))}), {Boundaries(format, seeds).Count} structural boundaries");
            var next = 0;
            while (next < o.Cases)
                next = RunWorker(o, format, seedsDir, seeds, next, tally, log);
            tally.Seconds = clock.Elapsed.TotalSeconds;
            log($"fuzz {format.Name}: {tally.Cases} cases, {tally.Valid} valid reads, {tally.Errors} one-line errors, "
                + $"{tally.Crashes} crashes, {tally.Hangs} hangs, {tally.Runaways} runaway allocations, "
                + $"{tally.MultiLine} multi-line errors; max {tally.MaxAllocated >> 20} MiB allocated, "
                + $"{tally.MaxMs:F0} ms ({tally.Seconds:F0} s)");
            tallies.Add(tally);
        }
        return tallies;
    }

    public static FuzzFormat Find(string name) => FuzzFormat.All.FirstOrDefault(f => f.Name == name)
        ?? throw new UserError(
            $"unknown format '{name}'; known: {string.Join(", ", FuzzFormat.All.Select(f => f.Name))}");

    /// <summary>Run cases from <paramref name="from"/> in one worker until it ends; returns the next case to run.
    /// </summary>
    static int RunWorker(FuzzOptions o, FuzzFormat format, string seedsDir, IReadOnlyList<FuzzSeed> seeds, int from,
        FuzzTally tally, Action<string> log)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "o2o-reliability.dll"), "fuzz-worker",
            format.Name, seedsDir, Str(o.Seed), Str(from), Str(o.Cases), Path.Combine(o.Work, "cases") })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var lines = new System.Collections.Concurrent.BlockingCollection<string?>();
        var err = new StringBuilder();
        p.OutputDataReceived += (_, e) => lines.Add(e.Data);
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (err) err.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        int? current = null;
        var started = Stopwatch.StartNew();
        var next = from;
        while (true)
        {
            var limit = current is null ? TimeSpan.FromSeconds(120) : TimeSpan.FromSeconds(o.HangSeconds);
            var left = limit - started.Elapsed;
            if (!lines.TryTake(out var line, left > TimeSpan.Zero ? left : TimeSpan.Zero))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                if (current is not int hung)
                    throw new InvalidOperationException("the fuzz worker did not start: " + err);
                Record(o, format, seeds, tally, new FuzzResult(hung, "hang", 0, 0, limit.TotalMilliseconds, "", "",
                    $"still running after {o.HangSeconds} s"), log);
                return hung + 1;
            }
            if (line is null)
            {
                p.WaitForExit();
                if (current is int died)
                {
                    Record(o, format, seeds, tally, new FuzzResult(died, "crash", 0, 0,
                        started.Elapsed.TotalMilliseconds, "", "",
                        $"the worker died (exit {p.ExitCode}): {Last(err.ToString())}"), log);
                    return died + 1;
                }
                if (next < o.Cases)
                    throw new InvalidOperationException(
                        $"the fuzz worker ended at case {next} (exit {p.ExitCode}): {err}");
                return next;
            }
            if (line.StartsWith("> ", StringComparison.Ordinal))
            {
                current = int.Parse(line[2..], CultureInfo.InvariantCulture);
                started.Restart();
                continue;
            }
            if (!line.StartsWith("= ", StringComparison.Ordinal)) continue;
            var f = line[2..].Split('\t');
            var r = new FuzzResult(int.Parse(f[0], CultureInfo.InvariantCulture), f[1], long.Parse(f[2],
                CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4],
                CultureInfo.InvariantCulture), f[5], f[6], f[7]);
            Record(o, format, seeds, tally, r, log);
            current = null;
            next = r.Case + 1;
            started.Restart();
        }
    }

    static string Last(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0)
        ?? "";

    static void Record(FuzzOptions o, FuzzFormat format, IReadOnlyList<FuzzSeed> seeds, FuzzTally tally,
        FuzzResult r, Action<string> log)
    {
        if (r.Kind is "valid" or "error") { tally.Add(r); return; }
        var (seed, files, what) = MakeCase(format, seeds, o.Seed, r.Case);
        r = r with { Seed = seed.Name, What = what };
        tally.Add(r);
        var dir = Path.Combine(o.Findings, format.Name, $"case-{r.Case:00000}");
        WriteCase(dir, files);
        File.WriteAllText(Path.Combine(dir, "case.txt"),
            $"format {format.Name}, seed {o.Seed}, case {r.Case}\nkind {r.Kind}\nfrom seed {seed.Name}: {what}\n"
            + $"allocated {r.Allocated} bytes, peak RSS +{r.PeakRss} bytes, {r.Ms:F0} ms\n{r.Message}\n");
        log($"  {r.Kind.ToUpperInvariant()} {format.Name} case {r.Case} ({seed.Name}: {what}): {r.Message}");
    }

    public static IReadOnlyList<FuzzSeed> LoadSeeds(string dir) =>
    [
        .. Directory.GetDirectories(dir).Order(StringComparer.Ordinal).Select(d => new FuzzSeed(Path.GetFileName(d),
            Directory.GetFiles(d, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToDictionary(
                f => Path.GetRelativePath(d, f).Replace('\\', '/'), File.ReadAllBytes))),
    ];

    /// <summary>Every (seed, offset) truncation point, round-robin over the seeds.</summary>
    static List<(int Seed, int At)> Boundaries(FuzzFormat f, IReadOnlyList<FuzzSeed> seeds)
    {
        var per = seeds.Select(s => f.Boundaries(s.Files[f.MainFile])).ToList();
        var list = new List<(int, int)>();
        for (var k = 0; k < per.Max(b => b.Count); k++)
            for (var s = 0; s < seeds.Count; s++)
                if (k < per[s].Count) list.Add((s, per[s][k]));
        return list;
    }

    static readonly Dictionary<(string, int), List<(int, int)>> BoundaryCache = [];

    /// <summary>
    /// Case <paramref name="i"/>: even cases walk the truncation points while they last; the others (and the even
    /// ones after) apply 1–3 of the format's mutations to a seed chosen at random.
    /// </summary>
    public static (FuzzSeed Seed, Dictionary<string, byte[]> Files, string What) MakeCase(FuzzFormat f,
        IReadOnlyList<FuzzSeed> seeds, int campaignSeed, int i)
    {
        List<(int Seed, int At)> cuts;
        lock (BoundaryCache)
            if (!BoundaryCache.TryGetValue((f.Name, seeds.Count), out cuts!))
                BoundaryCache[(f.Name, seeds.Count)] = cuts = Boundaries(f, seeds);
        if (i % 2 == 0 && i / 2 < cuts.Count)
        {
            var (s, at) = cuts[i / 2];
            var (cut, w) = Mutations.Truncate(seeds[s].Files[f.MainFile], at);
            return (seeds[s], new Dictionary<string, byte[]>(seeds[s].Files) { [f.MainFile] = cut }, w);
        }
        var r = new Random(unchecked(campaignSeed * 1_000_003 + Hash(f.Name) * 7919 + i));
        var seed = seeds[r.Next(seeds.Count)];
        var n = r.Next(4) == 0 ? 2 + r.Next(2) : 1;
        var files = new Dictionary<string, byte[]>(seed.Files);
        var what = new List<string>();
        for (var k = 0; k < n; k++)
        {
            string w;
            try
            {
                (files, w) = f.Mutate(seed with { Files = files }, r);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException)
            {
                // An earlier mutation broke the container the format's own mutations take apart: damage bytes.
                byte[] b;
                (b, w) = Mutations.Any(files[f.MainFile], r, [], [], []);
                files = new Dictionary<string, byte[]>(files) { [f.MainFile] = b };
            }
            what.Add(w);
        }
        return (seed, files, string.Join("; ", what));
    }

    static int Hash(string s)
    {
        var h = 2166136261u;
        foreach (var c in s) h = (h ^ c) * 16777619u;
        return (int)(h & 0x7fffffff);
    }

    public static void WriteCase(string dir, IReadOnlyDictionary<string, byte[]> files)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        foreach (var (rel, bytes) in files)
        {
            var path = Path.Combine(dir, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
        }
        Directory.CreateDirectory(dir);
    }

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The worker: reads cases [from, to) of one format and prints "&gt; i" before and a result line after each.
    /// Seeds are read once first (JIT, libtorch), so that the hang limit counts the case alone.
    /// </summary>
    public static int Worker(string[] args)
    {
        var format = Find(args[0]);
        var seeds = LoadSeeds(args[1]);
        int seed = int.Parse(args[2], CultureInfo.InvariantCulture), from = int.Parse(args[3],
            CultureInfo.InvariantCulture), to = int.Parse(args[4], CultureInfo.InvariantCulture);
        var root = Path.Combine(args[5], $"w{Environment.ProcessId}");
        try
        {
            foreach (var s in seeds)
            {
                var dir = Path.Combine(root, "warm");
                WriteCase(dir, s.Files);
                try { format.Read(Path.Combine(dir, format.MainFile), s.Name); }
                catch (UserError) { }  // a seed that is refused on purpose (pickled objects, wrong dtypes)
            }
            var stdout = Console.Out;
            for (var i = from; i < to; i++)
            {
                var (s, files, _) = MakeCase(format, seeds, seed, i);
                var dir = Path.Combine(root, "case");
                WriteCase(dir, files);
                var size = files.Values.Sum(b => (long)b.Length);
                stdout.WriteLine($"> {i}");
                stdout.Flush();
                var (kind, alloc, rss, ms, message) = Measure(() => format.Read(Path.Combine(dir, format.MainFile),
                    s.Name));
                var runaway = alloc > AllocBase + PerByte * size || rss > RssBase + PerByte * size;
                if (kind is "valid" or "error" && runaway)
                    (kind, message) = ("runaway", $"{alloc} bytes allocated, peak RSS +{rss} for a {size}-byte input; "
                        + message);
                stdout.WriteLine(string.Join('\t', "= " + Str(i), kind, alloc.ToString(CultureInfo.InvariantCulture),
                    rss.ToString(CultureInfo.InvariantCulture), ms.ToString("F1", CultureInfo.InvariantCulture),
                    s.Name, "", Clean(message)));
                stdout.Flush();
            }
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
        return 0;
    }

    static string Clean(string s) => s.Replace('\t', ' ').Replace("\r", "\\r").Replace("\n", "\\n");

    static (string Kind, long Alloc, long Rss, double Ms, string Message) Measure(Func<string> read)
    {
        ResetPeakRss();
        var rss0 = Rss("VmRSS:");
        var before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        string kind, message;
        try
        {
            message = read();
            kind = "valid";
        }
        catch (UserError e)
        {
            message = e.Message;
            kind = e.Message.Contains('\n') ? "multiline" : "error";
        }
#pragma warning disable CA1031  // the point: every other exception is a defect to report
        catch (Exception e)
#pragma warning restore CA1031
        {
            var at = e.StackTrace?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("at O2O",
                StringComparison.Ordinal)) ?? e.StackTrace?.Split('\n')[0].Trim();
            message = $"{e.GetType().Name}: {e.Message} [{at}]";
            kind = "crash";
        }
        var ms = clock.Elapsed.TotalMilliseconds;
        var alloc = GC.GetAllocatedBytesForCurrentThread() - before;
        var rss = Math.Max(0, Rss("VmHWM:") - rss0);
        return (kind, alloc, rss, ms, message);
    }

    /// <summary>Reset the peak resident set (VmHWM) to the current one (Linux: "5" into /proc/self/clear_refs).
    /// </summary>
    static void ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    static long Rss(string field)
    {
        foreach (var l in File.ReadLines("/proc/self/status"))
            if (l.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(l[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }

    /// <summary>The campaign's figures as a markdown table.</summary>
    public static string Table(IReadOnlyList<FuzzTally> tallies)
    {
        var w = new StringBuilder();
        w.AppendLine("| format | cases | valid reads | one-line errors | crashes | hangs (> 5 s) | runaway allocations "
            + "| multi-line errors | max allocated | slowest case |");
        w.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var t in tallies)
            w.AppendLine(CultureInfo.InvariantCulture, $"| {t.Format} | {t.Cases} | {t.Valid} | {t.Errors} "
                + $"| {t.Crashes} | {t.Hangs} | {t.Runaways} | {t.MultiLine} | {t.MaxAllocated / 1048576.0:F1} MiB "
                + $"| {t.MaxMs:F0} ms |");
        return w.ToString();
    }
}
