using System.Text.Json.Nodes;
using O2O.Core;
using PureHDF;

namespace O2O.Data.Tests;

/// <summary>
/// Minari's layout: the h5py-written fixtures (tests/fixtures/make_minari_fixtures.py), where datasets are found,
/// flattening with next observations across episode boundaries, writing it here, and every bad input.
/// </summary>
public class MinariTests
{
    // The fixture's formulas (make_minari_fixtures.py): three episodes of 4, 3 and 2 steps.
    static readonly int[] Steps = [4, 3, 2];
    static float Obs(int e, int t, int j) => (float)(100 * e + t + 0.01 * j);
    static float Act(int e, int t, int k) => (float)((10 * e + t - k) / 40.0);
    static float Rew(int e, int t) => (float)(e + 0.1 * t);

    static string Fixture(string name) => Fixtures.Path(Path.Combine("minari", "mujoco", "hopper", name));

    [Theory]
    [InlineData("tiny-v0")]        // metadata in data/metadata.json (Minari 0.5 and later)
    [InlineData("tiny-attrs-v0")]  // metadata as root attributes (Minari 0.4)
    public void The_h5py_fixture_flattens_to_the_rows_of_its_episodes_with_their_final_observations(string name)
    {
        var ds = DatasetIO.Load(Fixture(name));
        Assert.Equal(9, ds.Count);
        Assert.Equal(11, ds.ObsDim);
        Assert.Equal(3, ds.ActDim);
        var row = 0;
        for (var e = 0; e < 3; e++)
            for (var t = 0; t < Steps[e]; t++, row++)
            {
                for (var j = 0; j < 11; j++)
                {
                    Assert.Equal(Obs(e, t, j), ds.Observations[row * 11 + j]);
                    // The next observation is the episode's own next row — the final observation on the last step,
                    // never the first observation of the next episode.
                    Assert.Equal(Obs(e, t + 1, j), ds.NextObservations![row * 11 + j]);
                }
                for (var k = 0; k < 3; k++) Assert.Equal(Act(e, t, k), ds.Actions[row * 3 + k]);
                Assert.Equal(Rew(e, t), ds.Rewards![row]);
            }
        Assert.Equal([false, false, false, true, false, false, false, false, true], ds.Terminals!);
        Assert.Equal([false, false, false, false, false, false, true, false, false], ds.Timeouts!);
        Assert.Equal([0, 4, 7], ds.EpisodeStarts());
        Assert.True(ds.LastEpisodeComplete);
        Assert.Same(ds, ds.ToQLearningTransitions());  // next observations are stored: no row is dropped
    }

    [Fact]
    public void Next_observations_across_the_boundaries_by_hand()
    {
        var ds = DatasetIO.Load(Fixture("tiny-v0"));
        float Next(int row, int j) => ds.NextObservations![row * 11 + j];
        float Cur(int row, int j) => ds.Observations[row * 11 + j];
        Assert.Equal(4.00f, Next(3, 0));     // episode 0's final observation (t = 4), not row 4's 100
        Assert.Equal(100.00f, Cur(4, 0));    // episode 1 starts from its own reset observation
        Assert.Equal(103.05f, Next(6, 5));   // episode 1's final observation (t = 3), column 5
        Assert.Equal(200.00f, Cur(7, 0));
        Assert.Equal(202.10f, Next(8, 10));  // the last episode's final observation
        Assert.Equal(Cur(1, 2), Next(0, 2)); // inside an episode: the next row
    }

    [Theory]
    [InlineData("tiny-v0")]
    [InlineData("tiny-attrs-v0")]
    public void Metadata_gives_the_id_the_env_the_totals_and_the_reference_scores(string name)
    {
        var m = DatasetIO.Load(Fixture(name)).Metadata;
        Assert.Equal("minari", m["format"]);
        Assert.Equal("mujoco/hopper/tiny-v0", m["dataset_id"]);
        Assert.Equal("Hopper-v5", m["env_id"]);
        Assert.Contains("hopper_v5:HopperEnv", m["env_spec"]);
        Assert.Equal("3", m["total_episodes"]);
        Assert.Equal("9", m["total_steps"]);
        Assert.Equal((-20.0, 3000.0), Minari.ReferenceScores(m));
        Assert.Equal("o2o test fixture", m["algorithm_name"]);
        Assert.False(m.ContainsKey("o2o/cut_episodes"));
    }

    [Fact]
    public void A_dataset_is_found_by_its_folder_its_data_folder_its_file_or_its_id_under_the_root()
    {
        var folder = Fixture("tiny-v0");
        var file = Path.Combine(folder, "data", "main_data.hdf5");
        Assert.Equal(file, Minari.Locate(folder));
        Assert.Equal(file, Minari.Locate(Path.Combine(folder, "data")));
        Assert.Equal(file, Minari.Locate(file));
        Assert.Null(Minari.Locate(Fixtures.Path("d4rl_tiny_h5py.hdf5")));  // a D4RL file is not Minari
        Assert.Null(Minari.Locate(Fixtures.Path("no-such-file.hdf5")));
        var saved = Environment.GetEnvironmentVariable(Minari.RootVariable);
        try
        {
            Environment.SetEnvironmentVariable(Minari.RootVariable, Fixtures.Path("minari"));
            Assert.Equal(Path.Combine(Fixtures.Path("minari"), "mujoco", "hopper", "tiny-v0", "data",
                "main_data.hdf5"), Minari.Locate("mujoco/hopper/tiny-v0"));
            Assert.Equal(9, DatasetIO.Load("mujoco/hopper/tiny-v0").Count);
            var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load("mujoco/hopper/huge-v0"));
            AssertOneLine.Message(e, "no Minari dataset 'mujoco/hopper/huge-v0'", Fixtures.Path("minari"),
                Minari.RootVariable);
        }
        finally { Environment.SetEnvironmentVariable(Minari.RootVariable, saved); }
        Assert.True(Minari.LooksLikeId("mujoco/hopper/medium-v0"));
        Assert.True(Minari.LooksLikeId("door-human-v1"));
        Assert.False(Minari.LooksLikeId("data/hopper.hdf5"));
        Assert.False(Minari.LooksLikeId("hopper_medium.npz"));
    }

    /// <summary>A dataset whose next observations agree with the next row inside each episode.</summary>
    static OfflineDataset Consistent(int n = 300, int seed = 1)
    {
        var ds = Make.Dataset(n, seed: seed);
        var next = new float[ds.Observations.Length];
        var d = ds.ObsDim;
        var r = new Random(seed + 100);
        for (var i = 0; i < n; i++)
        {
            if (i + 1 < n && !ds.EndsEpisode(i)) Array.Copy(ds.Observations, (i + 1) * d, next, i * d, d);
            else for (var j = 0; j < d; j++) next[i * d + j] = (float)r.NextDouble();
        }
        return new OfflineDataset(n, d, ds.ActDim, ds.Observations, ds.Actions, ds.Rewards, next, ds.Terminals,
            ds.Timeouts, metadata: ds.Metadata);
    }

    [Fact]
    public void A_dataset_written_here_in_Minari_layout_reads_back_identically()
    {
        using var tmp = new TempDir();
        var ds = Consistent();
        var folder = tmp.File("o2o/hopper/test-v0");
        Minari.Save(folder, ds, new MinariWriteInfo("o2o/hopper/test-v0", "Hopper-v5", RefMinScore: -20,
            RefMaxScore: 3000));
        Assert.True(File.Exists(Path.Combine(folder, "data", "main_data.hdf5")));
        Assert.True(File.Exists(Path.Combine(folder, "data", "metadata.json")));
        var back = DatasetIO.Load(folder);
        Fixtures.AssertSameTransitions(ds, back);
        foreach (var (k, v) in ds.Metadata.Where(kv => kv.Key != "env_id"))
            Assert.Equal(v, back.Metadata[k]);  // generated_by and the rest are kept
        Assert.Equal("Hopper-v5", back.Metadata["env_id"]);  // the env spec's id wins over the old entry
        Assert.Equal((-20.0, 3000.0), Minari.ReferenceScores(back.Metadata));
        Assert.Equal(ds.EpisodeStarts().Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            back.Metadata["total_episodes"]);
        // The root attributes alone (Minari 0.4's place) say the same.
        File.Delete(Path.Combine(folder, "data", "metadata.json"));
        var attrsOnly = DatasetIO.Load(folder);
        Fixtures.AssertSameTransitions(ds, attrsOnly);
        Assert.Equal("o2o/hopper/test-v0", attrsOnly.Metadata["dataset_id"]);
        Assert.Equal((-20.0, 3000.0), Minari.ReferenceScores(attrsOnly.Metadata));
    }

    [Fact]
    public void The_fixture_written_again_here_reads_back_identically()
    {
        using var tmp = new TempDir();
        var ds = DatasetIO.Load(Fixture("tiny-v0"));
        Minari.Save(tmp.File("copy"), ds, new MinariWriteInfo("mujoco/hopper/tiny-v0", "Hopper-v5"));
        Fixtures.AssertSameTransitions(ds, DatasetIO.Load(tmp.File("copy")));
    }

    [Fact]
    public void The_same_data_as_D4RL_and_as_Minari_converts_to_identical_NPZ()
    {
        using var tmp = new TempDir();
        var ds = Consistent(500, seed: 3);
        DatasetIO.SaveHdf5(tmp.File("d4rl.hdf5"), ds);
        Minari.Save(tmp.File("minari"), ds, new MinariWriteInfo("o2o/hopper/same-v0", "Hopper-v5"));
        var a = DatasetConversion.H5ToNpz(new ConvertOptions(tmp.File("d4rl.hdf5"), tmp.File("a.npz")));
        var b = DatasetConversion.H5ToNpz(new ConvertOptions(tmp.File("minari"), tmp.File("b.npz")));
        Assert.Equal(a.Keys, b.Keys);
        var na = Npz.Read(tmp.File("a.npz"));
        var nb = Npz.Read(tmp.File("b.npz"));
        Assert.Equal(na.Keys.Order(), nb.Keys.Order());
        foreach (var k in na.Keys)
        {
            Assert.Equal(na[k].Shape, nb[k].Shape);
            Assert.Equal(na[k].DType, nb[k].DType);
            Assert.Equal(na[k].ToFloat64(), nb[k].ToFloat64());
        }
        Assert.Equal(File.ReadAllBytes(tmp.File("a.npz")), File.ReadAllBytes(tmp.File("b.npz")));
    }

    [Fact]
    public void An_episode_cut_without_a_flag_gets_a_timeout_so_the_boundary_survives()
    {
        using var tmp = new TempDir();
        var file = tmp.File("cut/data/main_data.hdf5");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var f = new H5File();
        for (var e = 0; e < 2; e++) f[$"episode_{e}"] = Episode(e, steps: 3, endFlag: false);
        f.Write(file);
        var ds = DatasetIO.Load(tmp.File("cut"));
        Assert.Equal([false, false, true, false, false, false], ds.Timeouts!);  // not the last episode's end
        Assert.Equal("1", ds.Metadata["o2o/cut_episodes"]);
        Assert.Equal([0, 3], ds.EpisodeStarts());
    }

    /// <summary>An episode group as h5py would write it (float64 observations, bool flags), for the error cases.
    /// </summary>
    static H5Group Episode(int e, int steps = 3, bool endFlag = true, string? drop = null, bool dictObs = false,
        int obsRows = -1)
    {
        obsRows = obsRows < 0 ? steps + 1 : obsRows;
        var obs = new double[obsRows * 11];
        for (var i = 0; i < obs.Length; i++) obs[i] = e * 100 + i * 0.01;
        var term = new bool[steps];
        term[^1] = endFlag;
        var g = new H5Group
        {
            ["observations"] = dictObs
                ? new H5Group { ["position"] = new H5Dataset<double[]>(obs, fileDims: [(ulong)obsRows, 11]) }
                : new H5Dataset<double[]>(obs, fileDims: [(ulong)obsRows, 11]),
            ["actions"] = new H5Dataset<float[]>(new float[steps * 3], fileDims: [(ulong)steps, 3]),
            ["rewards"] = new double[steps],
            ["terminations"] = Array.ConvertAll(term, b => b ? (byte)1 : (byte)0),
            ["truncations"] = new byte[steps],
            ["infos"] = new H5Group { ["x"] = new double[steps + 1] },
        };
        if (drop is not null) g.Remove(drop);
        return g;
    }

    static Exception LoadError(TempDir tmp, Action<H5File> build, string? metadataJson = null)
    {
        var folder = tmp.File("bad-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(Path.Combine(folder, "data"));
        var f = new H5File();
        build(f);
        f.Write(Path.Combine(folder, "data", "main_data.hdf5"));
        if (metadataJson is not null) File.WriteAllText(Path.Combine(folder, "data", "metadata.json"), metadataJson);
        return Assert.ThrowsAny<UserError>(() => DatasetIO.Load(folder));
    }

    [Theory]
    [InlineData("rewards")]
    [InlineData("truncations")]
    [InlineData("observations")]
    public void An_episode_group_missing_a_key_is_a_one_line_error_naming_it(string key)
    {
        using var tmp = new TempDir();
        var e = LoadError(tmp, f => { f["episode_0"] = Episode(0); f["episode_1"] = Episode(1, drop: key); });
        AssertOneLine.Message(e, "episode_1 has no '" + key + "'", "observations, actions, rewards, terminations");
    }

    [Fact]
    public void Dict_observations_are_not_supported_whether_the_metadata_or_the_file_says_so()
    {
        using var tmp = new TempDir();
        var byGroup = LoadError(tmp, f => f["episode_0"] = Episode(0, dictObs: true));
        AssertOneLine.Message(byGroup, "episode_0/observations is a group", "Dict observation spaces are not supported");
        const string dictSpace = "{\"observation_space\": \"{\\\"type\\\": \\\"Dict\\\", \\\"subspaces\\\": {}}\"}";
        var byMeta = LoadError(tmp, f => f["episode_0"] = Episode(0), dictSpace);
        AssertOneLine.Message(byMeta, "observation space is a Dict space", "not supported");
    }

    [Fact]
    public void Observation_rows_must_be_one_more_than_the_steps()
    {
        using var tmp = new TempDir();
        var e = LoadError(tmp, f => f["episode_0"] = Episode(0, steps: 3, obsRows: 3));
        AssertOneLine.Message(e, "episode_0", "'observations' has 3 rows and 'actions' 3", "one more observation");
    }

    [Fact]
    public void Fewer_episode_groups_than_the_metadata_counts_is_an_incomplete_download()
    {
        using var tmp = new TempDir();
        var e = LoadError(tmp, f => f["episode_0"] = Episode(0), "{\"total_episodes\": 5}");
        AssertOneLine.Message(e, "1 episode groups", "total_episodes = 5", "download");
    }

    [Fact]
    public void Bad_metadata_json_is_a_one_line_error()
    {
        using var tmp = new TempDir();
        var e = LoadError(tmp, f => f["episode_0"] = Episode(0), "{not json");
        AssertOneLine.Message(e, "metadata.json", "not valid JSON");
    }

    [Fact]
    public void A_folder_that_is_not_a_Minari_dataset_says_what_it_expected()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("empty"));
        var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("empty")));
        AssertOneLine.Message(e, "is a folder but not a Minari dataset", "data/main_data.hdf5",
            "mujoco/hopper/medium-v0");
        // An HDF5 file with neither D4RL keys nor episode groups.
        Directory.CreateDirectory(tmp.File("odd/data"));
        new H5File { ["something"] = new double[3] }.Write(tmp.File("odd/data/main_data.hdf5"));
        var e2 = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("odd")));
        AssertOneLine.Message(e2, "no episode_N groups", "something", "not a Minari dataset");
    }

    [Fact]
    public void Writing_needs_next_observations_that_agree_with_the_next_row()
    {
        using var tmp = new TempDir();
        var noNext = Make.Dataset(50);
        noNext = new OfflineDataset(50, 11, 3, noNext.Observations, noNext.Actions, noNext.Rewards, null,
            noNext.Terminals, noNext.Timeouts);
        var info = new MinariWriteInfo("o2o/hopper/x-v0", "Hopper-v5");
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => Minari.Save(tmp.File("a"), noNext, info)),
            "no next observations");
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => Minari.Save(tmp.File("b"), Make.Dataset(50), info)),
            "next observation of row 0 differs from row 1", "D4RL HDF5");
        Assert.False(Directory.Exists(tmp.File("b/data")) && File.Exists(tmp.File("b/data/main_data.hdf5")));
        File.WriteAllText(tmp.File("file"), "x");
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => Minari.Save(tmp.File("file"), Consistent(), info)),
            "is a file");
    }

    [PythonFact]
    public void H5py_reads_the_layout_written_here_as_Minari_documents_it()
    {
        using var tmp = new TempDir();
        var ds = Consistent(120, seed: 5);
        Minari.Save(tmp.Path, ds, new MinariWriteInfo("o2o/hopper/py-v0", "Hopper-v5"));
        var (code, stdout, stderr) = Python.Run("""
            import sys, json, h5py, numpy as np
            d = sys.argv[1] + '/data/'
            meta = json.load(open(d + 'metadata.json'))
            with h5py.File(d + 'main_data.hdf5', 'r') as f:
                eps = sorted((k for k in f if k.startswith('episode_')), key=lambda k: int(k[8:]))
                steps = 0
                for i, k in enumerate(eps):
                    g = f[k]
                    n = g['actions'].shape[0]
                    assert g['observations'].shape == (n + 1, 11), k
                    assert g['rewards'].shape == (n,) and g['terminations'].dtype == bool, k
                    assert g['terminations'][-1] or g['truncations'][-1] or i == len(eps) - 1, k
                    steps += n
                assert f.attrs['total_steps'] == steps == meta['total_steps']
                assert json.loads(meta['env_spec'])['id'] == 'Hopper-v5'
                assert json.loads(meta['observation_space'])['shape'] == [11]
                print(len(eps), steps)
            """, tmp.Path);
        Assert.True(code == 0, stderr);
        Assert.Equal($"{ds.EpisodeStarts().Length} 120", stdout.Trim());
        Assert.Equal("o2o/hopper/py-v0", JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, "data",
            "metadata.json")))!["dataset_id"]!.GetValue<string>());
    }
}
