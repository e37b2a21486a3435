using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// The conservative term of CQL (Kumar et al. 2020, the CQL(H) variant with importance-sampled actions, as CORL's
/// cql.py) and Cal-QL's calibration (Nakamoto et al. 2023), as plain functions: the learner calls them, the tests
/// check them against PyTorch.
/// </summary>
public static class CqlLosses
{
    static readonly Scalar One = 1.0;

    /// <summary>
    /// For one critic, mean over the batch of τ·logsumexp(x/τ) − Q(s, a_data), where x gathers, for each state s,
    /// N uniform actions Q(s, a_u) − log(0.5^|A|), N actions of the policy at the next state
    /// Q(s, a') − log π(a'|s')
    /// and N of the policy at s, Q(s, a) − log π(a|s) (the log-densities importance-correct the sampling). Pushing
    /// it down lowers Q where the policy and chance look and raises it at the data's actions. With
    /// <paramref name="lowerBound"/> (Cal-QL), the policy actions' Q values are first raised to at least the
    /// behaviour data's Monte-Carlo return: Q is not pushed below the value of the policy that collected the data.
    /// Shapes: Q and log π of sampled actions [B, N], <paramref name="qData"/> and the bound [B].
    /// </summary>
    public static Tensor ConservativeGap(Tensor qRandom, Tensor qNext, Tensor qCurrent, Tensor logProbNext,
        Tensor logProbCurrent, Tensor qData, Tensor? lowerBound, int actDim, double temperature)
    {
        using var scope = NewDisposeScope();
        if (lowerBound is not null)
        {
            var bound = lowerBound.unsqueeze(1);
            qNext = maximum(qNext, bound);
            qCurrent = maximum(qCurrent, bound);
        }
        using Scalar randomDensity = actDim * Math.Log(0.5), temp = temperature;
        var x = cat([qRandom - randomDensity, qNext - logProbNext, qCurrent - logProbCurrent], 1);
        var ood = (x / temp).logsumexp(1) * temp;
        return (ood - qData).mean().MoveToOuterDisposeScope();
    }
}
