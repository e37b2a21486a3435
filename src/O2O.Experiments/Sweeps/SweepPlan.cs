using System.Text;
using System.Text.RegularExpressions;
using O2O.Core;

namespace O2O.Experiments.Sweeps;

/// <summary>
/// One job of a sweep: a stage at one point of its axes. <see cref="Id"/> is "STAGE/KEY" and names its folder
/// under the sweep's; <see cref="Index"/> is its place in the stage (the Slurm array index). The command is
/// template-expanded except {threads}, which the backend decides (<see cref="Argv"/>).
/// </summary>
public sealed record SweepJob(string Stage, int Index, string Key, string Dir,
    IReadOnlyDictionary<string, string> Values, IReadOnlyList<string> Template, IReadOnlyList<string> Needs,
    string? ResumePath, string? ResultPath)
{
    public string Id => $"{Stage}/{Key}";

    public string StatusPath => Path.Combine(Dir, "status.json");

    public string LogPath => Path.Combine(Dir, "log.txt");

    /// <summary>The command line with <paramref name="threads"/> libtorch threads per job.</summary>
    public IReadOnlyList<string> Argv(int threads) =>
        Template.Select(t => t.Replace("{threads}", threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
            StringComparison.Ordinal)).ToList();

    /// <summary>The command as one shell-quoted line (for logs, dry runs and status files).</summary>
    public string CommandLine(int threads) => SweepPlan.Quote(Argv(threads));
}

/// <summary>The grid of a spec expanded into jobs, in dependency order, with each job's folder under a root.</summary>
public sealed class SweepPlan
{
    static readonly Regex Placeholder = new(@"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_-]*))?\}");

    SweepPlan(SweepSpec spec, string root, List<SweepJob> jobs)
    {
        Spec = spec;
        Root = root;
        Jobs = jobs;
    }

    public SweepSpec Spec { get; }

    /// <summary>The sweep's folder (absolute).</summary>
    public string Root { get; }

    /// <summary>Every job, stages in dependency order.</summary>
    public IReadOnlyList<SweepJob> Jobs { get; }

    public SweepJob Job(string id) => Jobs.First(j => j.Id == id);

    /// <summary>Expand <paramref name="spec"/> into jobs under <paramref name="root"/>.</summary>
    public static SweepPlan Expand(SweepSpec spec, string root)
    {
        root = Path.GetFullPath(root);
        var jobs = new List<SweepJob>();
        var byStage = new Dictionary<string, List<SweepJob>>();
        foreach (var stage in spec.Stages)
        {
            var list = new List<SweepJob>();
            foreach (var point in Points(spec, stage.Per))
            {
                var values = new Dictionary<string, string>(spec.Vars);
                if (point.TryGetValue("arm", out var armName))
                    foreach (var (k, v) in spec.Arms.First(a => a.Name == armName).Vars) values[k] = v;
                foreach (var (k, v) in point) values[k] = v;
                var key = point.Count == 0 ? "all" : string.Join("_", stage.Per.Select(a => a switch
                {
                    "task" or "arm" => point[a],
                    "seed" => "s" + point[a],
                    _ => a + point[a],
                }));
                var dir = Path.Combine(root, stage.Name, key);
                var needs = new List<string>();
                var outs = new Dictionary<string, string>();
                foreach (var need in stage.Needs)
                {
                    var matching = byStage[need].Where(j => Matches(spec, need, j, values))
                        .ToList();
                    needs.AddRange(matching.Select(j => j.Id));
                    if (matching.Count == 1) outs[need] = matching[0].Dir;
                }
                values["out"] = dir;
                values["dir"] = root;
                values["job"] = $"{stage.Name}/{key}";
                values["name"] = spec.Name;
                var arm = point.TryGetValue("arm", out var an) ? spec.Arms.First(a => a.Name == an) : null;
                string Sub(string template) => Placeholder.Replace(template, m =>
                {
                    var ph = m.Groups[1].Value;
                    if (m.Groups[2].Success)
                    {
                        var st = m.Groups[2].Value;
                        return outs.TryGetValue(st, out var o) ? o : throw new UserError(
                            $"{stage.Place}: job {stage.Name}/{key}: '{m.Value}' matches "
                            + $"{byStage[st].Count(j => needs.Contains(j.Id))} jobs of stage '{st}', not one; run "
                            + $"'{st}' per fewer axes or set the axis it runs per in this job's vars");
                    }
                    if (ph == "threads") return m.Value;
                    if (ph == "args") return arm?.Args ?? "";
                    return values.TryGetValue(ph, out var v) ? v : throw new UserError(
                        $"{stage.Place}: job {stage.Name}/{key}: placeholder '{m.Value}' has no value here (it is an "
                        + "axis this stage does not run per); add it to per: or to vars:");
                });
                var template = arm?.Command ?? stage.Command;
                var argv = new List<string>();
                foreach (var token in Tokenize(template, stage.Place))
                    if (token == "{args}") argv.AddRange(Tokenize(Sub(arm?.Args ?? ""), stage.Place));
                    else argv.Add(Sub(token));
                var job = new SweepJob(stage.Name, list.Count, key, dir, values, argv, needs,
                    stage.Resume is null ? null : Sub(stage.Resume), stage.Result is null ? null : Sub(stage.Result));
                list.Add(job);
            }
            byStage[stage.Name] = list;
            jobs.AddRange(list);
        }
        return new SweepPlan(spec, root, jobs);
    }

    /// <summary>A job of stage <paramref name="need"/> is needed when it agrees on every axis it runs per that the
    /// dependent job has a value for (an axis the dependent knows nothing of matches every value).</summary>
    static bool Matches(SweepSpec spec, string need, SweepJob j, Dictionary<string, string> values) =>
        spec.Stages.First(s => s.Name == need).Per.All(a => !values.TryGetValue(a, out var v) || j.Values[a] == v);

    static IEnumerable<Dictionary<string, string>> Points(SweepSpec spec, IReadOnlyList<string> axes)
    {
        IEnumerable<Dictionary<string, string>> points = [new Dictionary<string, string>()];
        foreach (var axis in axes)
            points = points.SelectMany(p => spec.Values(axis).Select(v => new Dictionary<string, string>(p)
            {
                [axis] = v,
            }));
        return points;
    }

    /// <summary>Split a command into words: whitespace separates, single or double quotes group.</summary>
    public static List<string> Tokenize(string command, SpecPlace place)
    {
        var words = new List<string>();
        var cur = new StringBuilder();
        var any = false;
        char quote = '\0';
        foreach (var c in command)
        {
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else cur.Append(c);
            }
            else if (c is '\'' or '"') { quote = c; any = true; }
            else if (char.IsWhiteSpace(c))
            {
                if (any) words.Add(cur.ToString());
                cur.Clear();
                any = false;
            }
            else { cur.Append(c); any = true; }
        }
        if (quote != '\0')
            throw new UserError($"{place}: command has an unclosed {quote} quote: {command.ReplaceLineEndings(" ")}");
        if (any) words.Add(cur.ToString());
        return words;
    }

    /// <summary>Words as one line a POSIX shell reads back into the same words.</summary>
    public static string Quote(IEnumerable<string> argv) => string.Join(' ', argv.Select(a =>
        a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? a
            : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
}
