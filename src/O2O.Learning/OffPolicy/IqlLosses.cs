using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Implicit Q-learning's losses (Kostrikov et al. 2022; as in CORL's iql.py) as plain functions of tensors, one
/// value per sample ([B]): the expectile regression of V towards the target critics, the Q regression towards
/// r + γ·V(s'), and advantage-weighted regression of the actor. Every action IQL evaluates is a dataset action.
/// </summary>
public static class IqlLosses
{
    /// <summary>exp(β·A) is clipped here (CORL's EXP_ADV_MAX) so that rare large advantages stay finite.</summary>
    public const double MaxAdvantageWeight = 100.0;

    static readonly Scalar Zero = 0.0, One = 1.0, Half = 0.5, MaxWeight = MaxAdvantageWeight;

    /// <summary>
    /// Expectile regression mean(|τ − 1(u &lt; 0)|·u²) with u = min(Q₁', Q₂')(s, a) − V(s): with
    /// τ &gt; 0.5, V leans towards the upper expectile of Q over the data's actions (τ = 0.7 for locomotion).
    /// </summary>
    public static Tensor ExpectileLoss(Tensor advantage, Scalar expectile)
    {
        using var scope = NewDisposeScope();
        var negative = advantage.lt(Zero).to_type(advantage.dtype);
        var weight = negative.neg().add(expectile, One).abs();
        return (weight * advantage * advantage).mean().MoveToOuterDisposeScope();
    }

    /// <summary>y = r + γ·(1 − terminal)·V(s'); a time limit is not a terminal. SAC's target uses it with its
    /// soft value.</summary>
    public static Tensor QTarget(Tensor rewards, Tensor terminals, Tensor nextValue, Scalar gamma)
    {
        using var scope = NewDisposeScope();
        var notDone = terminals.neg().add(One, One);
        return rewards.add(notDone * nextValue, gamma).MoveToOuterDisposeScope();
    }

    /// <summary>½·(MSE(Q₁, y) + MSE(Q₂, y)), CORL's mean over the two critics.</summary>
    public static Tensor QLoss(Tensor q1, Tensor q2, Tensor target)
    {
        using var scope = NewDisposeScope();
        var e1 = q1 - target;
        var e2 = q2 - target;
        return (e1 * e1).mean().add((e2 * e2).mean(), One).mul(Half).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Advantage-weighted regression mean(min(exp(β·A), 100)·(−log π(a|s))) over dataset actions a, with the
    /// advantage A = min(Q₁', Q₂') − V detached: behaviour cloning that leans towards the better actions.
    /// </summary>
    public static Tensor AwrLoss(Tensor advantage, Tensor logProb, Scalar beta)
    {
        using var scope = NewDisposeScope();
        var weight = advantage.detach().mul(beta).exp().clamp_max(MaxWeight);
        return (weight * logProb.neg()).mean().MoveToOuterDisposeScope();
    }
}
