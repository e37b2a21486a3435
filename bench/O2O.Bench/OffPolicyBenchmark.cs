using System.Diagnostics;
using System.Globalization;
using O2O.Experiments;
using O2O.Learning.Dsr;
using O2O.Learning.OffPolicy;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using O2O.Sim;
using static TorchSharp.torch;

namespace O2O.Bench;

/// <summary>
/// SAC's, IQL's and CQL's gradient updates per second (batch 256, 256×256 networks, one libtorch thread) and the
/// GFLOP/s they achieve, next to libtorch's own GEMM rate for the same layer shapes measured in the same run (the
/// roofline); then the frozen DSR's share of a SAC update (<see cref="OffPolicySupport"/>), for the default flow and
/// the default energy model, with reward pessimism (one query per env step at insertion, and the shaping of each
/// batch) and with value pessimism (also one 256-pair query of the policy's actions per update).
/// </summary>
public static class OffPolicyBenchmark
{
    const int Batch = 256, Width = 256;

    public static int Run(string[] args)
    {
        var updates = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3000;
        var inv = CultureInfo.InvariantCulture;
        TorchRuntime.Configure(1, threads: 1);
        var spec = EnvRegistry.Get("Hopper-v4");
        int od = spec.ObsDim, ad = spec.ActDim;
        Console.WriteLine($"load average {Timing.LoadAverage()}, one libtorch thread, Hopper-v4, batch {Batch}, "
            + $"{Width}x{Width}");

        // The roofline: forward GEMMs of the critic's and the actor's layers, batch × in → out, as libtorch runs them.
        (int In, int Out)[] critic = [(od + ad, Width), (Width, Width), (Width, 1)];
        (int In, int Out)[] actor = [(od, Width), (Width, Width), (Width, 2 * ad)];
        var gemm = GemmRate([.. critic, .. actor]);
        Console.WriteLine(string.Create(inv, $"libtorch GEMM at these shapes:   {gemm,8:F1} GFLOP/s"));

        // SAC as train-online would run it, on a budget of random steps to fill the buffer and then `updates` steps.
        var dir = Path.Combine(Path.GetTempPath(), "o2o-bench-sac-" + Guid.NewGuid().ToString("N"));
        const int warm = 1000;
        var o = new SacOptions
        {
            EnvId = "Hopper-v4", TotalSteps = warm + updates, StepsPerEpoch = warm + updates, LearningStarts = warm,
            EvalEpisodes = 0, LogDir = dir, RunName = "bench", Verbose = false,
        };
        using (var t = new SacTrainer(o)) t.Run();
        var rows = File.ReadAllLines(Path.Combine(dir, "bench.csv"));
        var header = rows[0].Split(',');
        double Cell(string col) => double.Parse(rows[1].Split(',')[Array.IndexOf(header, col)], inv);
        var updateRate = Cell("charts/updates") / Cell("time/update_s");
        var stepRate = (warm + updates) / (Cell("time/env_s") + Cell("time/act_s") + Cell("time/update_s"));
        var learningStepRate = updates / (Cell("time/update_s") + (Cell("time/env_s") + Cell("time/act_s"))
            * updates / (warm + updates));
        Directory.Delete(dir, true);

        // FLOPs of one update: forward 2·B·Σ in·out per network; backward about twice the forward.
        double Forward((int In, int Out)[] net) => 2.0 * Batch * net.Sum(l => (double)l.In * l.Out);
        double fq = Forward(critic), fa = Forward(actor);
        // target: actor + 2 target critics (forward); critic step: 2 critics × 3; actor step: actor × 3 + 2 critics × 3.
        var flops = fa + 2 * fq + 6 * fq + 3 * fa + 6 * fq;
        var achieved = flops * updateRate / 1e9;
        Console.WriteLine(string.Create(inv, $"SAC updates:                     {updateRate,8:F1} updates/s"));
        Console.WriteLine(string.Create(inv,
            $"SAC achieved:                    {achieved,8:F1} GFLOP/s = {100 * achieved / gemm:F0} % of the GEMM rate "
            + $"({flops / 1e6:F1} MFLOP per update)"));
        Console.WriteLine(string.Create(inv,
            $"SAC env steps with updates:      {learningStepRate,8:F1} steps/s ({stepRate:F1} over the whole run)"));
        Iql(updates, gemm, critic, actor);
        Cql(Math.Max(50, updates / 10), critic, actor);
        Dsr(updates, updateRate);
        return 0;
    }

    /// <summary>
    /// SAC with the DSR: a first epoch of 1000 random steps fills the buffer, then epochs of 1000 learning steps
    /// (one insertion and one update each) give time/dsr_s and time/update_s (which excludes the DSR) per update.
    /// β = 1 without annealing keeps the value term on throughout.
    /// </summary>
    static void Dsr(int updates, double plainRate)
    {
        var inv = CultureInfo.InvariantCulture;
        const int epochSteps = 1000;
        var learning = Math.Max(1, updates / epochSteps) * epochSteps;
        var dir = Path.Combine(Path.GetTempPath(), "o2o-bench-sac-dsr-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var data = DatasetCollector.Collect(
                new CollectOptions("Hopper-v4", new BehaviourPolicy.Random(), 20_000, 1));
            foreach (var (name, kind) in new[] { ("flow", DsrKind.Flow), ("energy", DsrKind.Energy) })
            {
                var path = Path.Combine(dir, name + "_dsr.pt");
                var dsrOptions = new DsrOptions { Kind = kind, Epochs = 1, DiagnosticsMaxPairs = 1000 };
                using (var model = DsrTrainer.Train(dsrOptions, data.Observations, data.Actions, data.ObsDim,
                    data.ActDim, data.EpisodeStarts(), "Hopper-v4", null, rewards: data.Rewards))
                    model.Save(path);
                foreach (var pessimism in new[] { "reward", "value" })
                {
                    var run = $"{name}_{pessimism}";
                    var o = new SacOptions
                    {
                        EnvId = "Hopper-v4", TotalSteps = epochSteps + learning, StepsPerEpoch = epochSteps,
                        LearningStarts = epochSteps, EvalEpisodes = 0, LogDir = dir, RunName = run, Verbose = false,
                        DsrPath = path,
                        Shaping = new DsrShapingOptions { Pessimism = pessimism, Beta = 1, Anneal = "none" },
                    };
                    using (var t = new SacTrainer(o)) t.Run();
                    var lines = File.ReadAllLines(Path.Combine(dir, run + ".csv"));
                    var header = lines[0].Split(',');
                    var body = lines.Skip(2).Select(l => l.Split(',')).ToArray(); // the learning epochs
                    double Sum(string col) => body.Sum(f => double.Parse(f[Array.IndexOf(header, col)], inv));
                    var dsrMs = 1000 * Sum("time/dsr_s") / learning;
                    var updateMs = 1000 * Sum("time/update_s") / learning;
                    Console.WriteLine(string.Create(inv,
                        $"SAC + DSR {name,-6} (gated), {pessimism} pessimism: DSR {dsrMs:F2} ms per update "
                        + $"= {100 * dsrMs / (dsrMs + updateMs):F1} % of it (target ≤ 25 %); update without "
                        + $"the DSR {updateMs:F2} ms; {1000 / (dsrMs + updateMs):F1} updates/s with it "
                        + $"({plainRate:F1} plain)"));
                }
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>IQL's updates/s on 20k random Hopper transitions (what the data holds does not change the cost).</summary>
    static void Iql(int updates, double gemm, (int In, int Out)[] critic, (int In, int Out)[] squashedActor)
    {
        var inv = CultureInfo.InvariantCulture;
        var data = RandomData(20_000);
        var dir = Path.Combine(Path.GetTempPath(), "o2o-bench-iql-" + Guid.NewGuid().ToString("N"));
        var o = new IqlOptions
        {
            EnvId = "Hopper-v4", Steps = updates, StepsPerEpoch = updates, EvalEpisodes = 0, LogDir = dir,
            RunName = "bench", Verbose = false,
        };
        using (var t = new IqlTrainer(o, data)) t.Run();
        var rows = File.ReadAllLines(Path.Combine(dir, "bench.csv"));
        var header = rows[0].Split(',');
        var rate = updates / double.Parse(rows[1].Split(',')[Array.IndexOf(header, "time/update_s")], inv);
        Directory.Delete(dir, true);
        double Forward((int In, int Out)[] net) => 2.0 * Batch * net.Sum(l => (double)l.In * l.Out);
        (int In, int Out)[] value = [(critic[0].In - 3, Width), (Width, Width), (Width, 1)];
        (int In, int Out)[] actor = [(squashedActor[0].In, Width), (Width, Width), (Width, 3)];
        // V(s') and the target critics forward; V forward and backward; two critics forward and backward; actor too.
        var flops = Forward(value) + 2 * Forward(critic) + 3 * Forward(value) + 6 * Forward(critic) + 3 * Forward(actor);
        var achieved = flops * rate / 1e9;
        Console.WriteLine(string.Create(inv, $"IQL updates:                     {rate,8:F1} updates/s "
            + $"(250k updates in {250_000 / rate / 60:F1} min)"));
        Console.WriteLine(string.Create(inv,
            $"IQL achieved:                    {achieved,8:F1} GFLOP/s = {100 * achieved / gemm:F0} % of the GEMM rate "
            + $"({flops / 1e6:F1} MFLOP per update)"));
    }

    /// <summary>
    /// CQL's offline updates/s (CORL's 10 sampled actions of each of three kinds per state). Most of its work is the
    /// critics on 3·10·256 = 7680 sampled pairs, so its roofline is libtorch's GEMM at that many rows.
    /// </summary>
    static void Cql(int updates, (int In, int Out)[] critic, (int In, int Out)[] actor)
    {
        var inv = CultureInfo.InvariantCulture;
        const int sampled = 10;
        var data = RandomData(20_000);
        var dir = Path.Combine(Path.GetTempPath(), "o2o-bench-cql-" + Guid.NewGuid().ToString("N"));
        var o = new CqlOptions
        {
            EnvId = "Hopper-v4", Steps = updates, StepsPerEpoch = updates, SampledActions = sampled, EvalEpisodes = 0,
            LogDir = dir, RunName = "bench", Verbose = false,
        };
        using (var t = new CqlTrainer(o, data)) t.Run();
        var rows = File.ReadAllLines(Path.Combine(dir, "bench.csv"));
        var header = rows[0].Split(',');
        var rate = updates / double.Parse(rows[1].Split(',')[Array.IndexOf(header, "time/update_s")], inv);
        Directory.Delete(dir, true);
        double Forward((int In, int Out)[] net) => 2.0 * Batch * net.Sum(l => (double)l.In * l.Out);
        double fq = Forward(critic), fa = Forward(actor);
        // Target: actor and two target critics forward. Data pairs: two critics forward and backward. Sampled
        // actions: the actor forward on B·N states twice; two critics forward and backward on 3·B·N pairs. Actor
        // step: actor and two critics forward and backward.
        var flops = fa + 2 * fq + 6 * fq + 2 * sampled * fa + 18 * sampled * fq + 3 * fa + 6 * fq;
        var achieved = flops * rate / 1e9;
        var gemm = GemmRate(critic, 3 * sampled * Batch);
        Console.WriteLine(string.Create(inv, $"libtorch GEMM, critic at 7680 rows: {gemm,6:F1} GFLOP/s"));
        Console.WriteLine(string.Create(inv, $"CQL updates:                     {rate,8:F1} updates/s "
            + $"(250k updates in {250_000 / rate / 3600:F1} h)"));
        Console.WriteLine(string.Create(inv,
            $"CQL achieved:                    {achieved,8:F1} GFLOP/s = {100 * achieved / gemm:F0} % of the GEMM rate "
            + $"({flops / 1e9:F2} GFLOP per update)"));
    }

    static O2O.Data.OfflineDataset RandomData(int rows)
    {
        var rng = new Random(1);
        float[] Fill(int n) => Enumerable.Range(0, n).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray();
        var timeouts = Enumerable.Range(0, rows).Select(i => i % 1000 == 999).ToArray();
        return new O2O.Data.OfflineDataset(rows, 11, 3, Fill(rows * 11), Fill(rows * 3), Fill(rows), null,
            new bool[rows], timeouts);
    }

    /// <summary>GFLOP/s of libtorch's matmul over the layers' forward shapes at <paramref name="rows"/> rows (median of 5
    /// timed rounds).</summary>
    internal static double GemmRate((int In, int Out)[] layers, int rows = Batch)
    {
        using var scope = NewDisposeScope();
        var inputs = layers.Select(l => randn(rows, l.In)).ToArray();
        var weights = layers.Select(l => randn(l.In, l.Out)).ToArray();
        var flops = layers.Sum(l => 2.0 * rows * l.In * l.Out);
        var rounds = Math.Max(4, 200 * Batch / rows);
        var (median, _) = Timing.Measure(5, () =>
        {
            for (var r = 0; r < rounds; r++)
                for (var i = 0; i < layers.Length; i++)
                    using (var y = inputs[i].matmul(weights[i])) { }
        });
        return flops * rounds / median / 1e9;
    }
}
