using System.Diagnostics;
using O2O.Core;
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
    /// Each epoch draws one permutation of the training rows (libtorch's generator), gathers every tensor of
    /// <paramref name="data"/> (rows × …, the same rows) in that order once, and takes Adam steps on consecutive
    /// slices of options.BatchSize rows: the same minibatches as indexing each one by its slice of the permutation,
    /// without a per-batch gather. The last partial batch is dropped, so every step sees the same number of pairs.
    /// <paramref name="batchLoss"/> maps a batch (one slice per data tensor) to its loss; <paramref name="endOfEpoch"/>
    /// gets the epoch (1-based) and its duration, for the held-out report. A status line shows the progress.
    /// </summary>
    internal static void Run(SupportModel model, DsrOptions options, Tensor[] data, Func<Tensor[], Tensor> batchLoss,
        Action<int, TimeSpan> endOfEpoch, Action<string>? log)
    {
        var parameters = model.TrainableParameters().ToArray();
        using var optimizer = new AdamOptimizer(parameters, options.LearningRate);
        var pairs = data[0].shape[0];
        var batch = (int)Math.Min(options.BatchSize, pairs);
        var perEpoch = pairs / batch;
        var progress = new PhaseProgress(log, "dsr", (double)options.Epochs * perEpoch, "batches");
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var stopwatch = Stopwatch.StartNew();
            using (var epochScope = NewDisposeScope())
            {
                var permutation = randperm(pairs);
                var shuffled = data.Select(d => d.index_select(0, permutation)).ToArray();
                var slices = new Tensor[shuffled.Length];
                long done = 0;
                for (long start = 0; start + batch <= pairs; start += batch)
                {
                    using var scope = NewDisposeScope();
                    for (var i = 0; i < slices.Length; i++) slices[i] = shuffled[i].narrow(0, start, batch);
                    var loss = batchLoss(slices);
                    optimizer.ZeroGrad();
                    loss.backward();
                    AdamOptimizer.ClipGradNorm(parameters, GradientClipNorm);
                    optimizer.Step();
                    progress.Report((epoch - 1) * perEpoch + ++done, $"epoch {epoch}/{options.Epochs}");
                }
            }
            endOfEpoch(epoch, stopwatch.Elapsed);
        }
    }
}
