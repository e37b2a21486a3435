using System.Diagnostics;
using System.Globalization;
using O2O.Experiments;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;

namespace O2O.Bench;

/// <summary>
/// `data collect`'s rate against the physics alone, in one process and interleaved rounds (the best round counts;
/// the machine is shared): one Hopper-v4 env on one thread (random actions), a VecEnv of 16 envs on 2 threads, and
/// the collector (2 workers) with a random policy and with Gaussian actors of 64×64 (the behaviour PPO's) and 256×256
/// (a BC actor's) for each envs-per-worker count. Process CPU time per env step is printed beside each rate: load
/// on the machine disturbs it less than wall-clock rates.
/// Arguments: [steps per collection = 100000] [rounds = 2] [envs per worker = 1,4,8,16].
/// </summary>
internal static class CollectBenchmark
{
    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var steps = args.Length > 0 ? int.Parse(args[0], inv) : 100_000;
        var rounds = args.Length > 1 ? int.Parse(args[1], inv) : 2;
        var envCounts = (args.Length > 2 ? args[2] : "1,4,8,16").Split(',').Select(s => int.Parse(s, inv)).ToArray();
        TorchRuntime.EnsureLoaded();
        var dir = Directory.CreateTempSubdirectory("o2o-bench-collect-").FullName;
        try
        {
            var policies = new (string Name, BehaviourPolicy Policy)[]
            {
                ("random", new BehaviourPolicy.Random()),
                ("actor 64x64", new BehaviourPolicy.Actor(Actor(dir, [64, 64]), false)),
                ("actor 256x256", new BehaviourPolicy.Actor(Actor(dir, [256, 256]), false)),
            };
            Console.WriteLine($"load average {Timing.LoadAverage()}, {Environment.ProcessorCount} cores, Hopper-v4, "
                + $"{steps} env steps per measurement, best of {rounds} rounds");
            EnvBenchmark.SingleThread(steps / 10);  // JIT warm-up
            Collect(policies[1].Policy, steps / 10, envCounts[0]);
            var single = (Rate: 0.0, Cpu: double.MaxValue);
            var vec = (Rate: 0.0, Cpu: double.MaxValue);
            var best = new Dictionary<(int, int), (double Rate, double Cpu)>();
            for (var r = 0; r < rounds; r++)
            {
                var s = EnvBenchmark.SingleThread(steps / 2);
                single = (Math.Max(single.Rate, s.Rate), Math.Min(single.Cpu, s.CpuUs));
                var v = EnvBenchmark.VecEnvRate(steps, 16, 2);
                vec = (Math.Max(vec.Rate, v.Rate), Math.Min(vec.Cpu, v.CpuUs));
                for (var p = 0; p < policies.Length; p++)
                    foreach (var e in envCounts)
                    {
                        var c = Collect(policies[p].Policy, steps, e);
                        var old = best.GetValueOrDefault((p, e), (Rate: 0.0, Cpu: double.MaxValue));
                        best[(p, e)] = (Math.Max(old.Rate, c.Rate), Math.Min(old.Cpu, c.Cpu));
                    }
            }
            Console.WriteLine(string.Create(inv,
                $"env, 1 thread (random actions)       {single.Rate,8:F0} steps/s  {single.Cpu,6:F1} µs CPU/step"));
            Console.WriteLine(string.Create(inv,
                $"VecEnv 16 envs, 2 threads (raw)      {vec.Rate,8:F0} steps/s  {vec.Cpu,6:F1} µs CPU/step  "
                + $"{vec.Rate / single.Rate:F2} × 1 thread"));
            for (var p = 0; p < policies.Length; p++)
                foreach (var e in envCounts)
                {
                    var c = best[(p, e)];
                    Console.WriteLine(string.Create(inv,
                        $"collect {policies[p].Name,-13} {e,3} env/worker {c.Rate,8:F0} steps/s  {c.Cpu,6:F1} µs "
                        + $"CPU/step  {c.Rate / single.Rate:F2} × 1 thread, {c.Rate / vec.Rate:F2} × VecEnv"));
                }
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>An untrained Gaussian actor with the given hidden widths, saved as a checkpoint.</summary>
    static string Actor(string dir, int[] hidden)
    {
        var path = Path.Combine(dir, $"actor_{string.Join("x", hidden)}.pt");
        TorchSharp.torch.manual_seed(1);
        using var bundle = new ActorBundle("Hopper-v4", new GaussianActor(11, 3, hidden), new RunningNorm(11), "bench");
        bundle.Save(path);
        return path;
    }

    static (double Rate, double Cpu) Collect(BehaviourPolicy policy, int steps, int envs)
    {
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        DatasetCollector.Collect(new CollectOptions("Hopper-v4", policy, steps, 1, "bench", envs));
        var wall = clock.Elapsed.TotalSeconds;
        return (steps / wall, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / steps);
    }
}
