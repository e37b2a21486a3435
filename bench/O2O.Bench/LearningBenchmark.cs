using System.Diagnostics;
using System.Globalization;
using O2O.Experiments;
using O2O.Learning.Bc;
using O2O.Learning.Ppo;
using O2O.Sim;

namespace O2O.Bench;

/// <summary>
/// Learning throughput, measured in one run against the physics alone: raw single-thread Hopper-v4 env
/// steps/s (random actions), then `train-online`'s PPO with default networks (fps, and the split between
/// env stepping, acting and updates), then BC training samples/s for the default BC architecture.
/// </summary>
public static class LearningBenchmark
{
    public static int Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 81920;
        var inv = CultureInfo.InvariantCulture;

        // 1. Raw physics on one thread: the denominator of the 35 % target.
        using (var env = EnvRegistry.Make("Hopper-v4"))
        {
            var obs = new float[env.Spec.ObsDim];
            var act = new float[env.Spec.ActDim];
            var rng = new Random(1);
            env.Reset(1, obs);
            var sw = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; i < steps; i++)
            {
                for (var j = 0; j < act.Length; j++) act[j] = (float)(2 * rng.NextDouble() - 1);
                var r = env.Step(act, obs);
                if (r.Terminated || r.Truncated) env.Reset(null, obs);
            }
            var raw = steps / sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(inv, $"raw Hopper-v4, 1 thread:          {raw,9:F0} env steps/s"));

            // 2. PPO as train-online runs it by default (8 envs, 4096 × 256 × 10, 64×64), evaluation off.
            var dir = Path.Combine(Path.GetTempPath(), "o2o-bench-ppo-" + Guid.NewGuid().ToString("N"));
            var o = new PpoOptions { EnvId = "Hopper-v4", TotalSteps = steps, EvalEpisodes = 0, LogDir = dir,
                RunName = "bench", Verbose = false };
            var wall = Stopwatch.StartNew();
            using (var trainer = new PpoTrainer(o)) trainer.Run();
            wall.Stop();
            var rows = File.ReadAllLines(Path.Combine(dir, "bench.csv"));
            var header = rows[0].Split(',');
            double Sum(string col) =>
                rows.Skip(1).Sum(l => double.Parse(l.Split(',')[Array.IndexOf(header, col)], inv));
            var env_s = Sum("time/env_s");
            var act_s = Sum("time/act_s");
            var upd_s = Sum("time/update_s");
            var train = env_s + act_s + upd_s;
            var fps = steps / train;
            Directory.Delete(dir, true);
            Console.WriteLine(string.Create(inv, $"train-online PPO (default nets): " +
                $"  {fps,9:F0} env steps/s  = {fps / raw:P0} of raw (target ≥ 35 %)"));
            Console.WriteLine(string.Create(inv, $"  split: env {env_s / train:P0} ({env_s:F2} s), " +
                $"acting {act_s / train:P0} ({act_s:F2} s), updates {upd_s / train:P0} ({upd_s:F2} s); " +
                $"wall incl. checkpoints {wall.Elapsed.TotalSeconds:F1} s"));
        }

        // 3. BC samples/s, default architecture (256×256 tanh), on a 100k-transition random dataset.
        var data = DatasetCollector.Collect(new CollectOptions("Hopper-v4", new BehaviourPolicy.Random(), 100_000, 1));
        var bc = BehaviourCloning.Train(new BcOptions { EnvId = "Hopper-v4", Epochs = 2, EvalEpisodes = 0 }, data);
        bc.Actor.Dispose();
        Console.WriteLine(
            string.Create(inv, $"pretrain-bc (256×256, batch 1024): {bc.SamplesPerSecond,9:F0} samples/s"));
        return 0;
    }
}
