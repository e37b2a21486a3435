using O2O.Core;
using O2O.Learning.Nn;

namespace O2O.Learning.Training;

/// <summary>Adam's moments and step count in a checkpoint, under adam.m.i, adam.v.i and adam.steps.</summary>
public static class AdamState
{
    public static void Write(TrainingState state, AdamOptimizer optimizer, string prefix = "adam.")
    {
        for (var i = 0; i < optimizer.FirstMoments.Count; i++)
        {
            state.AddTensor($"{prefix}m.{i}", optimizer.FirstMoments[i]);
            state.AddTensor($"{prefix}v.{i}", optimizer.SecondMoments[i]);
        }
        state.Add($"{prefix}steps", [optimizer.Steps]);
    }

    public static void Read(TrainingState state, AdamOptimizer optimizer, string prefix = "adam.")
    {
        var n = optimizer.FirstMoments.Count;
        if (!state.Contains($"{prefix}steps") || !state.Contains($"{prefix}m.{n - 1}"))
            throw new UserError("checkpoint lacks the optimiser state; it is damaged or from another architecture");
        optimizer.Load(
            Enumerable.Range(0, n).Select(i => state.Get($"{prefix}m.{i}")).ToArray(),
            Enumerable.Range(0, n).Select(i => state.Get($"{prefix}v.{i}")).ToArray(),
            state.Longs($"{prefix}steps")[0]);
    }
}
