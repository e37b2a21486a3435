using System.Diagnostics;
using System.Globalization;
using O2O.Data;
using PureHDF;

namespace O2O.Bench;

/// <summary>
/// HDF5 read throughput: writes a D4RL-shaped Hopper file (ROWS × 11 observations, × 3 actions, rewards, flags)
/// with O2O.Data, gzip and uncompressed, then times reading it back: the observations alone and the whole dataset.
/// Arguments: [ROWS=1000000 [REPEATS=7 [CHUNK_ROWS]]].
/// </summary>
public static class DataBenchmark
{
    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = args.Length > 0 ? int.Parse(args[0], inv) : 1_000_000;
        var repeats = args.Length > 1 ? int.Parse(args[1], inv) : 7;
        var chunkRows = args.Length > 2 ? int.Parse(args[2], inv) : new Hdf5WriteOptions().ChunkRows;
        var dir = Directory.CreateTempSubdirectory("o2o-bench-data-").FullName;
        try
        {
            var r = new Random(0);
            float[] F(long n)
            {
                var a = new float[n];
                for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
                return a;
            }
            var term = new bool[rows]; var tout = new bool[rows];
            for (var i = 0; i < rows; i++) tout[i] = i % 1000 == 999;
            var ds = new OfflineDataset(
                rows, 11, 3, F(rows * 11L), F(rows * 3L), F(rows), terminals: term, timeouts: tout,
                metadata: new Dictionary<string, string>
                {
                    ["env_id"] = "Hopper-v4",
                    ["generated_by"] = "O2O.Bench data",
                });
            Console.WriteLine(string.Create(inv, $"rows {rows}, repeats {repeats}, chunk rows {chunkRows}, " +
                $"{Environment.ProcessorCount} cores, .NET {Environment.Version}, " +
                $"load average {Timing.LoadAverage()}"));
            foreach (var gzip in new[] { true, false })
            {
                var path = Path.Combine(dir, gzip ? "gzip.hdf5" : "plain.hdf5");
                var sw = Stopwatch.StartNew();
                DatasetIO.SaveHdf5(path, ds, new Hdf5WriteOptions(Gzip: gzip, ChunkRows: chunkRows));
                var write = sw.Elapsed.TotalSeconds;
                var size = new FileInfo(path).Length / 1048576.0;
                var obsTime = Timing.Measure(repeats, () =>
                {
                    using var f = H5File.OpenRead(path);
                    var obs = f.Dataset("observations").Read<float[]>();
                    if (obs.Length != rows * 11L || obs[12345] != ds.Observations[12345])
                        throw new InvalidOperationException("wrong data");
                });
                var load = Timing.Measure(repeats, () =>
                {
                    var back = DatasetIO.Load(path);
                    if (back.Count != rows) throw new InvalidOperationException("wrong data");
                });
                Console.WriteLine(string.Create(inv, $"{(gzip ? "gzip " : "plain")}: file {size:F1} MB, " +
                    $"write {write:F2} s | observations {rows}×11 f32: median {obsTime.Median:F3} s, " +
                    $"min {obsTime.Min:F3} s | DatasetIO.Load (all keys + finite check): median {load.Median:F3} s, " +
                    $"min {load.Min:F3} s"));
            }
        }
        finally { Directory.Delete(dir, true); }
        return 0;
    }
}
