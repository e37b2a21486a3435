using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Soft actor-critic's losses (Haarnoja et al. 2018; as in CleanRL's sac_continuous_action.py) as plain functions
/// of tensors, one value per sample ([B]): the learner calls them, the tests check them against PyTorch.
/// </summary>
public static class SacLosses
{
    static readonly Scalar One = 1.0;

    /// <summary>
    /// The soft Bellman target y = r + γ·(1 − terminal)·(min(Q₁', Q₂')(s', a') − α·log π(a'|s')),
    /// a' ~ π(·|s').
    /// A time limit is not a terminal: the target bootstraps through it.
    /// </summary>
    public static Tensor CriticTarget(Tensor rewards, Tensor terminals, Tensor nextQ1, Tensor nextQ2,
        Tensor nextLogProb, Tensor alpha, Scalar gamma)
    {
        using var scope = NewDisposeScope();
        var soft = minimum(nextQ1, nextQ2) - alpha * nextLogProb;
        return IqlLosses.QTarget(rewards, terminals, soft, gamma).MoveToOuterDisposeScope();
    }

    /// <summary>MSE(Q₁, y) + MSE(Q₂, y), the twin critics' loss (y carries no gradient).</summary>
    public static Tensor CriticLoss(Tensor q1, Tensor q2, Tensor target)
    {
        using var scope = NewDisposeScope();
        var e1 = q1 - target;
        var e2 = q2 - target;
        return (e1 * e1).mean().add((e2 * e2).mean(), One).MoveToOuterDisposeScope();
    }

    /// <summary>mean(α·log π(a|s) − min(Q₁, Q₂)(s, a)) for a ~ π(·|s), reparameterised.</summary>
    public static Tensor ActorLoss(Tensor logProb, Tensor q1, Tensor q2, Tensor alpha)
    {
        using var scope = NewDisposeScope();
        return (alpha * logProb - minimum(q1, q2)).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The temperature's loss mean(−α·(log π(a|s) + H̄)), α = exp(log α), the log-probabilities detached;
    /// its gradient raises α while the policy's entropy is below the target H̄ (−|A| by default).
    /// </summary>
    public static Tensor TemperatureLoss(Tensor logAlpha, Tensor logProb, Scalar targetEntropy)
    {
        using var scope = NewDisposeScope();
        return (logAlpha.exp().neg() * logProb.detach().add(targetEntropy, One)).mean().MoveToOuterDisposeScope();
    }

    /// <summary>Polyak averaging θ' ← (1 − τ)·θ' + τ·θ, in place, without gradients.</summary>
    public static void SoftUpdate(nn.Module target, nn.Module source, Scalar keep, Scalar tau)
    {
        using var _ = no_grad();
        var src = source.parameters().ToArray();
        var dst = target.parameters().ToArray();
        for (var i = 0; i < dst.Length; i++) dst[i].mul_(keep).add_(src[i], tau);
    }
}
