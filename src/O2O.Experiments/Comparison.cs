using System.Globalization;
using System.Text;
using O2O.Core;

namespace O2O.Experiments;

/// <summary>One variant of an experiment: a name and the CSV logs of its seeds.</summary>
public sealed record VariantRuns(string Name, IReadOnlyList<string> Csvs);

/// <summary>
/// One train-online CSV: the evaluated rows (env steps and the metric), the last dsr/oos_frac if logged, and the
/// env steps of the last row and the step between the last two rows (one epoch), for the finished check.
/// </summary>
public sealed record RunLog(
    string Csv, List<long> Steps, List<double> Scores, double? OosEnd, long LastStep, long EpochSteps)
{
    /// <summary>
    /// A run is finished when one more epoch would exceed the budget (train-online stops there). A shorter log is
    /// an unfinished or crashed run, whose scores would silently pull its variant's figures: a one-line error.
    /// </summary>
    public void CheckFinished(long totalSteps)
    {
        if (LastStep > totalSteps)
            throw new UserError($"log '{Csv}' runs to {LastStep} env steps, beyond --total_steps {totalSteps}; "
                + "pass the budget the runs were trained with");
        if (LastStep + EpochSteps <= totalSteps)
            throw new UserError($"log '{Csv}' stops at {LastStep} of --total_steps {totalSteps} env steps "
                + "(an unfinished or crashed run); finish it (train-online resumes from its checkpoint) "
                + "or leave it out");
    }
}

/// <summary>
/// Compares variants over seeds with method.md's measures — initial dip, final score (mean of the last
/// 10 evaluations), AUC, monotonicity, out-of-support share at the end — each with a 95 % bootstrap
/// interval over seeds, and draws the mean learning curves.
/// </summary>
public static class Comparison
{
    public sealed record Row(string Variant, int Seeds, double Dip, (double Lo, double Hi) DipCi, double Final,
        (double Lo, double Hi) FinalCi, double Auc, (double Lo, double Hi) AucCi, double Monotonicity, double? OosEnd);

    public static IReadOnlyList<Row> Summarise(
        IReadOnlyList<VariantRuns> variants, string metric, double? reference, long? totalSteps)
    {
        var rows = new List<Row>();
        foreach (var v in variants)
        {
            var per = v.Csvs.Select(c => ReadRun(c, metric)).ToList();
            if (totalSteps is long budget)
                foreach (var r in per) r.CheckFinished(budget);
            var metrics = per.Select(r => CurveMetrics.From(r.Scores, r.Steps, totalSteps ?? r.Steps[^1], reference))
                .ToList();
            var oos = per.Select(r => r.OosEnd).Where(x => x is not null).Select(x => x!.Value).ToList();
            double M(Func<CurveMetrics, double> f) => metrics.Average(f);
            (double, double) Ci(Func<CurveMetrics, double> f) => CurveMetrics.BootstrapCi(metrics.Select(f).ToList());
            rows.Add(new Row(v.Name, metrics.Count, M(m => m.Dip), Ci(m => m.Dip), M(m => m.Final), Ci(m => m.Final),
                M(m => m.Auc), Ci(m => m.Auc), M(m => m.Monotonicity), oos.Count == 0 ? null : oos.Average()));
        }
        return rows;
    }

    public static string Markdown(IReadOnlyList<Row> rows, string metric)
    {
        var inv = CultureInfo.InvariantCulture;
        string F(double x) => x.ToString("F1", inv);
        var w = new StringBuilder();
        w.AppendLine("| variant | seeds | initial dip | final (last 10 evals) | AUC | monotonicity "
            + "| out-of-support share at end |");
        w.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string WithCi(double x, (double Lo, double Hi) ci) => $"{F(x)} [{F(ci.Lo)}, {F(ci.Hi)}]";
            var oos = r.OosEnd is double o ? o.ToString("F2", inv) : "–";
            w.AppendLine($"| {r.Variant} | {r.Seeds} | {WithCi(r.Dip, r.DipCi)} | {WithCi(r.Final, r.FinalCi)} "
                + $"| {WithCi(r.Auc, r.AucCi)} | {r.Monotonicity.ToString("F2", inv)} | {oos} |");
        }
        w.AppendLine().AppendLine(
            $"Scores are `{metric}`; brackets are 95 % bootstrap intervals of the mean over seeds.");
        return w.ToString();
    }

    /// <summary>Mean curve of each variant (evaluations aligned by row) as a PNG.</summary>
    public static void Plot(
        string path, string title, IReadOnlyList<VariantRuns> variants, string metric, double? reference)
    {
        var series = new List<CurveSeries>();
        foreach (var v in variants)
        {
            var runs = v.Csvs.Select(c => ReadRun(c, metric)).ToList();
            var n = runs.Min(r => r.Scores.Count);
            series.Add(new CurveSeries($"{v.Name} (mean of {runs.Count})",
                Enumerable.Range(0, n).Select(i => (double)runs[0].Steps[i]).ToList(),
                Enumerable.Range(0, n).Select(i => runs.Average(r => r.Scores[i])).ToList()));
        }
        var referenceLabel = reference is null ? null : "reference (before fine-tuning)";
        LearningCurvePlot.Save(path, title, metric, series, reference, referenceLabel);
    }

    /// <summary>Read one CSV log (see <see cref="RunLog"/>); a missing file, column or number is a one-line error.
    /// </summary>
    public static RunLog ReadRun(string csv, string metric)
    {
        if (!File.Exists(csv)) throw new UserError($"log '{csv}' does not exist");
        var lines = File.ReadAllLines(csv);
        if (lines.Length < 2) throw new UserError($"log '{csv}' has no rows");
        var header = lines[0].Split(',');
        int si = Array.IndexOf(header, "env_steps"), mi = Array.IndexOf(header, metric);
        var oi = Array.IndexOf(header, "dsr/oos_frac");
        if (mi < 0) throw new UserError($"log '{csv}' has no column '{metric}'; columns: {string.Join(", ", header)}");
        if (si < 0) throw new UserError($"log '{csv}' has no column 'env_steps'; is it a train-online CSV?");
        var steps = new List<long>();
        var scores = new List<double>();
        double? oos = null;
        long last = 0, previous = 0;
        var row = 1;
        foreach (var line in lines.Skip(1))
        {
            row++;
            var f = line.Split(',');
            try
            {
                if (oi >= 0 && f.Length > oi && f[oi].Length > 0)
                    oos = double.Parse(f[oi], CultureInfo.InvariantCulture);
                (previous, last) = (last, long.Parse(f[si], CultureInfo.InvariantCulture));
                if (f.Length <= mi || f[mi].Length == 0) continue;
                steps.Add(last);
                scores.Add(double.Parse(f[mi], CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is FormatException or OverflowException or IndexOutOfRangeException)
            {
                throw new UserError($"log '{csv}' line {row} is not a train-online row "
                    + "(a number is missing or malformed); is the file damaged?");
            }
        }
        if (scores.Count == 0) throw new UserError($"log '{csv}' has no evaluated rows in '{metric}'");
        return new RunLog(csv, steps, scores, oos, last, row > 2 ? last - previous : last);
    }
}
