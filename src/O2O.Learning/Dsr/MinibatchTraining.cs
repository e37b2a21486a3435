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
    /// <paramref name="batchParts"/> maps a batch (one slice per data tensor) to its loss in independent parts, one
    /// per parameter group of <paramref name="groups"/> (the joint flow's, the state flow's): the step's gradient is
    /// that of their sum, clipped by the global norm over every group. With options.TorchThreads ≥ 2 the groups run
    /// concurrently, one thread each — loss, backward pass, their share of the norm, Adam — every operation on its
    /// calling thread: the same kernels on the same data as on one thread, so the model does not depend on the count.
    /// <paramref name="endOfEpoch"/> gets the epoch (1-based) and its duration, for the held-out report. A status line
    /// shows the progress.
    /// </summary>
    internal static void Run(DsrOptions options, TorchSharp.Modules.Parameter[][] groups, Tensor[] data,
        Func<Tensor[], Func<Tensor>[]> batchParts, Action<int, TimeSpan> endOfEpoch, Action<string>? log)
    {
        var optimizers = groups.Select(g => new AdamOptimizer(g, options.LearningRate)).ToArray();
        var concurrent = options.TorchThreads >= 2 && groups.Length > 1;
        // The groups share the threads: each runs its operations on its own thread (FixedThreads).
        var intraOp = concurrent ? Math.Max(1, options.TorchThreads / groups.Length) : options.TorchThreads;
        using var threads = concurrent ? new Runtime.FixedThreads(groups.Length, intraOp) : null;
        var previous = get_num_threads();
        set_num_threads(intraOp);
        try
        {
            var pairs = data[0].shape[0];
            var batch = (int)Math.Min(options.BatchSize, pairs);
            var perEpoch = pairs / batch;
            var progress = new PhaseProgress(log, "dsr", (double)options.Epochs * perEpoch, "batches");
            void Each(Action<int> work)
            {
                if (threads is not null) threads.Run(work);
                else for (var i = 0; i < groups.Length; i++) work(i);
            }
            var squares = new Tensor[groups.Length][];
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
                        var parts = batchParts(slices);
                        Each(i =>
                        {
                            optimizers[i].ZeroGrad();
                            using (var partScope = NewDisposeScope()) parts[i]().backward();
                            squares[i] = AdamOptimizer.SquaredNorms(groups[i]);
                        });
                        AdamOptimizer.ClipGradNorm(groups.SelectMany(g => g), squares.SelectMany(q => q),
                            GradientClipNorm);
                        foreach (var q in squares.SelectMany(q => q)) q.Dispose();
                        Each(i => optimizers[i].Step());
                        progress.Report((epoch - 1) * perEpoch + ++done, $"epoch {epoch}/{options.Epochs}");
                    }
                }
                endOfEpoch(epoch, stopwatch.Elapsed);
            }
        }
        finally
        {
            set_num_threads(previous);
            foreach (var o in optimizers) o.Dispose();
        }
    }
}
