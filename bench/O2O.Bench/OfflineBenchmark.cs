using System.Globalization;
using System.Text.RegularExpressions;
using O2O.Data;
using O2O.Experiments;
using O2O.Learning.Bc;
using O2O.Learning.Dsr;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using static TorchSharp.torch;

namespace O2O.Bench;

/// <summary>
/// The learning phases of `o2o run` against libtorch's GEMM rate at their own layer shapes, on 1 and on 2 threads in
/// one run: DSR training (the default flow: two RealNVP flows of 8 couplings, hidden 64, batch 2048; on 2 threads the
/// flows train concurrently), BC (256×256 tanh, batch 1024; on 2 threads each minibatch is split over them) and the
/// PPO update (4096 steps × 10 epochs at minibatch 256, libtorch intra-op threads; 64×64 actor from scratch and the
/// 256×256 BC actor the pipeline fine-tunes, 64×64 critic). FLOPs are counted from the shapes: a forward pass is
/// 2·rows·Σ in·out over the linear layers, a training step three forwards (forward, and backward twice that);
/// element-wise work is not counted, so the share of GEMM says how much of a step is matrix products at libtorch's
/// speed. The GEMM rate on n threads is the better of libtorch's n-thread matmul and n concurrent one-thread
/// streams (what the DSR and BC do). With 2 or more epochs the first (warm-up) is left out of the rates. Each
/// (workload, threads) is measured in interleaved rounds, the best round counting, its GEMM rate just before it.
/// Arguments: [rows = 200000] [epochs = 1] [threads = 1,2] [rounds = 3] [only the workloads whose name contains
/// this].
/// </summary>
internal static class OfflineBenchmark
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        var rows = args.Length > 0 ? int.Parse(args[0], Inv) : 200_000;
        var epochs = args.Length > 1 ? int.Parse(args[1], Inv) : 1;
        var threadCounts = (args.Length > 2 ? args[2] : "1,2").Split(',').Select(s => int.Parse(s, Inv)).ToArray();
        var rounds = args.Length > 3 ? int.Parse(args[3], Inv) : 3;
        var only = args.Length > 4 ? args[4] : "";
        TorchRuntime.EnsureLoaded();
        var data = DatasetCollector.Collect(new CollectOptions("Hopper-v4", new BehaviourPolicy.Random(), rows, 1));
        int od = data.ObsDim, ad = data.ActDim;
        Console.WriteLine($"load average {Timing.LoadAverage()}, {Environment.ProcessorCount} cores, {rows} random-policy "
            + $"Hopper-v4 rows, {epochs} epoch(s); OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")
                ?? "(set by TorchRuntime)"}");
        const int hidden = 64;
        (int, int)[] Coupling(int d) => [(d, hidden), (hidden, hidden), (hidden, 2 * d)];
        var dsrLayers = Enumerable.Repeat(Coupling(od + ad), 8).Concat(Enumerable.Repeat(Coupling(od), 8))
            .SelectMany(c => c).ToArray();
        (int, int)[] bcLayers = [(od, 256), (256, 256), (256, ad)];
        (int, int)[] small = [(od, 64), (64, 64), (64, ad)];
        (int, int)[] critic = [(od, 64), (64, 64), (64, 1)];
        var dir = Directory.CreateTempSubdirectory("o2o-bench-offline-").FullName;
        try
        {
            var bcActor = Path.Combine(dir, "bc_actor.pt");
            using (var bc = BehaviourCloning.Train(new BcOptions { EnvId = "Hopper-v4", Epochs = 1, EvalEpisodes = 0 },
                data).Actor)
                bc.Save(bcActor);
            const int ppoSamples = 4096 * 10;
            var work = new (string Name, string Unit, (int, int)[] Layers, int Rows, Func<int, double> Rate)[]
            {
                ("DSR training (2 flows)", "pairs/s", dsrLayers, 2048, t => DsrPairsPerSecond(data, epochs, t)),
                ("BC (256x256, batch 1024)", "samples/s", bcLayers, 1024, t =>
                {
                    var r = BehaviourCloning.Train(new BcOptions { EnvId = "Hopper-v4", Epochs = epochs,
                        EvalEpisodes = 0, TorchThreads = t }, data);
                    r.Actor.Dispose();
                    if (epochs == 1) return r.SamplesPerSecond;
                    var steady = r.Curve.Skip(1).ToArray();  // the first epoch warms up (threads, allocations)
                    var perEpoch = r.SamplesPerSecond * r.Curve.Sum(c => c.Seconds) / epochs;
                    return perEpoch * steady.Length / steady.Sum(c => c.Seconds);
                }),
                ("PPO update, 64x64 actor", "samples/s", [.. small, .. critic], 256,
                    t => ppoSamples / PpoUpdateSeconds(dir, null, t)),
                ("PPO update, 256x256 BC actor", "samples/s", [.. bcLayers, .. critic], 256,
                    t => ppoSamples / PpoUpdateSeconds(dir, bcActor, t)),
            };
            // Interleaved rounds, the best of each (the machine is shared: the best round is the least disturbed).
            var best = new Dictionary<(int, int), (double Rate, double Gemm)>();
            var chosen = Enumerable.Range(0, work.Length)
                .Where(w => work[w].Name.Contains(only, StringComparison.OrdinalIgnoreCase)).ToArray();
            for (var round = 0; round < rounds; round++)
                foreach (var w in chosen)
                    foreach (var t in threadCounts)
                    {
                        TorchRuntime.Configure(1, t);
                        var shapes = work[w].Layers.Distinct().ToArray();
                        var gemm = Math.Max(OffPolicyBenchmark.GemmRate(shapes, work[w].Rows),
                            t > 1 ? GemmStreams(shapes, work[w].Rows, t) : 0);
                        var rate = work[w].Rate(t);
                        var old = best.GetValueOrDefault((w, t));
                        best[(w, t)] = (Math.Max(old.Rate, rate), Math.Max(old.Gemm, gemm));
                    }
            foreach (var w in chosen)
            {
                var (name, unit, layers, batch, _) = work[w];
                var flopsPerRow = 3 * Forward(layers);
                foreach (var t in threadCounts)
                {
                    var (rate, gemm) = best[(w, t)];
                    var achieved = rate * flopsPerRow / 1e9;
                    var extra = name.StartsWith("PPO", StringComparison.Ordinal)
                        ? string.Create(Inv, $"; one update (4096 × 10 epochs, minibatch 256) {ppoSamples / rate:F3} s")
                        : "";
                    Console.WriteLine(string.Create(Inv, $"{name,-29} {t} thread(s) {rate,9:F0} {unit} {achieved,6:F1} "
                        + $"GFLOP/s = {100 * achieved / gemm,3:F0} % of libtorch's GEMM at these shapes ({gemm:F1} "
                        + $"GFLOP/s, {batch} rows)") + extra);
                }
                if (threadCounts.Length == 2)
                    Console.WriteLine(string.Create(Inv, $"{name,-29} {threadCounts[1]} threads / {threadCounts[0]}: "
                        + $"{best[(w, threadCounts[1])].Rate / best[(w, threadCounts[0])].Rate:F2}×"));
            }
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// GFLOP/s of <paramref name="streams"/> one-thread matmul loops at once over the layers' shapes (the sum).
    /// </summary>
    static double GemmStreams((int In, int Out)[] layers, int rows, int streams)
    {
        var previous = get_num_threads();
        set_num_threads(1);
        try
        {
            using var threads = new O2O.Learning.Runtime.FixedThreads(streams, 1);
            var inputs = new Tensor[streams][];
            var weights = new Tensor[streams][];
            threads.Run(k =>
            {
                inputs[k] = [.. layers.Select(l => randn(rows, l.In).DetachFromDisposeScope())];
                weights[k] = [.. layers.Select(l => randn(l.In, l.Out).DetachFromDisposeScope())];
            });
            var flops = layers.Sum(l => 2.0 * rows * l.In * l.Out);
            var rounds = Math.Max(4, 200 * 256 / rows);
            var (median, _) = Timing.Measure(5, () => threads.Run(k =>
            {
                for (var r = 0; r < rounds; r++)
                    for (var i = 0; i < layers.Length; i++)
                        using (var y = inputs[k][i].matmul(weights[k][i])) { }
            }));
            foreach (var t in inputs.Concat(weights).SelectMany(x => x)) t.Dispose();
            return streams * flops * rounds / median / 1e9;
        }
        finally { set_num_threads(previous); }
    }

    /// <summary>FLOPs of one forward pass of one row through the layers.</summary>
    static double Forward((int In, int Out)[] layers) => 2.0 * layers.Sum(l => (double)l.In * l.Out);

    /// <summary>Training pairs/s of the epoch loop (calibration and diagnostics excluded), from the epoch lines.</summary>
    static double DsrPairsPerSecond(OfflineDataset data, int epochs, int threads)
    {
        var log = new List<string>();
        using var model = DsrTrainer.Train(new DsrOptions { Epochs = epochs, DiagnosticsMaxPairs = 1000,
            TorchThreads = threads }, data.Observations, data.Actions, data.ObsDim, data.ActDim, data.EpisodeStarts(),
            "Hopper-v4", log.Add, rewards: data.Rewards);
        var seconds = log.Select(l => Regex.Match(l, @"^dsr epoch \d+/\d+:.* ([0-9.]+)s$")).Where(m => m.Success)
            .Select(m => double.Parse(m.Groups[1].Value, Inv)).Skip(epochs > 1 ? 1 : 0).ToArray();
        return model.Diagnostics!.TrainPairs * (double)seconds.Length / seconds.Sum();
    }

    /// <summary>Mean time/update_s of train-online's PPO over 3 epochs of 4096 steps after a first one.</summary>
    static double PpoUpdateSeconds(string dir, string? initActor, int threads)
    {
        var run = $"ppo_{threads}_{(initActor is null ? "scratch" : "bc")}";
        var o = new PpoOptions { EnvId = "Hopper-v4", TotalSteps = 4 * 4096, EvalEpisodes = 0, LogDir = dir,
            RunName = run, Verbose = false, InitActor = initActor, TorchThreads = threads };
        using (var trainer = new PpoTrainer(o)) trainer.Run();
        var lines = File.ReadAllLines(Path.Combine(dir, run + ".csv"));
        var header = lines[0].Split(',');
        return lines.Skip(2).Average(l => double.Parse(l.Split(',')[Array.IndexOf(header, "time/update_s")], Inv));
    }
}
