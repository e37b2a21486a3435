using System.Globalization;
using O2O.Core;
using O2O.Reliability.Fuzz;
using O2O.Reliability.Kill;

namespace O2O.Reliability;

/// <summary>
/// The reliability campaigns of issue 17 (docs/reliability.md has the commands and the figures):
///   o2o-reliability kill [--rounds N] [--seed S] [--work DIR] [--sweep-kills N]
///   o2o-reliability fuzz [--formats a,b] [--cases N] [--seed S] [--work DIR] [--findings DIR]
/// scripts/reliability/*.sh build the tool and run them niced.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            return args.FirstOrDefault() switch
            {
                "fuzz" => Fuzz(Options(args[1..])),
                "fuzz-worker" => FuzzCampaign.Worker(args[1..]),
                "fuzz-read" => FuzzRead(args[1..]),
                "kill" => Kill(Options(args[1..])),
                _ => Usage(),
            };
        }
        catch (UserError e)
        {
            Console.Error.WriteLine($"o2o-reliability: error: {e.Message}");
            return 2;
        }
    }

    static int Usage()
    {
        Console.Error.WriteLine("usage: o2o-reliability kill [--rounds N] [--seed S] [--work DIR] [--sweep-kills N]");
        Console.Error.WriteLine("       o2o-reliability fuzz [--formats "
            + string.Join(',', FuzzFormat.All.Select(f => f.Name)) + "] [--cases N] [--seed S] [--work DIR] "
            + "[--findings DIR]");
        return 2;
    }

    static Dictionary<string, string> Options(string[] args)
    {
        var o = new Dictionary<string, string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new UserError($"expected --name value, got '{args[i]}'");
            o[args[i][2..]] = args[++i];
        }
        return o;
    }

    static int Int(Dictionary<string, string> o, string name, int fallback) =>
        o.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    static string Work(Dictionary<string, string> o, string what) => Path.GetFullPath(o.GetValueOrDefault("work")
        ?? Path.Combine(Path.GetTempPath(), $"o2o-{what}-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));

    /// <summary>The repository (for fixtures and experiments/), found above this program.</summary>
    public static string Repo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "experiments", "tiny.yaml"))
                && Directory.Exists(Path.Combine(d.FullName, "tests", "fixtures")))
                return d.FullName;
        throw new UserError("the repository (experiments/tiny.yaml, tests/fixtures) is not above "
            + AppContext.BaseDirectory);
    }

    static void Log(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
    }

    static int Fuzz(Dictionary<string, string> o)
    {
        var work = Work(o, "fuzz");
        var formats = o.TryGetValue("formats", out var f) ? f.Split(',') : [.. FuzzFormat.All.Select(x => x.Name)];
        var options = new FuzzOptions(formats, Int(o, "cases", 10_000), Int(o, "seed", 1), work,
            o.GetValueOrDefault("findings") ?? Path.Combine(work, "findings"));
        Log($"fuzz campaign: seed {options.Seed}, {options.Cases} cases per format, work {work}");
        var tallies = FuzzCampaign.Run(options, Repo(), Log);
        Log("");
        Log(FuzzCampaign.Table(tallies));
        var bad = tallies.Sum(t => t.Bad);
        if (bad > 0) Log($"{bad} defect(s); their inputs are in {options.Findings}");
        return bad == 0 ? 0 : 1;
    }

    /// <summary>Read one file as a format does (a finding's input), printing the whole exception: for debugging.
    /// </summary>
    static int FuzzRead(string[] args)
    {
        var format = FuzzCampaign.Find(args[0]);
        var before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            Log("valid: " + format.Read(args[1], args.Length > 2 ? args[2] : "state-dict"));
        }
        catch (Exception e)
        {
            Log(e.ToString());
        }
        Log($"allocated {GC.GetAllocatedBytesForCurrentThread() - before} bytes");
        return 0;
    }

    static int Kill(Dictionary<string, string> o)
    {
        var work = Work(o, "kill");
        var options = new KillOptions(Int(o, "rounds", 6), Int(o, "seed", 1), work, Int(o, "sweep-kills", 8));
        var report = KillCampaign.Run(options, Log);
        Log("");
        Log(report.Table());
        return report.Failures.Count == 0 ? 0 : 1;
    }
}
