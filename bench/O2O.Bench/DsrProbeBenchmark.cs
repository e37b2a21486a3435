using System.Globalization;
using O2O.Experiments;
using O2O.Learning.Dsr;
using O2O.Learning.Runtime;
using static TorchSharp.torch;

namespace O2O.Bench;

/// <summary>
/// The measurements behind three DSR design choices (docs/benchmarks.md, "DSR"), one libtorch thread:
///  1. two streams of 16 Linear(128→128) passes over 4096 rows, one after the other vs on two threads at once
///     (does running the joint and state flows concurrently pay on this machine?);
///  2. a 4096-pair conditional query of a 128-wide flow in one pass vs in 1024-row chunks, on an idle process and
///     with a competing libtorch job (matmuls on another thread, like a second training run on the machine);
///  3. Linear(7→128) vs Linear(14→128) on 4096 rows (the masked-column inference path that was dropped).
/// Arguments: [repeats=21].
/// </summary>
public static class DsrProbeBenchmark
{
    const int Rows = 4096;

    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var repeats = args.Length > 0 ? int.Parse(args[0], inv) : 21;
        TorchRuntime.Configure(0, 1);
        Console.WriteLine(string.Create(inv, $"repeats {repeats}; libtorch threads {get_num_threads()}, " +
            $"{Environment.ProcessorCount} cores, load average {Timing.LoadAverage()}"));

        // 1. Two matmul streams: sequential vs concurrent.
        using (var w = randn(128, 128))
        using (var b = randn(128))
        using (var x1 = randn(Rows, 128))
        using (var x2 = randn(Rows, 128))
        {
            void Stream(Tensor x)
            {
                using var _ = no_grad();
                for (var i = 0; i < 16; i++) nn.functional.linear(x, w, b).Dispose();
            }
            var seq = Timing.Measure(repeats, () => { Stream(x1); Stream(x2); });
            var par = Timing.Measure(repeats, () => { var t = Task.Run(() => Stream(x2)); Stream(x1); t.Wait(); });
            var one = Timing.Measure(repeats, () => Stream(x1));
            Console.WriteLine(string.Create(inv, $"1. 2 × 16 Linear(128→128) on {Rows} rows: " +
                $"one stream {one.Median * 1e3:F1} ms; both sequential {seq.Median * 1e3:F1} ms, " +
                $"both on two threads {par.Median * 1e3:F1} ms (medians) -> concurrency speed-up " +
                $"{seq.Median / par.Median:F2}×"));
        }

        // 2. Chunking of a conditional query, idle and with a competing libtorch job.
        var data = DatasetCollector.Collect(new CollectOptions("Hopper-v4", new BehaviourPolicy.Random(), 8000, 1));
        using (var model = DsrTrainer.Train(new DsrOptions { Epochs = 1, Hidden = 128, DiagnosticsMaxPairs = 1000 },
                   data.Observations, data.Actions, data.ObsDim, data.ActDim, data.EpisodeStarts(), "Hopper-v4"))
        {
            var sigma = new float[Rows];
            var qs = data.Observations.AsSpan(0, Rows * data.ObsDim).ToArray();
            var qa = data.Actions.AsSpan(0, Rows * data.ActDim).ToArray();
            (double Median, double Min) Query(int chunk)
            {
                model.ChunkRows = chunk;
                return Timing.Measure(repeats, () => model.Support(qs, qa, Rows, SupportMode.Conditional, sigma));
            }
            foreach (var loaded in new[] { false, true })
            {
                using var stop = new CancellationTokenSource();
                var rival = loaded ? Task.Run(() =>
                {
                    using var _ = no_grad();
                    using var a = randn(2048, 512);
                    using var m = randn(512, 512);
                    while (!stop.IsCancellationRequested) a.matmul(m).Dispose();
                }) : Task.CompletedTask;
                var whole = Query(Rows);
                var chunked = Query(1024);
                stop.Cancel();
                rival.Wait();
                Console.WriteLine(string.Create(inv, $"2. conditional query, hidden 128, {Rows} pairs, " +
                    $"{(loaded ? "with a competing libtorch job" : "idle process")}: " +
                    $"one pass median {whole.Median * 1e3:F1} ms (min {whole.Min * 1e3:F1}), " +
                    $"1024-row chunks median {chunked.Median * 1e3:F1} ms (min {chunked.Min * 1e3:F1})"));
            }
        }

        // 3. The masked-column path: a 7-column input vs the full 14 columns.
        using (var noGrad = no_grad())
        using (var x14 = randn(Rows, 14))
        using (var w14 = randn(128, 14))
        using (var b128 = randn(128))
        using (var keep = tensor(new long[] { 0, 2, 4, 6, 8, 10, 12 }))
        using (var x7 = x14.index_select(1, keep))
        using (var w7 = w14.index_select(1, keep))
        {
            var full = Timing.Measure(repeats, () => nn.functional.linear(x14, w14, b128).Dispose());
            var half = Timing.Measure(repeats, () => nn.functional.linear(x7, w7, b128).Dispose());
            Console.WriteLine(string.Create(inv, $"3. Linear on {Rows} rows: 14→128 {full.Median * 1e3:F2} ms, " +
                $"7→128 {half.Median * 1e3:F2} ms (medians)"));
        }
        return 0;
    }
}
