using System.Globalization;
using O2O.Core;
using O2O.Data;
using O2O.Experiments;
using O2O.Learning.Dsr;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>
/// `o2o train-dsr`: the notebook's train_dsr.py — fit, calibrate and diagnose the Data Support Representation.
/// </summary>
public static class TrainDsrCommand
{
    /// <summary>Rows per pseudo-episode of a dataset without episode boundaries (a MuJoCo episode's maximum length).
    /// </summary>
    public const int BlockRows = 1000;


    public static readonly CommandSpec Spec = new(
        "train-dsr",
        "fit the Data Support Representation (flow or energy) on offline data; writes X_dsr.pt, X_dsr.json and plots",
        [
            .. CommonOptions.OfflineData,
            new("dsr_out", "where to write the DSR checkpoint (.pt); diagnostics go to the same name with .json "
                + "and _*.png", Required: true),
            DsrFlags.Flag(nameof(DsrOptions.Epochs), "passes over the training split", min: 1),
            DsrFlags.Flag(nameof(DsrOptions.BatchSize), "minibatch size", min: 2),
            CommonOptions.Device,
            DsrFlags.Flag(nameof(DsrOptions.Kind), "model family: flow (RealNVP, log-likelihood) or energy (InfoNCE)"),
            DsrFlags.Flag(nameof(DsrOptions.Support),
                "support mode recommended to the online phase: joint, conditional, state or gated "
                + "(all are calibrated)"),
            DsrFlags.Flag(nameof(DsrOptions.Score),
                "raw score sigma is calibrated on: logp, radius (flow only) or tempered"),
            DsrFlags.Flag(nameof(DsrOptions.Holdout), "fraction held out by episode for calibration and diagnostics"),
            DsrFlags.Flag(nameof(DsrOptions.Rho),
                "boundary quantile: sigma = 0.5 at the held-out rho-quantile, in (0, 0.5)"),
            new("ood_path",
                "another dataset of the same env (e.g. random-policy data) for the out-of-distribution AUROC"),
            DsrFlags.Flag(nameof(DsrOptions.Hidden), "hidden width of every conditioner / energy network",
                min: 2, max: 4096, note: $"{DsrOptions.DefaultHidden(DsrKind.Flow)} for flow, "
                    + $"{DsrOptions.DefaultHidden(DsrKind.Energy)} for energy"),
            DsrFlags.Flag(nameof(DsrOptions.CouplingLayers),
                "affine coupling layers per flow", "couplings", min: 2, max: 64),
            DsrFlags.Flag(nameof(DsrOptions.LearningRate), "Adam learning rate", "lr", min: 1e-8, max: 1),
            DsrFlags.Flag(nameof(DsrOptions.ActionNoise), "std of dequantisation noise added to actions while training",
                min: 0, max: 1),
            DsrFlags.Flag(nameof(DsrOptions.Temper), "temperature factor of --score tempered", min: 1, max: 1000),
            DsrFlags.Flag(nameof(DsrOptions.TorchThreads),
                "libtorch intra-op threads, 0 = every core; results are reproducible for a given count (the "
                + "checkpoint records it)", "threads", min: 0, max: 256, manual: true),
            DsrFlags.Flag(nameof(DsrOptions.Seed), "random seed"),
        ],
        Execute);

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var env = CommonOptions.OfflineEnv(a);
        var options = DsrFlags.Apply(a, new DsrOptions());
        options.Validate();
        var threads = O2O.Learning.Runtime.TorchRuntime.ResolveThreads(a.Int("threads", 0, 256));
        options = options with { TorchThreads = threads };
        var outPath = a.RequiredString("dsr_out");
        CommonOptions.UseDevice(a);
        O2O.Learning.Runtime.TorchRuntime.Configure(options.Seed, threads);
        AtomicFile.EnsureWritableFolder(outPath, "--dsr_out");

        var offlinePath = a.RequiredString("offline_path");
        var data = LoadChecked(offlinePath, env, "--offline_path");
        var (starts, splitNote) = EpisodeStartsFor(data);
        DsrOodSet? ood = null;
        if (a.String("ood_path") is { } oodPath)
        {
            var od = LoadChecked(oodPath, env, "--ood_path");
            ood = new DsrOodSet(od.Observations, od.Actions, od.ObsDim, od.ActDim,
                Path.GetFileNameWithoutExtension(oodPath));
        }
        ctx.Log($"train-dsr: {data.Count} pairs from '{offlinePath}', obs {data.ObsDim}, act {data.ActDim}, "
            + $"env {env.Id}; {splitNote}");

        using var model = DsrTrainer.Train(options, data.Observations, data.Actions, data.ObsDim, data.ActDim, starts,
            env.Id, ctx.Log, ood, data.Rewards);
        model.Save(outPath);
        if (model.RewardAbsMean is null)
            ctx.Log("the data has no rewards: give train-online --reward_scale C, C the offline data's mean |r|");
        var folder = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        var prefix = Path.Combine(folder, Path.GetFileNameWithoutExtension(outPath));
        var plots = DsrPlots.WriteAll(model.Diagnostics!, prefix);
        ctx.Log($"wrote {outPath}, {SupportModel.DiagnosticsPath(outPath)} and {plots.Count} plots "
            + $"({string.Join(", ", plots.Select(Path.GetFileName))})");
        return 0;
    }

    /// <summary>Load a dataset and check it against the env: dims, non-finite values, at least one row.</summary>
    internal static OfflineDataset LoadChecked(string path, EnvSpec env, string flag)
    {
        // Non-finite values are reported by the DSR's own check (which names the row) instead of the loader's hint
        // at a flag this command lacks.
        var ds = DatasetIO.Load(path, allowNonFinite: true);
        if (ds.Count == 0) throw new UserError($"{flag} '{path}' has no rows");
        if (ds.ObsDim != env.ObsDim || ds.ActDim != env.ActDim)
            throw new UserError(string.Create(CultureInfo.InvariantCulture,
                $"{flag} '{path}' has obs dim {ds.ObsDim} and action dim {ds.ActDim}, but {env.Id} has obs dim "
                + $"{env.ObsDim} and action dim {env.ActDim}; pass data of this env or fix --env_id"));
        var bad = ds.FindNonFinite().Where(r => r.Key is "observations" or "states" or "actions" or "rewards").ToList();
        if (bad.Count > 0)
            throw new UserError($"{flag} '{path}': {string.Join("; ", bad)}; "
                + "remove or repair non-finite values before training the DSR");
        return ds;
    }

    /// <summary>
    /// Episode starts for the held-out split. A file without terminals/timeouts (the notebook's states/actions NPZ)
    /// is one "episode": it is then cut into contiguous blocks of <see cref="BlockRows"/> rows, which are whole
    /// episodes at most when the rows are in time order, and random subsets when the conversion shuffled them.
    /// </summary>
    internal static (int[] Starts, string Note) EpisodeStartsFor(OfflineDataset data)
    {
        var starts = data.EpisodeStarts();
        if (starts.Length > 1) return (starts, $"{starts.Length} episodes (held out by episode)");
        var blocks = Enumerable.Range(0, (data.Count + BlockRows - 1) / BlockRows).Select(b => b * BlockRows).ToArray();
        return (blocks, $"no episode boundaries in the file: held out by contiguous blocks of {BlockRows} rows "
            + $"({blocks.Length} blocks)");
    }
}
