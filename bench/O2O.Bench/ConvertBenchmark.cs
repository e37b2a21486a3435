using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using O2O.Data;

namespace O2O.Bench;

/// <summary>
/// `data convert` (D4RL HDF5 → the notebook's NPZ) in one run: the whole conversion of an HDF5 file and its reading
/// half, then the NPZ written at each deflate level: write time, size, and the time our loader and numpy (with
/// allow_pickle=False, /usr/bin/python3; skipped when numpy is missing) take to read it back.
/// Arguments: [HDF5 file = 1M generated random-policy-like Hopper rows] [repeats = 3]; times are medians.
/// </summary>
internal static class ConvertBenchmark
{
    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var repeats = args.Length > 1 ? int.Parse(args[1], inv) : 3;
        var dir = Directory.CreateTempSubdirectory("o2o-bench-convert-").FullName;
        try
        {
            var h5 = args.Length > 0 ? args[0] : Generated(dir);
            var npz = Path.Combine(dir, "out.npz");
            Console.WriteLine($"load average {Timing.LoadAverage()}, {h5}, median of {repeats}");
            var (convert, _) = Timing.Measure(repeats, () => DatasetConversion.H5ToNpz(new ConvertOptions(h5, npz)));
            OfflineDataset? ds = null;
            var (read, _) = Timing.Measure(repeats, () => ds = DatasetIO.Load(h5));
            Console.WriteLine(string.Create(inv, $"data convert (read + write, default level): {convert,6:F2} s "
                + $"for {ds!.Count} rows; reading the HDF5 file {read:F2} s"));
            foreach (var level in new[] { CompressionLevel.Fastest, CompressionLevel.Optimal,
                CompressionLevel.SmallestSize, CompressionLevel.NoCompression })
            {
                var file = Path.Combine(dir, $"{level}.npz");
                var (write, _) = Timing.Measure(repeats, () => Write(file, ds, level));
                var mb = new FileInfo(file).Length / 1e6;
                var (load, _) = Timing.Measure(repeats, () => DatasetIO.Load(file));
                Console.WriteLine(string.Create(inv, $"  write NPZ, {level,-13} {write,6:F2} s, {mb,6:F1} MB, "
                    + $"DatasetIO.Load {load:F2} s"
                    + $"{(level == Npz.DeflateLevel ? "  (the default)" : "")}; numpy: {NumpyLoad(file)}"));
            }
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The dataset's NPZ entries written at <paramref name="level"/> (what SaveNpz does at its level).</summary>
    static void Write(string path, OfflineDataset ds, CompressionLevel level)
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Entry<T>(string name, string dtype, T[] values, params int[] shape) where T : unmanaged
        {
            using var s = zip.CreateEntry(name + ".npy", level).Open();
            NpzEntry.Of(name, dtype, values, shape).Write(s);
        }
        Entry("states", "<f4", ds.Observations, ds.Count, ds.ObsDim);
        Entry("actions", "<f4", ds.Actions, ds.Count, ds.ActDim);
        Entry("rewards", "<f4", ds.Rewards!, ds.Count);
        if (ds.NextObservations is { } next) Entry("next_states", "<f4", next, ds.Count, ds.ObsDim);
        Entry("terminals", "|b1", ds.Terminals!, ds.Count);
        Entry("timeouts", "|b1", ds.Timeouts!, ds.Count);
    }

    /// <summary>numpy's load time and what it read, or why it could not.</summary>
    static string NumpyLoad(string file)
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python)) return "skipped (no /usr/bin/python3)";
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import sys, time, numpy as np\nt = time.time()\nz = np.load(sys.argv[1], allow_pickle="
            + "False)\nd = {k: z[k] for k in z.files}\nprint('%.2f s, states %s %s' % (time.time() - t, "
            + "d['states'].dtype, d['states'].shape))");
        psi.ArgumentList.Add(file);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd().Trim();
        var error = p.StandardError.ReadToEnd().Trim();
        p.WaitForExit();
        return p.ExitCode == 0 ? output : "FAILED " + error.Split('\n')[^1];
    }

    /// <summary>1M Hopper-shaped rows (smooth trajectories, so they compress like real data) as HDF5.</summary>
    static string Generated(string dir)
    {
        const int rows = 1_000_000, od = 11, ad = 3;
        var rng = new Random(1);
        var obs = new float[rows * od];
        var next = new float[rows * od];
        var act = new float[rows * ad];
        var rew = new float[rows];
        var tout = new bool[rows];
        var x = new double[od];
        for (var r = 0; r < rows; r++)
        {
            if (r % 1000 == 0) for (var j = 0; j < od; j++) x[j] = rng.NextDouble() - 0.5;
            for (var j = 0; j < od; j++) obs[r * od + j] = (float)x[j];
            for (var j = 0; j < od; j++) x[j] += 0.05 * (rng.NextDouble() - 0.5);
            for (var j = 0; j < od; j++) next[r * od + j] = (float)x[j];
            for (var j = 0; j < ad; j++) act[r * ad + j] = (float)(2 * rng.NextDouble() - 1);
            rew[r] = (float)(3 + x[0]);
            tout[r] = r % 1000 == 999;
        }
        var path = Path.Combine(dir, "generated.hdf5");
        DatasetIO.SaveHdf5(path, new OfflineDataset(rows, od, ad, obs, act, rew, next, new bool[rows], tout,
            metadata: new Dictionary<string, string> { ["env_id"] = "Hopper-v4" }));
        return path;
    }
}
