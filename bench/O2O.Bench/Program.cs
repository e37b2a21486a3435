namespace O2O.Bench;

/// <summary>Benchmark entry point: the first argument names the benchmark, the rest go to it.</summary>
public static class Program
{
    /// <summary>Benchmarks by name; docs/benchmarks.md gives each one's command and results.</summary>
    static readonly (string Name, string Summary, Func<string[], int> Run)[] Benchmarks =
    [
        ("env",
            "Hopper-v4 env steps/s: the C harness over libmujoco, C# single thread, VecEnv on 2 threads",
            EnvBenchmark.Run),
        ("collect",
            "data collect's env steps/s against one env on one thread and the VecEnv, per policy and envs per worker",
            CollectBenchmark.Run),
        ("learning",
            "train-online PPO fps against raw single-thread physics (with the env/act/update split), BC samples/s",
            LearningBenchmark.Run),
        ("data",
            "HDF5 read time of a 1M-row D4RL-shaped file (observations alone and every key), gzip and plain",
            DataBenchmark.Run),
        ("convert",
            "data convert of a 1M-row HDF5 file: read and write times, NPZ size and numpy's load per deflate level",
            ConvertBenchmark.Run),
        ("dsr",
            "DSR training pairs/s, 4096-pair support latency per mode, and the DSR's share of a train-online epoch",
            DsrBenchmark.Run),
        ("dsr-probes",
            "the measurements behind the DSR's one-thread, 1024-row-chunk scoring (docs/benchmarks.md, DSR)",
            DsrProbeBenchmark.Run),
        ("offline",
            "DSR, BC and PPO-update rates and GFLOP/s next to libtorch's GEMM at their shapes, on 1 and 2 threads",
            OfflineBenchmark.Run),
        ("sac",
            "SAC/IQL updates/s and GFLOP/s next to libtorch's GEMM rate (the roofline); the DSR's share of a SAC update",
            OffPolicyBenchmark.Run),
    ];

    public static int Main(string[] args)
    {
        var hit = args.Length > 0 ? Benchmarks.FirstOrDefault(b => b.Name == args[0]) : default;
        if (hit.Run is null)
        {
            Console.Error.WriteLine("usage: dotnet run -c Release --project bench/O2O.Bench -- BENCHMARK [options]");
            foreach (var b in Benchmarks) Console.Error.WriteLine($"  {b.Name,-8} {b.Summary}");
            return args.Length == 0 || args[0] is "--help" or "-h" ? 0 : 2;
        }
        return hit.Run(args[1..]);
    }
}
