using O2O.Learning.Nn;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.Training;

/// <summary>The guarded pieces of a learner's update: a step only on a finite loss, and a finiteness check.</summary>
public static class GradientStep
{
    /// <summary>Back-propagate <paramref name="loss"/> and step <paramref name="optimizer"/>; false (and no step)
    /// when the loss is not finite, so the harness can roll the epoch back.</summary>
    public static bool TryStep(Tensor loss, AdamOptimizer optimizer)
    {
        if (!float.IsFinite(loss.item<float>())) return false;
        optimizer.ZeroGrad();
        loss.backward();
        optimizer.Step();
        return true;
    }

    /// <summary>True when every parameter is finite.</summary>
    public static bool AllFinite(IEnumerable<Parameter> parameters)
    {
        foreach (var p in parameters)
            using (var bad = p.isfinite().logical_not().any())
                if (bad.item<bool>()) return false;
        return true;
    }
}
