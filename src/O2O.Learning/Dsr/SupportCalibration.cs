namespace O2O.Learning.Dsr;

/// <summary>
/// Maps a raw score g to sigma = logistic(clip((g − tau)/T, ±30)) with tau = q_rho and T = (q_0.5 − tau)/ln 19
/// of held-out scores: sigma is 0.95 at the held-out median, 0.5 at tau and falls towards 0 outside.
/// </summary>
public sealed record SupportCalibration
{
    /// <summary>Quantile levels stored for reports.</summary>
    public static readonly double[] Levels = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99];

    /// <summary>Clip of the logistic's argument: raw scores can be −1e9 far outside the data.</summary>
    public const double Clip = 30.0;

    /// <summary>
    /// Odds sigma / (1 − sigma) at the held-out median: 19, so that sigma is 0.95 there
    /// (T = (q_0.5 − tau) / ln 19).
    /// </summary>
    internal const double MedianOdds = 19.0;

    /// <summary>Floor of T relative to 1 + |tau|, for held-out scores that are all (nearly) equal.</summary>
    internal const double MinRelativeTemperature = 1e-6;

    /// <summary>Boundary quantile level rho.</summary>
    public required double Rho { get; init; }

    /// <summary>tau = q_rho of held-out scores: sigma is 0.5 here.</summary>
    public required double Tau { get; init; }

    /// <summary>
    /// T = (q_0.5 − tau) / ln 19 (floored at a tiny positive value when held-out scores are all equal).
    /// </summary>
    public required double Temperature { get; init; }

    /// <summary>Held-out score quantiles at <see cref="Levels"/>.</summary>
    public required double[] Quantiles { get; init; }

    /// <summary>Number of held-out scores the quantiles come from.</summary>
    public required int Count { get; init; }

    /// <summary>Calibrate on held-out raw scores (non-finite scores are treated as the lowest possible).</summary>
    public static SupportCalibration FromScores(ReadOnlySpan<float> scores, double rho)
    {
        if (scores.Length == 0) throw new ArgumentException("no held-out scores to calibrate on", nameof(scores));
        var sorted = new double[scores.Length];
        for (var i = 0; i < scores.Length; i++)
            sorted[i] = float.IsFinite(scores[i]) ? scores[i]
                : float.IsPositiveInfinity(scores[i]) ? float.MaxValue : float.MinValue;
        Array.Sort(sorted);
        var tau = Quantile(sorted, rho);
        var median = Quantile(sorted, 0.5);
        var t = (median - tau) / Math.Log(MedianOdds);
        var floor = MinRelativeTemperature * (1.0 + Math.Abs(tau));
        if (!(t > floor)) t = floor;
        return new SupportCalibration
        {
            Rho = rho,
            Tau = tau,
            Temperature = t,
            Quantiles = Levels.Select(p => Quantile(sorted, p)).ToArray(),
            Count = sorted.Length,
        };
    }

    /// <summary>Linear-interpolation quantile (type 7, numpy's default) of sorted values.</summary>
    public static double Quantile(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.Length == 1) return sorted[0];
        var h = (sorted.Length - 1) * Math.Clamp(p, 0.0, 1.0);
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>
    /// sigma(g); <paramref name="temper"/> multiplies T (1 = the plain calibration). NaN scores give the minimum.
    /// </summary>
    public double Sigma(double g, double temper = 1.0)
    {
        var u = (g - Tau) / (Temperature * temper);
        if (double.IsNaN(u)) u = -Clip;
        u = Math.Clamp(u, -Clip, Clip);
        return 1.0 / (1.0 + Math.Exp(-u));
    }
}

/// <summary>Area under the ROC curve by the Mann–Whitney U statistic, ties counted one half.</summary>
public static class Auroc
{
    /// <summary>P(score of a positive &gt; score of a negative) + ½ P(equal). NaN sorts lowest.</summary>
    public static double Compute(ReadOnlySpan<float> positives, ReadOnlySpan<float> negatives)
    {
        int np = positives.Length, nn = negatives.Length;
        if (np == 0 || nn == 0) throw new ArgumentException("AUROC needs at least one positive and one negative");
        var all = new (double Score, bool Positive)[np + nn];
        for (var i = 0; i < np; i++) all[i] = (Key(positives[i]), true);
        for (var i = 0; i < nn; i++) all[np + i] = (Key(negatives[i]), false);
        Array.Sort(all, (x, y) => x.Score.CompareTo(y.Score));
        // Average ranks (1-based) over runs of equal scores.
        double rankSumPos = 0;
        var k = 0;
        while (k < all.Length)
        {
            var end = k;
            while (end + 1 < all.Length && all[end + 1].Score == all[k].Score) end++;
            var avgRank = 0.5 * (k + 1 + end + 1);
            for (var j = k; j <= end; j++) if (all[j].Positive) rankSumPos += avgRank;
            k = end + 1;
        }
        var u = rankSumPos - np * (np + 1.0) / 2.0;
        return u / ((double)np * nn);
    }

    static double Key(float v) => float.IsNaN(v) ? double.NegativeInfinity : v;
}
