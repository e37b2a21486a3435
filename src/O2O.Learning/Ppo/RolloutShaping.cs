namespace O2O.Learning.Ppo;

/// <summary>What a shaper changed in one rollout, and what to log about it.</summary>
/// <param name="CriticPenalty">Per-sample weights w for a critic regulariser + coef·E[w·V(s)], or null.</param>
/// <param name="CriticPenaltyCoef">The coefficient of that regulariser this epoch.</param>
/// <param name="Metrics">CSV columns (e.g. "dsr/support_mean") and their values.</param>
public sealed record ShapingOutcome(
    float[]? CriticPenalty, double CriticPenaltyCoef, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// A hook between rollout and update: sees the raw observations and executed (clipped) actions of a
/// whole rollout and may change its environment rewards in place before reward scaling and GAE.
/// This is how the DSR plugs into PPO without touching the update loop. The logged score stays the
/// raw environment return.
/// </summary>
public interface IRolloutShaper
{
    /// <summary>Names of the metric columns this shaper reports (stable across epochs).</summary>
    IReadOnlyList<string> MetricNames { get; }

    /// <summary>State that must survive a resume (e.g. an auto-scaled coefficient), as numbers.</summary>
    double[] SaveState();

    /// <summary>Restore what <see cref="SaveState"/> returned.</summary>
    void LoadState(double[] state);

    /// <summary>Shape <paramref name="rewards"/> of <paramref name="count"/> samples in place.</summary>
    ShapingOutcome Shape(ReadOnlySpan<float> obs, ReadOnlySpan<float> actions, Span<float> rewards, int count,
        long envStepsDone, long totalSteps);
}
