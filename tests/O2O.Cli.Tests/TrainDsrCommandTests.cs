using O2O.Data;
using O2O.Learning.Dsr;

namespace O2O.Cli.Tests;

/// <summary>`o2o train-dsr` in-process on tiny Hopper-shaped data: outputs, reward scale, one-line errors.</summary>
public class TrainDsrCommandTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cli-dsr-").FullName;

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    /// <summary>Hopper-shaped (11, 3) pairs; actions a smooth function of the state. Optional rewards and episode ends
    /// every 100 rows.</summary>
    string Write(string name, int rows, bool rewards = true, bool episodes = true, int obsDim = 11, int actDim = 3,
        bool nan = false)
    {
        var rng = new Random(7);
        var s = new float[rows * obsDim];
        var a = new float[rows * actDim];
        var r = new float[rows];
        var term = new bool[rows];
        for (var i = 0; i < rows; i++)
        {
            for (var j = 0; j < obsDim; j++) s[i * obsDim + j] = (float)(rng.NextDouble() * 2 - 1) * (j + 1);
            for (var j = 0; j < actDim; j++)
                a[i * actDim + j] = (float)Math.Tanh(s[i * obsDim + j % obsDim] + 0.1 * rng.NextDouble());
            r[i] = i % 2 == 0 ? 1f : -3f;
            term[i] = i % 100 == 99;
        }
        if (nan) s[5 * obsDim + 2] = float.NaN;
        var ds = new OfflineDataset(rows, obsDim, actDim, s, a, rewards ? r : null, terminals: episodes ? term : null);
        var path = Path.Combine(tmp, name);
        DatasetIO.SaveNpz(path, ds);
        return path;
    }

    string[] Args(string data, string outName, params string[] extra) =>
    [
        "train_dsr", "--offline_path", data, "--env_id", "Hopper-v4", "--dsr_out", Path.Combine(tmp, outName),
        "--epochs", "1", "--batch_size", "256", "--device", "cpu", "--hidden", "16", "--couplings", "2",
        "--threads", "1", .. extra,
    ];

    [Fact]
    public void Writes_checkpoint_diagnostics_and_plots_and_records_the_reward_scale()
    {
        var data = Write("d.npz", 3000);
        var ood = Write("ood.npz", 500);
        var r = CliHarness.Run(Args(data, "x_dsr.pt", "--ood_path", ood, "--support", "conditional"));
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("dsr epoch 1/1", r.Out);
        Assert.Contains("AUROC uniform", r.Out);
        Assert.Contains("30 episodes", r.Out);
        foreach (var f in new[] { "x_dsr.pt", "x_dsr.json", "x_dsr_support_curve_actions.png",
            "x_dsr_support_curve_states.png", "x_dsr_sigma_hist_joint.png" })
            Assert.True(File.Exists(Path.Combine(tmp, f)), f);
        using var model = SupportModel.Load(Path.Combine(tmp, "x_dsr.pt"), "Hopper-v4", 11, 3);
        Assert.Equal(2.0, model.RewardAbsMean!.Value, 6);
        Assert.Equal(SupportMode.Conditional, model.DefaultMode);
        var diag = DsrDiagnostics.FromJson(File.ReadAllText(Path.Combine(tmp, "x_dsr.json")));
        Assert.Equal(2.0, diag.RewardAbsMean!.Value, 6);
        Assert.NotNull(diag.Modes[0].AurocOod);
    }

    [Fact]
    public void Notebook_npz_without_rewards_or_episode_ends_splits_by_blocks_and_records_null()
    {
        var data = Write("nb.npz", 4000, rewards: false, episodes: false);
        var r = CliHarness.Run(Args(data, "nb_dsr.pt", "--kind", "energy"));
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("contiguous blocks of 1000 rows (4 blocks)", r.Out);
        Assert.Contains("--reward_scale", r.Out);
        using var model = SupportModel.Load(Path.Combine(tmp, "nb_dsr.pt"));
        Assert.Null(model.RewardAbsMean);
        Assert.Equal(DsrKind.Energy, model.Kind);
        Assert.Equal(SupportMode.Gated, model.DefaultMode); // the default when --support is not given
    }

    [Fact]
    public void Bad_input_gives_one_line_errors_and_writes_nothing()
    {
        var good = Write("g.npz", 3000);
        var cases = new (string[] Args, string[] Fragments)[]
        {
            (Args(Write("small.npz", 60), "a.pt"), ["too small", "held-out"]),
            (Args(Write("nan.npz", 3000, nan: true), "a.pt"), ["NaN", "row 5"]),
            (Args(good, "a.pt", "--kind", "gan"), ["--kind 'gan'", "flow, energy"]),
            (Args(good, "a.pt", "--support", "both"), ["--support 'both'", "joint, conditional, state, gated"]),
            (Args(good, "a.pt", "--score", "lp"), ["--score 'lp'", "logp, radius, tempered"]),
            (Args(good, "a.pt", "--rho", "0.6"), ["--rho", "(0, 0.5)"]),
            (Args(good, "a.pt", "--rho", "0"), ["--rho", "(0, 0.5)"]),
            (Args(good, "a.pt", "--ood_path", Write("ood5.npz", 200, obsDim: 5)), ["--ood_path", "obs dim 5",
                "obs dim 11"]),
            (Args(Write("obs5.npz", 3000, obsDim: 5), "a.pt"), ["--offline_path", "obs dim 5",
                "Hopper-v4 has obs dim 11"]),
            (Args(good, "a.pt", "--kind", "energy", "--score", "radius"), ["radius", "flow"]),
        };
        foreach (var (args, fragments) in cases)
        {
            var r = CliHarness.Run(args);
            CliHarness.AssertOneLineError(r, fragments);
            Assert.False(File.Exists(Path.Combine(tmp, "a.pt")), string.Join(' ', args));
        }
    }
}
