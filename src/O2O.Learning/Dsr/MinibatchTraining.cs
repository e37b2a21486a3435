using System.Diagnostics;
using O2O.Learning.Nn;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>The epoch loop flow and energy training share: shuffled minibatches, Adam, a clipped gradient.</summary>
internal static class MinibatchTraining
{
    /// <summary>
    /// Gradient-norm clip of every DSR update. Loose on purpose: it only catches a rare exploding step (a log-det or
    /// energy blowing up on a few points) and leaves normal steps alone, so it is a guard, not a regulariser.
    /// </summary>
    internal const double GradientClipNorm = 100.0;

    /// <summary>
    /// Each epoch draws one permutation of the <paramref name="pairs"/> training rows (libtorch's generator) and
    /// takes Adam steps on minibatches of options.BatchSize rows; the last partial batch is dropped, so every step
    /// sees the same number of pairs. <paramref name="batchLoss"/> maps a batch's row indices to its loss;
    /// <paramref name="endOfEpoch"/> gets the epoch (1-based) and its duration, for the held-out report.
    /// </summary>
    internal static void Run(SupportModel model, DsrOptions options, long pairs, Func<Tensor, Tensor> batchLoss,
        Action<int, TimeSpan> endOfEpoch)
    {
        var parameters = model.TrainableParameters().ToArray();
        using var optimizer = new AdamOptimizer(parameters, options.LearningRate);
        var batch = (int)Math.Min(options.BatchSize, pairs);
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var stopwatch = Stopwatch.StartNew();
            using var permutation = randperm(pairs);
            for (long start = 0; start + batch <= pairs; start += batch)
            {
                using var scope = NewDisposeScope();
                var loss = batchLoss(permutation.narrow(0, start, batch));
                optimizer.ZeroGrad();
                loss.backward();
                AdamOptimizer.ClipGradNorm(parameters, GradientClipNorm);
                optimizer.Step();
            }
            endOfEpoch(epoch, stopwatch.Elapsed);
        }
    }
}
