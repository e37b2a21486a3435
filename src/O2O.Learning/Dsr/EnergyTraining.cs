using System.Globalization;
using O2O.Core;
using O2O.Learning.Nn;
using TorchSharp;
using static O2O.Learning.Nn.TensorOps;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>InfoNCE training of the joint and state energy networks against synthetic negatives.</summary>
internal static class EnergyTraining
{
    /// <summary>
    /// Rows per held-out evaluation pass, to bound the memory of (1 + K) negatives per pair. Each pass draws its
    /// negatives from libtorch's generator, so a new size changes every later random draw, hence the trained model.
    /// </summary>
    internal const int HeldOutChunkRows = 2048;

    /// <summary>Negative families of the joint model: uniform, Gaussian, mismatched, state-perturbed.</summary>
    const int NegativeFamilies = 4;

    /// <summary>Stds of the Gaussian action negatives (actions in [−1, 1]): near, medium and far ones.</summary>
    static readonly float[] ActionNoiseScales = [0.1f, 0.3f, 1f];

    /// <summary>Stds (in dataset std, states are z-scored) of the joint model's state-perturbed negatives.</summary>
    static readonly float[] JointStateNoiseScales = [0.5f, 1f, 2f];

    /// <summary>Stds of the state model's perturbed states: finer than the joint's, down to a quarter std.</summary>
    static readonly float[] StateModelNoiseScales = [0.25f, 0.5f, 1f, 2f];

    /// <summary>Fewest negatives per state of the state model (half the joint's, at least 2).</summary>
    const int MinStateNegatives = 2;

    // Static scalars: TorchSharp frees implicitly converted scalars in the finalizer, possibly mid-call.
    /// <summary>
    /// Weight of the pull of data energies towards 0: InfoNCE is shift-invariant, and a small pull keeps the
    /// tanh-bounded part away from saturation without shaping the ranking.
    /// </summary>
    static readonly Scalar RegCoef = 1e-4;

    /// <summary>Loss and ranking accuracies of one batch (scalar tensors).</summary>
    internal readonly record struct EnergyResult(Tensor Loss, Tensor AccuracyJoint, Tensor AccuracyState);

    /// <summary>
    /// Fit both energy networks together on z-scored states and raw actions; logs the train loss and the held-out
    /// loss and ranking accuracy.
    /// </summary>
    internal static void Train(SupportModel model, DsrOptions options, Tensor zTrain, Tensor aTrain, Tensor zHeld,
        Tensor aHeld, Action<string>? log)
    {
        double sumLoss = 0;
        long steps = 0;
        MinibatchTraining.Run(options, [[.. model.TrainableParameters()]], [zTrain, aTrain], rows =>
        [
            () =>
            {
                var r = EnergyBatch(model, options, rows[0], rows[1]);
                sumLoss += r.Loss.item<float>();
                steps++;
                return r.Loss;
            },
        ], (epoch, elapsed) =>
        {
            var (heldLoss, accJ, accS) = EnergyHeldOut(model, options, zHeld, aHeld);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"dsr epoch {epoch}/{options.Epochs}: train loss {sumLoss / Math.Max(1, steps):F4}"
                + $" | held-out loss {heldLoss:F4}, ranking accuracy joint {accJ:F3} state {accS:F3}"
                + $" {elapsed.TotalSeconds:F2}s"));
            if (!double.IsFinite(sumLoss))
                throw new OptionError("DSR energy training diverged (non-finite loss); lower LearningRate",
                    nameof(DsrOptions.LearningRate));
            sumLoss = 0;
            steps = 0;
        }, log);
    }

    /// <summary>
    /// InfoNCE: each data pair against K negatives — uniform actions in the box, Gaussian action perturbations
    /// (<see cref="ActionNoiseScales"/>; clipped to the box), mismatched actions of other pairs, states perturbed by
    /// <see cref="JointStateNoiseScales"/> — and each state against K/2 perturbed states
    /// (<see cref="StateModelNoiseScales"/>) for the state model.
    /// </summary>
    internal static EnergyResult EnergyBatch(SupportModel model, DsrOptions options, Tensor zs, Tensor a)
    {
        using var scope = NewDisposeScope();
        long b = zs.shape[0], ds = zs.shape[1], da = a.shape[1];
        var k = options.EnergyNegatives;
        int kU = k / NegativeFamilies, kG = k / NegativeFamilies, kM = k / NegativeFamilies;
        var kS = k - 3 * (k / NegativeFamilies); // the state-perturbed family takes the remainder
        var uni = rand(b, kU, da).mul(Two).sub(One);
        var gScales = Cycle(ActionNoiseScales, kG);
        var gauss = a.unsqueeze(1).Plus(randn(b, kG, da) * gScales).clamp(MinusOne, One);
        var mis = a.index_select(0, randint(0, b, [b * kM])).view(b, kM, da);
        var actNeg = cat([uni, gauss, mis], 1);
        var kA = kU + kG + kM;
        var negActionPairs = cat([zs.unsqueeze(1).expand(b, kA, ds), actNeg], 2);
        var sScales = Cycle(JointStateNoiseScales, kS);
        var negStates = zs.unsqueeze(1).Plus(randn(b, kS, ds) * sScales);
        var negStatePairs = cat([negStates, a.unsqueeze(1).expand(b, kS, da)], 2);
        var pos = cat([zs, a], 1).unsqueeze(1);
        var all = cat([pos, negActionPairs, negStatePairs], 1);
        var eJ = model.JointNet.forward(all.view(-1, ds + da)).view(b, 1 + k);
        var logitsJ = -eJ;
        var target = zeros(b, dtype: ScalarType.Int64);
        var lossJ = nn.functional.cross_entropy(logitsJ, target);

        var ks = Math.Max(MinStateNegatives, k / 2);
        var stateScales = Cycle(StateModelNoiseScales, ks);
        var allS = cat([zs.unsqueeze(1), zs.unsqueeze(1).Plus(randn(b, ks, ds) * stateScales)], 1);
        var eS = model.StateNet.forward(allS.view(-1, ds)).view(b, 1 + ks);
        var logitsS = -eS;
        var lossS = nn.functional.cross_entropy(logitsS, target);
        var ej0 = eJ.select(1, 0);
        var es0 = eS.select(1, 0);
        var reg = (ej0 * ej0).mean().Plus((es0 * es0).mean()).mul(RegCoef);
        var loss = lossJ.Plus(lossS).Plus(reg);
        var accJ = (logitsJ.narrow(1, 0, 1) > logitsJ.narrow(1, 1, k)).to_type(ScalarType.Float32).mean();
        var accS = (logitsS.narrow(1, 0, 1) > logitsS.narrow(1, 1, ks)).to_type(ScalarType.Float32).mean();
        return new EnergyResult(loss.MoveToOuterDisposeScope(), accJ.MoveToOuterDisposeScope(),
            accS.MoveToOuterDisposeScope());
    }

    /// <summary>1 × count × 1 tensor of <paramref name="scales"/> repeated in turn, one per negative.</summary>
    static Tensor Cycle(float[] scales, int count) =>
        tensor(Enumerable.Range(0, count).Select(i => scales[i % scales.Length]).ToArray()).view(1, count, 1);

    /// <summary>Held-out InfoNCE loss and pairwise ranking accuracy (data pair scored above a negative).</summary>
    internal static (double Loss, double AccJoint, double AccState) EnergyHeldOut(SupportModel model,
        DsrOptions options, Tensor zHeld, Tensor aHeld)
    {
        using var _ = no_grad();
        double loss = 0, accJ = 0, accS = 0;
        var n = zHeld.shape[0];
        for (long start = 0; start < n; start += HeldOutChunkRows)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(HeldOutChunkRows, n - start);
            var r = EnergyBatch(model, options, zHeld.narrow(0, start, len), aHeld.narrow(0, start, len));
            loss += r.Loss.item<float>() * len;
            accJ += r.AccuracyJoint.item<float>() * len;
            accS += r.AccuracyState.item<float>() * len;
        }
        return (loss / n, accJ / n, accS / n);
    }
}
