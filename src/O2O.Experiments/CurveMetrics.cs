namespace O2O.Experiments;

/// <summary>
/// The seed's claim, measured on one learning curve of evaluated scores (method.md, "What works means"):
/// initial dip, final score, area under the curve, monotonicity.
/// </summary>
public sealed record CurveMetrics(
    double Start, double Min, double Final, double Best, double Dip, double Auc, double Monotonicity)
{
    /// <summary>
    /// <paramref name="scores"/> in evaluation order, <paramref name="steps"/> their env steps,
    /// <paramref name="reference"/> the score before fine-tuning (e.g. BC's); null uses the first evaluation.
    /// Dip = reference − min over the first <paramref name="dipFrac"/> of the budget (0 if never below);
    /// final = mean of the last <paramref name="lastK"/> evaluations; AUC = mean of all; monotonicity =
    /// fraction of evaluations at least (best so far − <paramref name="tolerance"/>).
    /// </summary>
    public static CurveMetrics From(IReadOnlyList<double> scores, IReadOnlyList<long> steps, long totalSteps,
        double? reference = null, double dipFrac = 0.2, int lastK = 10, double tolerance = 5)
    {
        if (scores.Count == 0) throw new ArgumentException("no evaluations to summarise");
        var start = reference ?? scores[0];
        var early = Enumerable.Range(0, scores.Count).Where(i => steps[i] <= dipFrac * totalSteps)
            .Select(i => scores[i]).ToList();
        var min = early.Count > 0 ? early.Min() : scores[0];
        var dip = Math.Max(0, start - min);
        var final = scores.Skip(Math.Max(0, scores.Count - lastK)).Average();
        var best = double.NegativeInfinity;
        var ok = 0;
        foreach (var s in scores)
        {
            best = Math.Max(best, s);
            if (s >= best - tolerance) ok++;
        }
        return new CurveMetrics(start, min, final, scores.Max(), dip, scores.Average(), (double)ok / scores.Count);
    }

    /// <summary>Percentile bootstrap 95 % confidence interval of the mean of <paramref name="xs"/>.</summary>
    public static (double Lo, double Hi) BootstrapCi(IReadOnlyList<double> xs, int resamples = 2000, int seed = 0)
    {
        if (xs.Count == 0) return (double.NaN, double.NaN);
        var rng = new Random(seed);
        var means = new double[resamples];
        for (var b = 0; b < resamples; b++)
        {
            double s = 0;
            for (var i = 0; i < xs.Count; i++) s += xs[rng.Next(xs.Count)];
            means[b] = s / xs.Count;
        }
        Array.Sort(means);
        return (means[(int)(0.025 * (resamples - 1))], means[(int)(0.975 * (resamples - 1))]);
    }
}
