using System.Globalization;
using System.Text.RegularExpressions;
using O2O.Experiments;
using O2O.Learning.Bc;
using O2O.Learning.Dsr;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;

namespace O2O.Bench;

/// <summary>
/// DSR speed, in one run on one libtorch thread (train-online's default):
///  1. training pairs/s and Support() latency for a batch of 4096 pairs per mode, for the default flow (hidden 64),
///     a flow with hidden 128 and the default energy model, trained on random-policy Hopper-v4 pairs;
///  2. the DSR's share of a real PPO epoch: train-online's loop with the default flow DSR shaping the rewards
///     (4096 pairs scored per epoch), once from scratch (64×64 actor) and once from a BC actor (256×256, as
///     the notebook's pipeline runs it). Share = time/shape_s ÷ (env + acting + shaping + update), evaluation off.
/// </summary>
public static class DsrBenchmark
{
    const int Batch = 4096;

    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = args.Length > 0 ? int.Parse(args[0], inv) : 20_000;
        var epochs = args.Length > 1 ? int.Parse(args[1], inv) : 2;
        var repeats = args.Length > 2 ? int.Parse(args[2], inv) : 21;
        var ppoSteps = args.Length > 3 ? int.Parse(args[3], inv) : 45_056; // 11 epochs of 4096; the first is dropped

        if (rows < Batch)
        {
            Console.Error.WriteLine($"bench dsr: rows must be at least {Batch} (the query batch), got {rows}");
            return 2;
        }
        TorchRuntime.Configure(0, 1);
        Console.WriteLine(string.Create(inv, $"rows {rows}, epochs {epochs}, repeats {repeats}, " +
            $"PPO steps {ppoSteps}; libtorch threads {TorchSharp.torch.get_num_threads()}, " +
            $"{Environment.ProcessorCount} cores, .NET {Environment.Version}, load average {Timing.LoadAverage()}"));
        var data = DatasetCollector.Collect(new CollectOptions("Hopper-v4", new BehaviourPolicy.Random(), rows, 1));
        var (obsDim, actDim) = (data.ObsDim, data.ActDim);
        var qs = data.Observations.AsSpan(0, Batch * obsDim).ToArray();
        var qa = data.Actions.AsSpan(0, Batch * actDim).ToArray();
        var sigma = new float[Batch];

        // 1. Training throughput and query latency.
        SupportModel? defaultFlow = null;
        var configs = new (string Name, DsrOptions Options)[]
        {
            ("flow (default: 8 couplings, hidden 64)", new DsrOptions { Epochs = epochs, DiagnosticsMaxPairs = 1000 }),
            ("flow --hidden 128 (the default until 2026-11-25)",
                new DsrOptions { Epochs = epochs, Hidden = 128, DiagnosticsMaxPairs = 1000 }),
            ("energy (default: hidden 128, 16 negatives)",
                new DsrOptions { Kind = DsrKind.Energy, Epochs = epochs, DiagnosticsMaxPairs = 1000 }),
        };
        foreach (var (name, options) in configs)
        {
            var log = new List<string>();
            var model = DsrTrainer.Train(options, data.Observations, data.Actions, obsDim, actDim, data.EpisodeStarts(),
                "Hopper-v4", log.Add, rewards: data.Rewards);
            var epochSeconds = log.Select(l => Regex.Match(l, @"^dsr epoch \d+/\d+:.* ([0-9.]+)s$"))
                .Where(m => m.Success)
                .Select(m => double.Parse(m.Groups[1].Value, inv)).ToArray();
            var pairsPerSecond = model.Diagnostics!.TrainPairs * epochSeconds.Length / epochSeconds.Sum();
            Console.WriteLine(string.Create(inv, $"{name}: train {pairsPerSecond:F0} pairs/s (joint + state model)"));
            foreach (var mode in Enum.GetValues<SupportMode>())
            {
                var (med, min) = Timing.Measure(repeats, () => model.Support(qs, qa, Batch, mode, sigma));
                (med, min) = (med * 1000, min * 1000);
                Console.WriteLine(string.Create(inv, $"  support {mode.Word(),-11} batch {Batch}: " +
                    $"median {med:F1} ms, min {min:F1} ms -> {Batch / med * 1000:F0} queries/s"));
            }
            if (defaultFlow is null) defaultFlow = model;
            else model.Dispose();
        }

        // 2. The default flow DSR inside train-online's loop.
        using (defaultFlow)
        {
            var dir = Path.Combine(Path.GetTempPath(), "o2o-bench-dsr-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                var bcPath = Path.Combine(dir, "bc_actor.pt");
                var bc = BehaviourCloning.Train(
                    new BcOptions { EnvId = "Hopper-v4", Epochs = 1, EvalEpisodes = 0 }, data);
                bc.Actor.Save(bcPath);
                bc.Actor.Dispose();
                var c = defaultFlow!.RewardAbsMean ?? 1.0;
                foreach (var (name, init) in new[] { ("from scratch (64×64 actor)", (string?)null),
                    ("from a BC actor (256×256)", bcPath) })
                {
                    var run = "ppo" + (init is null ? "_scratch" : "_bc");
                    var o = new PpoOptions { EnvId = "Hopper-v4", TotalSteps = ppoSteps, EvalEpisodes = 0, LogDir = dir,
                        RunName = run, Verbose = false, InitActor = init };
                    using (var trainer = new PpoTrainer(o, new DsrShaper(defaultFlow, new DsrShapingOptions(), c)))
                        trainer.Run();
                    var lines = File.ReadAllLines(Path.Combine(dir, run + ".csv"));
                    var header = lines[0].Split(',');
                    var body = lines.Skip(2).Select(l => l.Split(',')).ToArray(); // drop the first epoch (warm-up)
                    double Mean(string col) => body.Average(f => double.Parse(f[Array.IndexOf(header, col)], inv));
                    var (env, act, shape, upd) =
                        (Mean("time/env_s"), Mean("time/act_s"), Mean("time/shape_s"), Mean("time/update_s"));
                    var epoch = env + act + shape + upd;
                    Console.WriteLine(string.Create(inv, $"train-online + DSR ({defaultFlow.DefaultMode.Word()}), " +
                        $"{name}: epoch {epoch:F3} s = env {env:F3} + acting {act:F3} + DSR shaping " +
                        $"{shape * 1000:F1} ms + update {upd:F3}; DSR share {shape / epoch:P1} (target ≤ 10 %), " +
                        $"{body.Length} epochs"));
                }
            }
            finally { Directory.Delete(dir, true); }
        }
        return 0;
    }
}
