using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Ppo;

/// <summary>
/// The scalars of one PPO update, alive for the whole update: TorchSharp frees implicitly converted scalars
/// in the finalizer, which can run while libtorch still reads them (README, "Scalars in TorchSharp").
/// </summary>
public sealed class PpoCoefficients(double clip, double vfCoef, double entCoef, double penaltyCoef) : IDisposable
{
    /// <summary>Added to the advantages' std before dividing (CleanRL's 1e-8).</summary>
    public const double AdvantageEpsilon = 1e-8;

    public Scalar One { get; } = 1.0;
    public Scalar Half { get; } = 0.5;
    public Scalar Eps { get; } = AdvantageEpsilon;
    public Scalar RatioLow { get; } = 1 - clip;
    public Scalar RatioHigh { get; } = 1 + clip;
    public Scalar ClipLow { get; } = -clip;
    public Scalar ClipHigh { get; } = clip;
    public Scalar ValueCoef { get; } = vfCoef;
    public Scalar EntropyCoef { get; } = entCoef;
    public Scalar PenaltyCoef { get; } = penaltyCoef;

    public void Dispose()
    {
        Scalar[] all = [One, Half, Eps, RatioLow, RatioHigh, ClipLow, ClipHigh, ValueCoef, EntropyCoef, PenaltyCoef];
        foreach (var s in all) s.Dispose();
    }
}

/// <summary>
/// PPO's losses (Schulman et al. 2017, as in CleanRL's ppo_continuous_action) as plain functions of tensors:
/// the trainer calls them and the tests check them against PyTorch. Shapes: one value per sample, [B].
/// </summary>
public static class PpoLosses
{
    /// <summary>(A − mean A) / (std A + ε), per minibatch; std is the unbiased one, as torch.std.</summary>
    public static Tensor NormalizeAdvantages(Tensor advantages, PpoCoefficients k) =>
        (advantages - advantages.mean()) / advantages.std().add(k.Eps, k.One);

    /// <summary>Clipped surrogate: mean of max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)), ρ = π_new / π_old.
    /// </summary>
    public static Tensor ClippedSurrogate(Tensor advantages, Tensor ratio, PpoCoefficients k) =>
        max(-advantages * ratio, -advantages * ratio.clamp(k.RatioLow, k.RatioHigh)).mean();

    /// <summary>
    /// ½·mean((V − R)²); with <paramref name="oldValues"/>, the pessimistic max with the value clipped to
    /// V_old ± ε (CleanRL's clip_vloss).
    /// </summary>
    public static Tensor ValueLoss(Tensor values, Tensor returns, Tensor? oldValues, PpoCoefficients k)
    {
        var e1 = values - returns;
        if (oldValues is null) return (e1 * e1).mean().mul(k.Half);
        var clipped = oldValues.add((values - oldValues).clamp(k.ClipLow, k.ClipHigh), k.One);
        var e2 = clipped - returns;
        return max(e1 * e1, e2 * e2).mean().mul(k.Half);
    }

    /// <summary>
    /// Policy loss − c_ent·entropy + c_v·value loss; the value loss alone while the actor is frozen (critic
    /// warm-up). <paramref name="penalty"/> adds c_pen·mean(w·V) (the DSR's value pessimism) when given.
    /// </summary>
    public static Tensor Total(Tensor policyLoss, Tensor valueLoss, Tensor entropyMean, bool actorFrozen,
        PpoCoefficients k, Tensor? penalty = null)
    {
        var loss = actorFrozen
            ? valueLoss.mul(k.ValueCoef)
            : (policyLoss - entropyMean.mul(k.EntropyCoef)).add(valueLoss.mul(k.ValueCoef), k.One);
        return penalty is null ? loss : loss.add(penalty.mean().mul(k.PenaltyCoef), k.One);
    }

    /// <summary>Schulman's low-variance KL estimate mean((ρ − 1) − log ρ).</summary>
    public static Tensor ApproxKl(Tensor ratio, Tensor logRatio, PpoCoefficients k) =>
        (ratio.sub(k.One) - logRatio).mean();

    /// <summary>Fraction of samples whose ratio left [1 − ε, 1 + ε].</summary>
    public static Tensor ClipFraction(Tensor ratio, PpoCoefficients k) =>
        ratio.sub(k.One).abs().gt(k.ClipHigh).to_type(ScalarType.Float32).mean();

    /// <summary>1 − Var(target − prediction) / Var(target); NaN when the target is constant.</summary>
    public static double ExplainedVariance(ReadOnlySpan<float> prediction, ReadOnlySpan<float> target)
    {
        double meanTarget = 0, meanResidual = 0;
        for (var i = 0; i < target.Length; i++) { meanTarget += target[i]; meanResidual += target[i] - prediction[i]; }
        meanTarget /= target.Length;
        meanResidual /= target.Length;
        double varTarget = 0, varResidual = 0;
        for (var i = 0; i < target.Length; i++)
        {
            varTarget += (target[i] - meanTarget) * (target[i] - meanTarget);
            var d = target[i] - prediction[i] - meanResidual;
            varResidual += d * d;
        }
        return varTarget == 0 ? double.NaN : 1 - varResidual / varTarget;
    }
}
