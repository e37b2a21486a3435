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
        ],
        Execute);

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
        if (a.String("plot") is { } plot)
        {
            Comparison.Plot(plot, a.RequiredString("title"), variants, metric, reference);
            ctx.Log($"plot: {plot}");
        }
        return 0;
    }
}
