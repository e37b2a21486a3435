using O2O.Learning.Nn;

namespace O2O.Learning;

/// <summary>A policy that acts in plain C# on raw observations (normalisation, if any, is its own business).</summary>
public interface IPolicy
{
    /// <summary>
    /// Actions for <paramref name="n"/> raw observations; <paramref name="rng"/> null means deterministic. Not
    /// thread-safe: make one per thread.
    /// </summary>
    void Act(ReadOnlySpan<float> obs, int n, Span<float> actions, Rng? rng);
}
