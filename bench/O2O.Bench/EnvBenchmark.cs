using System.Diagnostics;
using System.Globalization;
using O2O.Sim;

namespace O2O.Bench;

/// <summary>
/// Hopper-v4 throughput three ways, in one process so they see the same machine load: the C harness
/// (bench/c/mujoco_bench.c, the limit), one C# env on one thread, and a VecEnv (8 envs by default) on 2 threads.
/// Arguments: [env steps per round = 20000] [rounds = 5] [VecEnv envs = 8] [VecEnv threads = 2].
/// Each is measured in rounds, interleaved, and the best round counts (the machine is shared; the best
/// round is the one least disturbed by other work).
/// </summary>
internal static class EnvBenchmark
{
    const string EnvId = "Hopper-v4";

    public static int Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        var numEnvs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
        var threads = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 2;
        var root = RepoRoot();
        var work = Directory.CreateTempSubdirectory("o2o-bench-");
        try
        {
            var xml = Path.Combine(work.FullName, "hopper.xml");
            File.WriteAllText(xml, O2O.Sim.Interop.MjSimulation.EmbeddedXml("hopper.xml"));
            var exe = Path.Combine(work.FullName, "mujoco_bench");
            var (cc, _, ccErr) = Exec("gcc", "-O2", "-I/usr/include",
                Path.Combine(root, "bench", "c", "mujoco_bench.c"), "-o", exe, "-l:libmujoco.so.2.2.2", "-lm");
            if (cc != 0)
            {
                Console.Error.WriteLine($"bench env: gcc failed (needs gcc and libmujoco-dev): {ccErr.Trim()}");
                return 1;
            }

            Console.WriteLine($"Hopper-v4 (RK4, frame_skip 4, random actions, reset on fall), " +
                $"MuJoCo {MuJoCo.Version}, {Environment.ProcessorCount} cores, {steps} env steps per round, " +
                $"best of {rounds}");
            SingleThread(steps / 4);  // warm up the JIT (tiered compilation, PGO) before timing
            VecEnvRate(steps / 4, numEnvs, threads);
            double c = 0, c2 = 0, single = 0, vec = 0, singleCpu = double.MaxValue, vecCpu = double.MaxValue;
            for (var r = 0; r < rounds; r++)
            {
                c = Math.Max(c, CRate(exe, xml, steps));
                c2 = Math.Max(c2, CRateTwoProcesses(exe, xml, steps));
                var s1 = SingleThread(steps);
                (single, singleCpu) = (Math.Max(single, s1.Rate), Math.Min(singleCpu, s1.CpuUs));
                var v = VecEnvRate(steps, numEnvs, threads);
                (vec, vecCpu) = (Math.Max(vec, v.Rate), Math.Min(vecCpu, v.CpuUs));
            }
            Row("C harness (gcc -O2)          {0,9:0} env steps/s", c);
            Row("C harness, 2 processes       {0,9:0} env steps/s   {1:0.00} × C   " +
                "(what this machine's load allows for 2 workers)", c2, c2 / c);
            Row("C# env, 1 thread             {0,9:0} env steps/s   {1:0.00} × C   (target ≥ 0.90)",
                single, single / c);
            Row("C# VecEnv {2,2} envs, {3} threads {0,9:0} env steps/s   {1:0.00} × 1 thread   " +
                "(target ≥ 1.70 with 2 threads)", vec, vec / single, numEnvs, threads);
            Row("CPU per env step: {0:0.0} µs on 1 thread, {1:0.0} µs in the VecEnv (parallel efficiency {2:0.00}; " +
                "2 free cores would give ≈ {3:0.00} × 1 thread)",
                singleCpu, vecCpu, singleCpu / vecCpu, 2 * singleCpu / vecCpu);
            return 0;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    static double CRate(string exe, string xml, int steps)
    {
        var (code, stdout, stderr) = Exec(exe, xml, steps.ToString(CultureInfo.InvariantCulture));
        if (code != 0) throw new InvalidOperationException($"C harness failed: {stderr.Trim()}");
        var field = stdout.Split(' ').First(f => f.StartsWith("c_env_steps_per_s=", StringComparison.Ordinal));
        return double.Parse(field["c_env_steps_per_s=".Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Two C harnesses at once: the best two-way scaling the machine offers right now (the sum of their rates).
    /// </summary>
    static double CRateTwoProcesses(string exe, string xml, int steps)
    {
        var a = Task.Run(() => CRate(exe, xml, steps));
        var b = Task.Run(() => CRate(exe, xml, steps));
        return a.Result + b.Result;
    }

    /// <summary>The loop a single-env collector runs: random action, step, reset when the episode ends.</summary>
    internal static (double Rate, double CpuUs) SingleThread(int steps)
    {
        using var env = EnvRegistry.Make(EnvId);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(1);
        env.Reset(1, obs);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var t = 0; t < steps; t++)
        {
            for (var i = 0; i < action.Length; i++) action[i] = (float)rng.Uniform(-1, 1);
            var r = env.Step(action, obs);
            if (r.Terminated || r.Truncated) env.Reset(null, obs);
        }
        var wall = clock.Elapsed.TotalSeconds;
        return (steps / wall, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / steps);
    }

    internal static (double Rate, double CpuUs) VecEnvRate(int steps, int numEnvs, int threads)
    {
        using var vec = new VecEnv(EnvId, numEnvs, seed: 1, threads: threads);
        var actions = new float[numEnvs * vec.Spec.ActDim];
        var rng = new Pcg32(2);
        var iterations = steps / numEnvs;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var t = 0; t < iterations; t++)
        {
            for (var i = 0; i < actions.Length; i++) actions[i] = (float)rng.Uniform(-1, 1);
            vec.Step(actions);
        }
        var wall = clock.Elapsed.TotalSeconds;
        return (iterations * numEnvs / wall,
            (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / (iterations * numEnvs));
    }

    static (int Code, string Out, string Err) Exec(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(
            exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "O2O.slnx"))) return dir.FullName;
        throw new InvalidOperationException(
            $"run from inside the O2O repository (no O2O.slnx above {AppContext.BaseDirectory})");
    }

    /// <summary>One line of the report, numbers formatted the same on every machine.</summary>
    static void Row(string format, params object[] args) =>
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, format, args));
}
