namespace O2O.Learning.Nn;

/// <summary>
/// Running mean/variance (Chan et al.'s parallel update, as in Gymnasium's RunningMeanStd) used to
/// normalise observations: (x − mean) / sqrt(var + eps), clipped to ±clip. Kept in doubles, outside torch.
/// </summary>
public sealed class RunningNorm
{
    public RunningNorm(int dim, double epsilon = 1e-8, double clip = 10.0)
    {
        Dim = dim;
        Mean = new double[dim];
        Var = new double[dim];
        Array.Fill(Var, 1.0);
        Count = 1e-4;
        Epsilon = epsilon;
        Clip = clip;
    }

    public int Dim { get; }
    public double[] Mean { get; }
    public double[] Var { get; }
    public double Count { get; private set; }
    public double Epsilon { get; }
    public double Clip { get; }
    /// <summary>
    /// When true, <see cref="Update"/> does nothing (statistics frozen, e.g. from an offline dataset).
    /// </summary>
    public bool Frozen { get; set; }

    /// <summary>Fold a batch of <paramref name="n"/> rows (row-major, width Dim) into the statistics.</summary>
    public void Update(ReadOnlySpan<float> rows, int n)
    {
        if (Frozen || n == 0) return;
        Span<double> bm = stackalloc double[Dim];
        Span<double> bv = stackalloc double[Dim];
        for (var r = 0; r < n; r++)
            for (var j = 0; j < Dim; j++) bm[j] += rows[r * Dim + j];
        for (var j = 0; j < Dim; j++) bm[j] /= n;
        for (var r = 0; r < n; r++)
            for (var j = 0; j < Dim; j++) { var d = rows[r * Dim + j] - bm[j]; bv[j] += d * d; }
        for (var j = 0; j < Dim; j++) bv[j] /= n;
        Merge(bm, bv, n);
    }

    void Merge(ReadOnlySpan<double> bMean, ReadOnlySpan<double> bVar, double bCount)
    {
        var tot = Count + bCount;
        for (var j = 0; j < Dim; j++)
        {
            var delta = bMean[j] - Mean[j];
            var m2 = Var[j] * Count + bVar[j] * bCount + delta * delta * Count * bCount / tot;
            Mean[j] += delta * bCount / tot;
            Var[j] = m2 / tot;
        }
        Count = tot;
    }

    /// <summary>Normalise <paramref name="n"/> rows from <paramref name="src"/> into <paramref name="dst"/>.</summary>
    public void Normalize(ReadOnlySpan<float> src, Span<float> dst, int n)
    {
        for (var r = 0; r < n; r++)
            for (var j = 0; j < Dim; j++)
            {
                var v = (src[r * Dim + j] - Mean[j]) / Math.Sqrt(Var[j] + Epsilon);
                dst[r * Dim + j] = (float)Math.Clamp(v, -Clip, Clip);
            }
    }

    /// <summary>Replace the statistics (e.g. from a checkpoint or a dataset).</summary>
    public void Set(ReadOnlySpan<double> mean, ReadOnlySpan<double> var, double count)
    {
        if (mean.Length != Dim || var.Length != Dim)
            throw new ArgumentException($"normaliser has {Dim} dims, got {mean.Length}/{var.Length}");
        mean.CopyTo(Mean);
        var.CopyTo(Var);
        Count = count;
    }
}

/// <summary>
/// Scales rewards by the running std of the discounted return (Gymnasium's NormalizeReward): the
/// return accumulator is reset at episode ends; rewards are divided, not centred, then clipped.
/// </summary>
public sealed class RewardScaler(int numEnvs, double gamma, double epsilon = 1e-8, double clip = 10.0)
{
    readonly double[] discountedReturns = new double[numEnvs];
    readonly RunningNorm stats = new(1);

    /// <summary>Running variance of the discounted return.</summary>
    public RunningNorm Stats => stats;
    /// <summary>Per-env discounted return accumulators.</summary>
    public double[] Returns => discountedReturns;
    /// <summary>What rewards are divided by at the next step before its update: √(running variance + ε).</summary>
    public double Std => Math.Sqrt(stats.Var[0] + epsilon);

    /// <summary>
    /// Scale rewards in place for one vector step; <paramref name="done"/> resets accumulators after use.
    /// </summary>
    public void Scale(Span<float> rewards, ReadOnlySpan<bool> done)
    {
        Span<float> r = stackalloc float[rewards.Length];
        for (var i = 0; i < rewards.Length; i++)
        {
            discountedReturns[i] = discountedReturns[i] * gamma + rewards[i];
            r[i] = (float)discountedReturns[i];
        }
        stats.Update(r, rewards.Length);
        var std = Math.Sqrt(stats.Var[0] + epsilon);
        for (var i = 0; i < rewards.Length; i++)
        {
            rewards[i] = (float)Math.Clamp(rewards[i] / std, -clip, clip);
            if (done[i]) discountedReturns[i] = 0;
        }
    }
}
