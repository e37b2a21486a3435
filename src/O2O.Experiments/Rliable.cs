namespace O2O.Experiments;

/// <summary>
/// The aggregate statistics of rliable (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"):
/// interquartile mean, stratified bootstrap percentile intervals, probability of improvement. Scores are given
/// per task, each a list of runs: <c>scores[task][run]</c>; tasks may have different numbers of runs.
/// </summary>
public static class Rliable
{
    /// <summary>
    /// Interquartile mean of all scores pooled: the mean of what is left after cutting floor(0.25 n) of the sorted
    /// scores from each end (scipy.stats.trim_mean(x, 0.25), as rliable computes it).
    /// </summary>
    public static double Iqm(IEnumerable<double> scores)
    {
        var s = scores.Order().ToArray();
        if (s.Length == 0) return double.NaN;
        var cut = (int)(0.25 * s.Length);
        return s[cut..(s.Length - cut)].Average();
    }

    /// <summary>The IQM over every task's runs pooled.</summary>
    public static double Iqm(IReadOnlyList<IReadOnlyList<double>> scores) => Iqm(scores.SelectMany(x => x));

    /// <summary>The mean over every task's runs pooled.</summary>
    public static double Mean(IReadOnlyList<IReadOnlyList<double>> scores) => scores.SelectMany(x => x).Average();

    /// <summary>The <paramref name="q"/>-th percentile (0–100) with linear interpolation (numpy's default).</summary>
    public static double Percentile(IReadOnlyList<double> xs, double q)
    {
        var s = xs.Order().ToArray();
        var pos = q / 100 * (s.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (pos - lo) * (s[hi] - s[lo]);
    }

    /// <summary>
    /// Stratified bootstrap resamples: for each of <paramref name="reps"/> replicates and each task, as many run
    /// indices as the task has runs, drawn with replacement within the task (seeded, reproducible).
    /// <c>result[rep][task][i]</c>.
    /// </summary>
    public static int[][][] Resamples(IReadOnlyList<int> runsPerTask, int reps, int seed)
    {
        var rng = new Random(seed);
        var r = new int[reps][][];
        for (var b = 0; b < reps; b++)
        {
            r[b] = new int[runsPerTask.Count][];
            for (var t = 0; t < runsPerTask.Count; t++)
            {
                r[b][t] = new int[runsPerTask[t]];
                for (var i = 0; i < runsPerTask[t]; i++) r[b][t][i] = rng.Next(runsPerTask[t]);
            }
        }
        return r;
    }

    /// <summary>The scores of one resample.</summary>
    public static IReadOnlyList<IReadOnlyList<double>> Take(IReadOnlyList<IReadOnlyList<double>> scores, int[][] idx) =>
        scores.Select((runs, t) => (IReadOnlyList<double>)idx[t].Select(i => runs[i]).ToArray()).ToList();

    /// <summary>
    /// Percentile 95 % interval of <paramref name="statistic"/> over stratified bootstrap resamples: the 2.5th and
    /// 97.5th percentiles of the statistic of each resample.
    /// </summary>
    public static (double Lo, double Hi) Interval(IReadOnlyList<IReadOnlyList<double>> scores,
        Func<IReadOnlyList<IReadOnlyList<double>>, double> statistic, int[][][] resamples)
    {
        var stats = resamples.Select(idx => statistic(Take(scores, idx))).ToArray();
        return (Percentile(stats, 2.5), Percentile(stats, 97.5));
    }

    /// <summary>Stratified bootstrap interval with seeded resamples.</summary>
    public static (double Lo, double Hi) Interval(IReadOnlyList<IReadOnlyList<double>> scores,
        Func<IReadOnlyList<IReadOnlyList<double>>, double> statistic, int reps = 2000, int seed = 0) =>
        Interval(scores, statistic, Resamples(scores.Select(s => s.Count).ToList(), reps, seed));

    /// <summary>
    /// P(X > Y): for each task the Mann–Whitney statistic — the share of pairs (x run, y run) with x &gt; y, ties
    /// counting one half — averaged over the tasks both have.
    /// </summary>
    public static double ProbabilityOfImprovement(IReadOnlyList<IReadOnlyList<double>> x,
        IReadOnlyList<IReadOnlyList<double>> y)
    {
        if (x.Count != y.Count) throw new ArgumentException("X and Y need the same tasks");
        double total = 0;
        for (var t = 0; t < x.Count; t++)
        {
            double s = 0;
            foreach (var a in x[t])
                foreach (var b in y[t])
                    s += a > b ? 1 : a == b ? 0.5 : 0;
            total += s / (x[t].Count * y[t].Count);
        }
        return total / x.Count;
    }

    /// <summary>Interval of P(X > Y): X and Y resampled independently, each stratified by task.</summary>
    public static (double Lo, double Hi) ProbabilityOfImprovementInterval(IReadOnlyList<IReadOnlyList<double>> x,
        IReadOnlyList<IReadOnlyList<double>> y, int[][][] resamplesX, int[][][] resamplesY)
    {
        var stats = resamplesX.Select((rx, b) => ProbabilityOfImprovement(Take(x, rx), Take(y, resamplesY[b])))
            .ToArray();
        return (Percentile(stats, 2.5), Percentile(stats, 97.5));
    }

    /// <summary>Interval of P(X > Y) with seeded resamples (Y's seed follows X's).</summary>
    public static (double Lo, double Hi) ProbabilityOfImprovementInterval(IReadOnlyList<IReadOnlyList<double>> x,
        IReadOnlyList<IReadOnlyList<double>> y, int reps = 2000, int seed = 0) =>
        ProbabilityOfImprovementInterval(x, y, Resamples(x.Select(s => s.Count).ToList(), reps, seed),
            Resamples(y.Select(s => s.Count).ToList(), reps, seed + 1));
}
