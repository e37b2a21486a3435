using O2O.Core;

namespace O2O.Data.Tests;

public class ConversionTests
{
    [Fact]
    public void Converts_d4rl_file_to_states_and_actions_float32()
    {
        using var tmp = new TempDir();
        var r = DatasetConversion.H5ToNpz(
            new ConvertOptions(Fixtures.Path("d4rl_tiny_h5py.hdf5"), tmp.File("out.npz")));
        Assert.Equal((40, 40, 11, 3), (r.Rows, r.SourceRows, r.ObsDim, r.ActDim));
        Assert.Equal(["states", "actions", "rewards", "terminals", "timeouts"], r.Keys);
        var a = Npz.Read(tmp.File("out.npz"));
        Assert.Equal("<f4", a["states"].DType);
        Assert.Equal([40, 11], a["states"].Shape);
        Assert.Equal("<f4", a["actions"].DType);
        Assert.Equal([40, 3], a["actions"].Shape);
        Assert.Equal("|b1", a["terminals"].DType);
        Assert.Equal(Fixtures.Obs(39, 10), a["states"].ToFloat32()[^1]); // all rows, in order
        Assert.False(a.ContainsKey("next_states")); // the fixture has none; convert does not invent them
        var f64 = DatasetConversion.H5ToNpz(
            new ConvertOptions(Fixtures.Path("d4rl_tiny_f64_uint8.hdf5"), tmp.File("f64.npz")));
        Assert.Contains("next_states", f64.Keys);
        Assert.Equal("<f4", Npz.Read(tmp.File("f64.npz"))["states"].DType);
    }

    [Fact]
    public void Max_samples_gives_exactly_n_distinct_rows_reproducible_for_a_seed()
    {
        using var tmp = new TempDir();
        int[] Rows(string name, int seed)
        {
            DatasetConversion.H5ToNpz(
                new ConvertOptions(Fixtures.Path("d4rl_tiny_h5py.hdf5"), tmp.File(name), MaxSamples: 17, Seed: seed));
            var back = DatasetIO.Load(tmp.File(name));
            Assert.Equal(17, back.Count);
            // Row identity from obs[i, 0] = i/2; every key must come from the same row.
            var rows = Enumerable.Range(
                0, back.Count).Select(k => (int)Math.Round(back.Observations[k * 11] * 2)).ToArray();
            for (var k = 0; k < rows.Length; k++)
            {
                Assert.Equal(Fixtures.Act(rows[k], 1), back.Actions[k * 3 + 1]);
                Assert.Equal(Fixtures.Rew(rows[k]), back.Rewards![k]);
                Assert.Equal(rows[k] == 14, back.Terminals![k]);
            }
            return rows;
        }
        var a = Rows("a.npz", 7);
        Assert.Equal(17, a.Distinct().Count());
        Assert.All(a, r => Assert.InRange(r, 0, 39));
        Assert.Equal(a, Rows("b.npz", 7));
        Assert.NotEqual(a, Rows("c.npz", 8));
        Assert.NotEqual(Enumerable.Range(0, 17), a); // shuffled, not the first rows
        // MaxSamples ≥ rows keeps every row in order, like the notebook.
        var all = DatasetConversion.H5ToNpz(
            new ConvertOptions(Fixtures.Path("d4rl_tiny_h5py.hdf5"), tmp.File("all.npz"), MaxSamples: 40));
        Assert.Equal(40, all.Rows);
    }

    [Fact]
    public void Permutation_prefix_is_a_prefix_of_the_full_shuffle()
    {
        var full = DatasetConversion.SeededPermutationPrefix(1000, 1000, 3);
        Assert.Equal(Enumerable.Range(0, 1000), full.Order());
        Assert.Equal(full[..10], DatasetConversion.SeededPermutationPrefix(1000, 10, 3));
    }

    [Fact]
    public void NaN_input_is_refused_unless_allowed_and_no_output_is_left()
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset(n: 30);
        ds.Actions[4] = float.NegativeInfinity;
        DatasetIO.SaveHdf5(tmp.File("bad.hdf5"), ds);
        var e = Assert.ThrowsAny<UserError>(
            () => DatasetConversion.H5ToNpz(new ConvertOptions(tmp.File("bad.hdf5"), tmp.File("out.npz"))));
        AssertOneLine.Message(e, "'actions' has 1 NaN/Inf value, first at row 1, column 1", "set AllowNonFinite");
        Assert.Equal([tmp.File("bad.hdf5")], Directory.GetFiles(tmp.Path));
        DatasetConversion.H5ToNpz(new ConvertOptions(tmp.File("bad.hdf5"), tmp.File("out.npz"), AllowNonFinite: true));
        Assert.True(float.IsNegativeInfinity(DatasetIO.Load(tmp.File("out.npz"), allowNonFinite: true).Actions[4]));
    }

    [Fact]
    public void Unwritable_output_folder_fails_before_reading_with_one_line()
    {
        var unwritable = new ConvertOptions(Fixtures.Path("d4rl_tiny_h5py.hdf5"), "/proc/o2o-test/out.npz");
        var e = Assert.ThrowsAny<UserError>(() => DatasetConversion.H5ToNpz(unwritable));
        AssertOneLine.Message(e, "/proc/o2o-test", "writable");
        using var tmp = new TempDir();
        var same = Assert.Throws<OptionError>(
            () => DatasetConversion.H5ToNpz(new ConvertOptions(tmp.File("x.npz"), tmp.File("x.npz"))));
        AssertOneLine.Message(same, "is the input", "choose another OutputPath");
        Assert.Equal(["OutputPath"], same.Options);
    }
}
