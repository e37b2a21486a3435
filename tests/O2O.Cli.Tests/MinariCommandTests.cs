using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Tests;

/// <summary>
/// A small Hopper-v5 Minari dataset made once per class with `data collect --format minari` (random policy),
/// plus the committed h5py fixture.
/// </summary>
public sealed class MinariData : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("o2o-cli-minari-").FullName;
    /// <summary>The collected dataset's folder.</summary>
    public string Hopper { get; }
    /// <summary>What `data collect` printed.</summary>
    public (int Code, string Out, string Err) Collect { get; }

    public MinariData()
    {
        Hopper = Path.Combine(Dir, "o2o", "hopper", "random-v0");
        Collect = CliHarness.Run("data", "collect", "--env_id", "Hopper-v5", "--format", "minari", "--out", Hopper,
            "--steps", "6000", "--seed", "2");
    }

    public static string Fixture(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tests", "fixtures", "minari", "mujoco", "hopper", name);
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException(name);
    }

    public string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(Dir,
        name + "-" + Guid.NewGuid().ToString("N")[..8])).FullName;

    public void Dispose() { try { Directory.Delete(Dir, true); } catch (IOException) { } }
}

/// <summary>Minari datasets through the commands: info, convert, the env from the spec, errors, `o2o run`.</summary>
public class MinariCommandTests(MinariData data) : IClassFixture<MinariData>
{
    [Fact]
    public void Collect_writes_a_Minari_dataset_labelled_as_generated()
    {
        Assert.True(data.Collect.Code == 0, data.Collect.Err + data.Collect.Out);
        Assert.True(File.Exists(Path.Combine(data.Hopper, "data", "main_data.hdf5")));
        Assert.True(File.Exists(Path.Combine(data.Hopper, "data", "metadata.json")));
        var ds = DatasetIO.Load(data.Hopper);
        Assert.Equal(6000, ds.Count);
        Assert.Equal("Hopper-v5", ds.Metadata["env_id"]);
        Assert.Equal("o2o/hopper/random-v0", ds.Metadata["dataset_id"]);
        Assert.Contains("not a D4RL download", ds.Metadata["generated_by"]);
        Assert.Contains("hopper_v5:HopperEnv", ds.Metadata["env_spec"]);
    }

    [Fact]
    public void Info_names_the_env_from_the_spec_and_scores_by_the_datasets_own_reference_returns()
    {
        var r = CliHarness.Run("data", "info", MinariData.Fixture("tiny-v0"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("(Minari)", r.Out);
        Assert.Contains("Hopper-v5 (from the Minari env spec)", r.Out);
        Assert.Contains("episodes:         3 (3 complete)", r.Out);
        Assert.Contains("the dataset's own reference returns: 100·(R − -20)/(3000 − -20)", r.Out);
        var generated = CliHarness.Run("data", "info", data.Hopper);  // no reference returns: D4RL's, with a note
        Assert.True(generated.Code == 0, generated.Err);
        Assert.Contains("D4RL's table — the Minari dataset has no ref_min_score/ref_max_score", generated.Out);
    }

    [Fact]
    public void Convert_writes_next_states_from_the_episodes()
    {
        var npz = Path.Combine(data.NewFolder("convert"), "tiny.npz");
        var r = CliHarness.Run("data", "convert", "--h5", MinariData.Fixture("tiny-v0"), "--out", npz);
        Assert.True(r.Code == 0, r.Err);
        var arrays = Npz.Read(npz);
        Assert.Equal([9, 11], arrays["next_states"].Shape);
        Assert.Equal(4.0f, arrays["next_states"].ToFloat32()[3 * 11]);  // episode 0's final observation
    }

    [Fact]
    public void Train_dsr_and_pretrain_bc_take_the_env_from_the_spec()
    {
        var dir = data.NewFolder("from-spec");
        var dsr = CliHarness.Run("train-dsr", "--offline_path", data.Hopper, "--dsr_out", Path.Combine(dir, "d.pt"),
            "--epochs", "1", "--batch_size", "256", "--threads", "1");
        Assert.True(dsr.Code == 0, dsr.Err + dsr.Out);
        Assert.Contains("env Hopper-v5", dsr.Out);
        var bc = CliHarness.Run("pretrain-bc", "--offline_path", data.Hopper, "--env_id", "Hopper-v5",
            "--out_actor", Path.Combine(dir, "bc.pt"), "--epochs", "1", "--eval_episodes", "1");
        Assert.True(bc.Code == 0, bc.Err + bc.Out);
        Assert.Contains("env Hopper-v5", bc.Out);
        Assert.Contains("D4RL normalised", bc.Out);  // the collected data has no reference returns of its own
    }

    [Theory]
    [InlineData("train-dsr", "--dsr_out", "d.pt")]
    [InlineData("pretrain-bc", "--out_actor", "a.pt")]
    [InlineData("train-offline", "--out", "agent.pt")]
    public void A_different_env_id_is_a_one_line_error(string command, string outFlag, string outName)
    {
        var dir = data.NewFolder("mismatch");
        var r = CliHarness.Run(command, "--offline_path", MinariData.Fixture("tiny-v0"), "--env_id", "Hopper-v4",
            outFlag, Path.Combine(dir, outName));
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "was recorded in Hopper-v5 (its Minari env spec) but --env_id is Hopper-v4");
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void An_env_not_registered_here_lists_the_registered_ones()
    {
        var folder = Path.Combine(data.NewFolder("ant"), "ant-v0");
        var tiny = DatasetIO.Load(MinariData.Fixture("tiny-v0"));
        Minari.Save(folder, tiny, new MinariWriteInfo("mujoco/ant/tiny-v0", "Ant-v5"));
        var r = CliHarness.Run("train-dsr", "--offline_path", folder, "--dsr_out", Path.Combine(folder, "d.pt"));
        CliHarness.AssertOneLineError(r, "was recorded in Ant-v5, which O2O does not simulate",
            "registered here: Hopper-v4, Walker2d-v4, HalfCheetah-v4, Hopper-v5, Walker2d-v5, HalfCheetah-v5");
        var run = CliHarness.Run("run", "--dataset", folder, "--root", data.NewFolder("ant-run"));
        CliHarness.AssertOneLineError(run, "Ant-v5", "registered here");
    }

    [Fact]
    public void Env_spec_arguments_that_change_the_env_are_refused()
    {
        var folder = Path.Combine(data.NewFolder("kwargs"), "k-v0");
        var tiny = DatasetIO.Load(MinariData.Fixture("tiny-v0"));
        Minari.Save(folder, tiny, new MinariWriteInfo("mujoco/hopper/k-v0", "Hopper-v5",
            "{\"id\": \"Hopper-v5\", \"kwargs\": {\"render_mode\": \"rgb_array\", \"ctrl_cost_weight\": 0.01}}"));
        var r = CliHarness.Run("train-dsr", "--offline_path", folder, "--dsr_out", Path.Combine(folder, "d.pt"));
        CliHarness.AssertOneLineError(r, "makes Hopper-v5 with ctrl_cost_weight=0.01", "default arguments only");
    }

    [Fact]
    public void Without_a_Minari_dataset_env_id_is_still_required_and_bad_folders_say_so()
    {
        var dir = data.NewFolder("plain");
        var npz = Path.Combine(dir, "x.npz");
        Assert.Equal(0, CliHarness.Run("data", "convert", "--h5", data.Hopper, "--out", npz).Code);
        var r = CliHarness.Run("train-dsr", "--offline_path", npz, "--dsr_out", Path.Combine(dir, "d.pt"));
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--env_id is required", "only Minari datasets do");
        var missing = CliHarness.Run("train-dsr", "--offline_path", Path.Combine(dir, "nope.npz"), "--dsr_out",
            Path.Combine(dir, "d.pt"));
        CliHarness.AssertOneLineError(missing, "does not exist");
        var empty = data.NewFolder("empty");
        var notMinari = CliHarness.Run("train-dsr", "--offline_path", empty, "--dsr_out", Path.Combine(dir, "d.pt"));
        CliHarness.AssertOneLineError(notMinari, "is a folder but not a Minari dataset");
        var info = CliHarness.Run("data", "info", empty);
        CliHarness.AssertOneLineError(info, "is a folder but not a Minari dataset");
        var run = CliHarness.Run("run", "--dataset", empty, "--root", data.NewFolder("r"));
        CliHarness.AssertOneLineError(run, "is a folder but not a Minari dataset");
        var both = CliHarness.Run("run", "--dataset", data.Hopper, "--task", "hopper-medium-v2");
        Assert.Equal(2, both.Code);
        CliHarness.AssertOneLineError(both, "--task or --dataset, not both");
    }

    [Fact]
    public void Run_on_a_Minari_folder_goes_end_to_end_on_the_smoke_profile()
    {
        var root = data.NewFolder("run");
        var r = CliHarness.Run("run", "--dataset", data.Hopper, "--profile", "smoke", "--root", root,
            "--total_steps", "4096", "--steps_per_epoch", "2048");
        Assert.True(r.Code == 0, r.Err + r.Out);
        string[] expected =
        [
            "data/o2o_hopper_random_v0.npz", "checkpts/o2o_hopper_random_v0_dsr.pt",
            "checkpts/o2o_hopper_random_v0_bc_actor.pt", "logs/o2o_hopper_random_v0_bc_dsr_s1.csv",
            "logs/o2o_hopper_random_v0_bc_dsr_s1_summary.md",
        ];
        foreach (var f in expected) Assert.True(File.Exists(Path.Combine(root, f)), $"missing {f}\n{r.Out}");
        Assert.Contains("o2o/hopper/random-v0 → Hopper-v5", r.Out);
        Assert.Contains("Minari layout, generated here", r.Out);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(root, "logs/o2o_hopper_random_v0_bc_dsr_s1.csv")).Length);
    }
}
