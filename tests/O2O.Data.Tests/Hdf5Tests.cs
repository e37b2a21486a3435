using O2O.Core;
using PureHDF;

namespace O2O.Data.Tests;

public class Hdf5Tests
{
    [Fact]
    public void Reads_h5py_fixture_gzip_chunked_bool_enum_float64_infos_and_metadata()
    {
        var ds = DatasetIO.Load(Fixtures.Path("d4rl_tiny_h5py.hdf5"));
        Assert.Equal((40, 11, 3), (ds.Count, ds.ObsDim, ds.ActDim));
        for (var i = 0; i < 40; i++)
        {
            Fixtures.AssertCoreRow(ds, i);
            for (var j = 0; j < 6; j++)
            {
                Assert.Equal(i + j * 0.001, ds.InfosQpos![i * 6 + j]);
                Assert.Equal(-i - j * 0.001, ds.InfosQvel![i * 6 + j]);
            }
            Assert.Equal(-i * 0.01, ds.InfosActionLogProbs![i]);
        }
        Assert.Equal((6, 6), (ds.InfosQposWidth, ds.InfosQvelWidth));
        Assert.Null(ds.NextObservations);
        Assert.Equal("SAC", ds.Metadata["algorithm"]);
        Assert.Equal("1000000", ds.Metadata["iteration"]);
        Assert.False(ds.Metadata.ContainsKey("policy/fc0/weight")); // arrays are not metadata strings
    }

    [Fact]
    public void Reads_float64_uint8_contiguous_fixture_and_converts_to_float32()
    {
        var ds = DatasetIO.Load(Fixtures.Path("d4rl_tiny_f64_uint8.hdf5"));
        Assert.Equal((40, 11, 3), (ds.Count, ds.ObsDim, ds.ActDim));
        Assert.Equal(Fixtures.Obs(7, 3), ds.Observations[7 * 11 + 3]);
        Assert.Equal(Fixtures.Act(39, 2), ds.Actions[^1]);
        Assert.Equal(Fixtures.Rew(5), ds.Rewards![5]); // stored as (N, 1) float64
        Assert.Equal(Fixtures.Obs(8, 0), ds.NextObservations![7 * 11]);
        Assert.True(ds.Terminals![14] && ds.Timeouts![29]);
        Assert.Equal(2, ds.Terminals.Count(t => t) + ds.Timeouts.Count(t => t));
        Assert.Equal("Hopper-v4", ds.Metadata["env_id"]);
    }

    [Theory]
    [InlineData(true, 4096)]
    [InlineData(false, 32768)]
    [InlineData(true, 7)]
    [InlineData(false, 1)]
    public void Dataset_round_trips_through_hdf5(bool gzip, int chunkRows)
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset(n: 1000);
        DatasetIO.SaveHdf5(tmp.File("d.hdf5"), ds, new Hdf5WriteOptions(gzip, chunkRows));
        var back = DatasetIO.Load(tmp.File("d.hdf5"));
        Assert.Equal((ds.Count, ds.ObsDim, ds.ActDim), (back.Count, back.ObsDim, back.ActDim));
        Fixtures.AssertSameTransitions(ds, back);
        Assert.Equal(ds.InfosQpos, back.InfosQpos);
        Assert.Equal(ds.InfosQvel, back.InfosQvel);
        Assert.Equal(ds.InfosQposWidth, back.InfosQposWidth);
        Assert.Equal(ds.InfosActionLogProbs, back.InfosActionLogProbs);
        Assert.Equal(ds.Metadata.OrderBy(k => k.Key), back.Metadata.OrderBy(k => k.Key));
        Assert.Single(Directory.GetFiles(tmp.Path));
        using var f = H5File.OpenRead(tmp.File("d.hdf5"));
        Assert.Equal([(ulong)Math.Min(chunkRows, 1000), 11UL],
            f.Dataset("observations").Layout.Chunks.Take(2).Select(c => (ulong)c));
    }

    [Fact]
    public void Minimal_dataset_without_optional_keys_round_trips()
    {
        using var tmp = new TempDir();
        var ds = new OfflineDataset(2, 1, 1, [1, 2], [3, 4]);
        DatasetIO.SaveHdf5(tmp.File("m.h5"), ds);
        var back = DatasetIO.Load(tmp.File("m.h5"));
        Assert.Equal([1f, 2f], back.Observations);
        Assert.Null(back.Rewards);
        Assert.Null(back.Terminals);
        Assert.Empty(back.Metadata);
    }

    [PythonFact]
    public void Hdf5_written_here_reads_in_h5py_with_bools_row_chunks_gzip_and_metadata()
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset(n: 5000);
        DatasetIO.SaveHdf5(tmp.File("d.hdf5"), ds, new Hdf5WriteOptions(Gzip: true, ChunkRows: 4096));
        DatasetIO.SaveHdf5(tmp.File("plain.hdf5"), ds);
        var (code, stdout, stderr) = Python.Run("""
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], 'r') as f:
                for k in ['observations', 'actions', 'rewards', 'next_observations', 'terminals', 'timeouts',
                          'infos/qpos', 'infos/qvel', 'infos/action_log_probs']:
                    d = f[k]
                    print(k, d.dtype, d.shape, d.chunks, d.compression)
                print('sum', repr(float(f['observations'][:].astype(np.float64).sum())), int(f['terminals'][:].sum()))
                print('meta', f['metadata/env_id'][()].decode(), f['metadata/generated_by'][()].decode(),
                      f['metadata/seed'][()].decode())
            with h5py.File(sys.argv[2], 'r') as f:
                d = f['observations']
                print('plain', d.dtype, d.shape, d.chunks, d.compression, int(f['timeouts'][:].sum()))
            """, tmp.File("d.hdf5"), tmp.File("plain.hdf5"));
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("observations float32 (5000, 11) (4096, 11) gzip", lines[0]);
        Assert.Equal("actions float32 (5000, 3) (4096, 3) gzip", lines[1]);
        Assert.Equal("rewards float32 (5000,) (4096,) gzip", lines[2]);
        Assert.Equal("next_observations float32 (5000, 11) (4096, 11) gzip", lines[3]);
        Assert.Equal("terminals bool (5000,) (4096,) gzip", lines[4]);
        Assert.Equal("timeouts bool (5000,) (4096,) gzip", lines[5]);
        Assert.Equal("infos/qpos float64 (5000, 6) (4096, 6) gzip", lines[6]);
        Assert.Equal("infos/action_log_probs float64 (5000,) (4096,) gzip", lines[8]);
        var parts = lines[9].Split(' ');
        Assert.Equal(ds.Observations.Sum(x => (double)x),
            double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), 6);
        Assert.Equal(
            ds.Terminals!.Count(t => t), int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("meta Hopper-v4 o2o tests 1", lines[10]);
        // defaults: one row-shaped chunk here, no gzip
        Assert.Equal($"plain float32 (5000, 11) (5000, 11) None {ds.Timeouts!.Count(t => t)}", lines[11]);
    }

    [Fact]
    public void Fletcher32_datasets_are_verified_and_a_flipped_data_byte_is_one_line_naming_the_dataset()
    {
        // make_fletcher32_fixtures.py: h5py's fletcher32=True on every dataset, then one bit of 'actions' flipped.
        var ds = DatasetIO.Load(Fixtures.Path("d4rl_tiny_fletcher32.hdf5"));
        for (var i = 0; i < 40; i++) Fixtures.AssertCoreRow(ds, i);
        var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(Fixtures.Path("d4rl_tiny_fletcher32_flipped.hdf5")));
        AssertOneLine.Message(e, "d4rl_tiny_fletcher32_flipped.hdf5", "dataset 'actions' is damaged",
            "fletcher32 checksum");
    }

    [Fact]
    public void Truncated_hdf5_is_a_one_line_error()
    {
        using var tmp = new TempDir();
        DatasetIO.SaveHdf5(tmp.File("d.hdf5"), Make.Dataset(n: 2000));
        var bytes = File.ReadAllBytes(tmp.File("d.hdf5"));
        foreach (var keep in new[] { bytes.Length - 1, bytes.Length / 2, 100 })
        {
            File.WriteAllBytes(tmp.File("cut.hdf5"), bytes[..keep]);
            var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("cut.hdf5")));
            AssertOneLine.Message(e, "cut.hdf5", "truncated");
        }
        // h5py's own file, cut: also caught.
        var h5py = File.ReadAllBytes(Fixtures.Path("d4rl_tiny_h5py.hdf5"));
        File.WriteAllBytes(tmp.File("cut2.hdf5"), h5py[..(h5py.Length * 2 / 3)]);
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("cut2.hdf5"))), "truncated");
    }

    [Fact]
    public void Missing_file_empty_file_folder_and_foreign_file_are_one_line_errors()
    {
        using var tmp = new TempDir();
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("nope.hdf5"))), "nope.hdf5", "does not exist");
        File.WriteAllBytes(tmp.File("empty.hdf5"), []);
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("empty.hdf5"))), "empty");
        File.WriteAllText(tmp.File("text.hdf5"), "observations,actions\n1,2\n");
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("text.hdf5"))), "neither an HDF5 nor an NPZ");
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.Path)), "folder");
    }

    [Fact]
    public void Missing_required_key_and_shape_mismatch_are_one_line_errors()
    {
        using var tmp = new TempDir();
        new H5File { ["actions"] = new float[] { 1, 2 } }.Write(tmp.File("noobs.h5"));
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("noobs.h5"))), "no 'observations'", "actions");
        new H5File { ["observations"] = new H5Dataset<float[]>(new float[4], fileDims: [2, 2]) }
            .Write(tmp.File("noact.h5"));
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("noact.h5"))), "no 'actions'");
        new H5File
        {
            ["observations"] = new H5Dataset<float[]>(new float[20], fileDims: [10, 2]),
            ["actions"] = new H5Dataset<float[]>(new float[9], fileDims: [9, 1]),
        }.Write(tmp.File("rows.h5"));
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("rows.h5"))), "9 rows", "10");
        new H5File
        {
            ["observations"] = new H5Dataset<float[]>(new float[20], fileDims: [10, 2]),
            ["actions"] = new H5Dataset<float[]>(new float[10], fileDims: [10, 1]),
            ["terminals"] = new byte[11],
        }.Write(tmp.File("flags.h5"));
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("flags.h5"))), "terminals", "11 rows");
        new H5File { ["observations"] = new float[10], ["actions"] = new float[10] }.Write(tmp.File("rank.h5"));
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("rank.h5"))), "observations", "shape (10)");
    }

    [Fact]
    public void NaN_and_Inf_are_reported_with_count_and_first_index_unless_allowed()
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset(n: 50);
        ds.Observations[3 * 11 + 2] = float.NaN;
        ds.Observations[10 * 11 + 0] = float.PositiveInfinity;
        DatasetIO.SaveHdf5(tmp.File("nan.hdf5"), ds);
        var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("nan.hdf5")));
        AssertOneLine.Message(
            e, "'observations' has 2 NaN/Inf values, first at row 3, column 2", "set AllowNonFinite");
        var ok = DatasetIO.Load(tmp.File("nan.hdf5"), allowNonFinite: true);
        Assert.True(float.IsNaN(ok.Observations[35]));
        var stats = DatasetStats.Compute(ok);
        Assert.Contains(stats.Problems, p => p.Contains("2 NaN/Inf", StringComparison.Ordinal));
        Assert.True(double.IsFinite(stats.ObsMean[2]));
    }

    [Fact]
    public void Unwritable_output_is_a_one_line_error_and_leaves_nothing()
    {
        var ds = Make.Dataset(n: 10);
        var e = Assert.ThrowsAny<UserError>(() => DatasetIO.SaveHdf5("/proc/o2o-no-such-dir/d.hdf5", ds));
        AssertOneLine.Message(e, "/proc/o2o-no-such-dir", "writable location");
        var e2 = Assert.ThrowsAny<UserError>(() => DatasetIO.SaveNpz("/proc/self/d.npz", ds));
        AssertOneLine.Message(e2, "d.npz");
        Assert.False(File.Exists("/proc/self/d.npz"));
    }
}
