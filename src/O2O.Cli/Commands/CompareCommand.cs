using O2O.Core;
using O2O.Experiments;

namespace O2O.Cli.Commands;

/// <summary>`o2o compare`: dip, final score, AUC, monotonicity over seeds per variant, and a learning-curve plot.
/// </summary>
public static class CompareCommand
{
    public static readonly CommandSpec Spec = new(
        "compare",
        "compare variants over seeds (initial dip, final, AUC, monotonicity, 95 % CIs) and plot their mean curves",
        [
            new("variant", "NAME=a.csv,b.csv,… (several variants with ';' between them: "
                + "'naive=x.csv,y.csv;dsr=z.csv')", Required: true),
            new("metric", "CSV column to compare", "eval/normalized"),
            new("reference", "score before fine-tuning (e.g. BC's), for the dip")
                { DefaultNote = "each run's first evaluation" },
            new("total_steps", "budget of the runs (for the first-20 % window)")
                { DefaultNote = "the last logged step" },
            new("out", "write the table (markdown) here too"),
            new("plot", "write the mean learning curves (PNG) here"),
            new("title", "plot title", "learning curves"),
            new("report", "write a report here: report.md (per-run metrics with stratified bootstrap intervals, IQM, "
                + "probability of improvement) and a PNG of curves with 95 % bands per task"),
            new("baseline", "with --report: the variant the others are compared with (probability of improvement)"),
            ReportFlags.Flag(nameof(ReportOptions.Resamples), "with --report: bootstrap resamples", min: 100,
                max: 1_000_000),
            ReportFlags.Flag(nameof(ReportOptions.Seed), "with --report: bootstrap seed"),
        ],
        Execute);

    /// <summary>The task of a run: the env id in the options JSON train-online writes beside its CSV, else "all".
    /// </summary>
    static string TaskOf(string csv)
    {
        var json = Path.ChangeExtension(csv, ".json");
        try
        {
            if (File.Exists(json) && System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json)) is
                System.Text.Json.Nodes.JsonObject o && (o["EnvId"] ?? o["env_id"]) is { } env)
                return env.GetValue<string>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or IOException) { }
        return "all";
    }

    const StringSplitOptions Parts = StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries;

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var variants = a.RequiredString("variant").Split(';', Parts).Select(v =>
        {
            var eq = v.IndexOf('=');
            if (eq <= 0 || eq == v.Length - 1) throw new UsageError($"--variant '{v}' must look like NAME=a.csv,b.csv");
            return new VariantRuns(v[..eq], v[(eq + 1)..].Split(',', Parts));
        }).ToList();
        var metric = a.RequiredString("metric");
        double? reference = a.Has("reference") ? a.Double("reference") : null;
        long? total = a.Has("total_steps") ? a.Long("total_steps", 1) : null;
        var rows = Comparison.Summarise(variants, metric, reference, total);
        var md = Comparison.Markdown(rows, metric);
        ctx.Out.Write(md);
        if (a.String("out") is { } outPath) AtomicFile.WriteText(outPath, md);
        if (a.String("report") is { } dir)
        {
            var report = variants.Select(v => new ReportVariant(v.Name, v.Csvs.Select(c => new TaskRun(TaskOf(c), c))
                .ToList())).ToList();
            if (a.String("baseline") is { } b && variants.All(v => v.Name != b))
                throw new UsageError($"--baseline '{b}' is no variant; variants: "
                    + string.Join(", ", variants.Select(v => v.Name)));
            ComparisonReport.Write(dir, report, ReportFlags.Apply(a, new ReportOptions(metric, reference, total,
                a.String("baseline"), a.RequiredString("title"))));
            ctx.Log($"report: {Path.Combine(dir, "report.md")}");
        }
        else if (a.Has("baseline"))
            throw new UsageError("--baseline needs --report DIR (the probability of improvement is in the report)");
        if (a.String("plot") is { } plot)
        {
            Comparison.Plot(plot, a.RequiredString("title"), variants, metric, reference);
            ctx.Log($"plot: {plot}");
        }
        return 0;
    }
}
