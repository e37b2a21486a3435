using System.Diagnostics;
using System.Globalization;
using System.Text;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Bc;
using O2O.Learning.Dsr;
using O2O.Learning.Ppo;
using O2O.Sim;

namespace O2O.Experiments;

/// <summary>Settings of `o2o run`: the notebook's configuration cell as a record.</summary>
public sealed record PipelineOptions
{
    /// <summary>D4RL task name, e.g. hopper-medium-v2.</summary>
    public string Task { get; init; } = "hopper-medium-v2";
    /// <summary>
    /// A Minari dataset (its folder, its main_data.hdf5, or its id such as mujoco/hopper/medium-v0 under
    /// MINARI_DATASETS_PATH or ~/.minari/datasets) to use instead of <see cref="Task"/>'s D4RL data; its env spec
    /// gives the env. Null uses <see cref="Task"/>.
    /// </summary>
    public string? Dataset { get; init; }
    /// <summary>Root folder holding data/, checkpts/ and logs/ (the notebook's DRIVE_ROOT).</summary>
    public string Root { get; init; } = "o2o-root";
    /// <summary>Pretrain the actor by behaviour cloning (the notebook's RUN_BC).</summary>
    public bool RunBc { get; init; } = true;
    /// <summary>"default" (the notebook's budgets) or "smoke" (a 1–2 minute end-to-end check).</summary>
    public string Profile { get; init; } = "default";
    /// <summary>Seed of every phase.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Try the D4RL server before generating data locally.</summary>
    public bool Download { get; init; } = true;
    /// <summary>D4RL server base URL; null = the download's default.</summary>
    public string? BaseUrl { get; init; }
    /// <summary>Seconds without progress before the download gives up.</summary>
    public double DownloadTimeout { get; init; } = 20;

    // The notebook's budgets. Where they equal the library's defaults they are read from its records, so that
    // a default lives in one place; only the online budget is the notebook's own.
    static readonly PpoOptions Ppo = new() { EnvId = "" };
    static readonly DsrOptions Dsr = new();
    static readonly BcOptions Bc = new() { EnvId = "" };

    /// <summary>Online env steps of the PPO phase (the notebook's 300k, not PPO's default).</summary>
    public long TotalSteps { get; init; } = 300_000;
    /// <summary>Online env steps per PPO epoch.</summary>
    public int StepsPerEpoch { get; init; } = Ppo.StepsPerEpoch;
    /// <summary>Minibatch size of the online update.</summary>
    public int MinibatchSize { get; init; } = Ppo.MinibatchSize;
    /// <summary>Passes over each rollout.</summary>
    public int TrainIters { get; init; } = Ppo.TrainIters;
    /// <summary>Passes of DSR training over the offline data.</summary>
    public int DsrEpochs { get; init; } = Dsr.Epochs;
    /// <summary>DSR minibatch.</summary>
    public int DsrBatch { get; init; } = Dsr.BatchSize;
    /// <summary>Behaviour-cloning epochs.</summary>
    public int BcEpochs { get; init; } = Bc.Epochs;
    /// <summary>Behaviour-cloning minibatch.</summary>
    public int BcBatch { get; init; } = Bc.BatchSize;
    /// <summary>Transitions of a locally generated dataset (D4RL's medium sets have 1M).</summary>
    public int GeneratedSteps { get; init; } = 1_000_000;
    /// <summary>Most env steps the behaviour policy of a generated dataset trains for.</summary>
    public long BehaviourBudget { get; init; } = 1_000_000;
    /// <summary>Deterministic evaluation episodes (BC and online).</summary>
    public int EvalEpisodes { get; init; } = Ppo.EvalEpisodes;
    /// <summary>
    /// libtorch threads for the offline phases (DSR, BC): 0 = every core. The DSR's results do not depend on it
    /// here; BC's are reproducible per count (1 gives the actors of builds before 2026-11-28).
    /// </summary>
    public int TorchThreads { get; init; }
    /// <summary>How the frozen DSR shapes the online phase.</summary>
    public DsrShapingOptions Shaping { get; init; } = new();
}

/// <summary>
/// The named profiles of `o2o run`, the one place their budgets are written: "default" is the record's own
/// defaults (the notebook's budgets), "smoke" the same pipeline on budgets that finish in a minute or two.
/// </summary>
public static class PipelineProfiles
{
    /// <summary>The notebook's budgets.</summary>
    public static PipelineOptions Default { get; } = new();

    /// <summary>A 1–2 minute end-to-end check.</summary>
    public static PipelineOptions Smoke { get; } = Default with
    {
        Profile = "smoke",
        TotalSteps = 8192, StepsPerEpoch = 2048, MinibatchSize = 256, TrainIters = 4,
        DsrEpochs = 2, DsrBatch = 1024, BcEpochs = 2, BcBatch = 512,
        GeneratedSteps = 20_000, BehaviourBudget = 20_480, EvalEpisodes = 3,
    };

    /// <summary>Every profile, the default first.</summary>
    public static IReadOnlyList<PipelineOptions> All { get; } = [Default, Smoke];

    /// <summary>The profiles' names, as --profile accepts them.</summary>
    public static string[] Names => [.. All.Select(p => p.Profile)];

    /// <summary>The profile called <paramref name="name"/>.</summary>
    public static PipelineOptions Named(string name) =>
        All.FirstOrDefault(p => p.Profile == name)
        ?? throw new UserError($"unknown profile '{name}'; expected one of: {string.Join(", ", Names)}");
}

/// <summary>Wall time and outcome of each phase, and the learning-curve summary.</summary>
public sealed record PipelineSummary(
    string Task, string DatasetPath, string DatasetOrigin, int Transitions, int Episodes, double? BehaviourScore,
    double? BcScore, CurveMetrics? Online, IReadOnlyDictionary<string, double> PhaseSeconds, string CsvPath,
    string PlotPath, string SummaryPath)
{
    /// <summary>
    /// The behaviour data's score by a Minari dataset's own reference returns (null without them); the other scores
    /// use D4RL's table, as the online evaluation does.
    /// </summary>
    public double? DatasetScore { get; init; }

    /// <summary>libtorch threads the DSR or BC phase trained on in this run (null: both were cached).</summary>
    public int? OfflineThreads { get; init; }
}

/// <summary>
/// The notebook as code: data → NPZ → DSR → BC → online PPO with the DSR, with the notebook's names
/// and layout under a root folder. Every artefact that exists is reused, so a second run only does
/// what is missing (an interrupted online run resumes from its checkpoint).
/// </summary>
public static class Pipeline
{
    public static PipelineSummary Run(PipelineOptions o, Action<string> log, CancellationToken ct = default)
    {
        var given = o.Dataset is { } path ? MinariSource(path) : null;
        var task = given is null ? D4rlTask.Parse(o.Task) : null;
        var env = given?.Env ?? task!.Env.EnvId;
        var label = given?.Id ?? task!.Name;
        // hopper_medium as in the notebook; a Minari id mujoco/hopper/medium-v0 gives mujoco_hopper_medium_v0.
        var stem = task?.Name.Replace("-v2", "").Replace('-', '_')
            ?? string.Concat(given!.Id.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_'));
        var layout = new RunLayout(o.Root);
        foreach (var d in new[] { layout.DataDir, layout.CheckpointDir, layout.LogDir })
            AtomicFile.EnsureWritableFolder(Path.Combine(d, "x"), "folder");
        using var runLock = RunLock.Acquire(o.Root, "run root", log);  // one run per root
        var h5 = given?.Path ?? Path.Combine(layout.DataDir, task!.LocalFileName);
        var npz = Path.Combine(layout.DataDir, stem + ".npz");
        var dsrPath = Path.Combine(layout.CheckpointDir, stem + "_dsr.pt");
        var bcPath = Path.Combine(layout.CheckpointDir, stem + "_bc_actor.pt");
        var phases = new Dictionary<string, double>();
        var offlineThreads = O2O.Learning.Runtime.TorchRuntime.ResolveThreads(o.TorchThreads);
        int? trainedOn = null;
        var clock = Stopwatch.StartNew();
        void Phase(string name) { phases[name] = clock.Elapsed.TotalSeconds; clock.Restart(); }
        log($"o2o run: {label} → {env}, profile {o.Profile}, root {Path.GetFullPath(o.Root)}");

        // 1. Data: a Minari dataset given; else a file in place, else the D4RL server, else generated here (cached).
        var origin = given?.Origin ?? EnsureData(o, task!, h5, layout, log, ct);
        Phase("data");
        ct.ThrowIfCancellationRequested();

        // 2. The notebook's conversion (states/actions, plus rewards/terminals/timeouts when present).
        if (!File.Exists(npz))
        {
            var c = DatasetConversion.H5ToNpz(new ConvertOptions(h5, npz));
            log($"converted {h5} → {npz} ({c.Rows} rows)");
        }
        else log($"found {npz}");
        var data = DatasetIO.Load(npz);
        var stats = DatasetStats.Compute(
            data.WithMetadata(new Dictionary<string, string> { ["env_id"] = env }), Path.GetFileName(h5));
        double? datasetScore = given?.References is var (lo, hi) && stats.ReturnMean is double mean
            ? 100 * (mean - lo) / (hi - lo) : null;
        Phase("convert");

        // 3. DSR on the offline data only.
        if (!File.Exists(dsrPath))
        {
            var dsrOptions = new DsrOptions
            {
                Epochs = o.DsrEpochs, BatchSize = o.DsrBatch, Seed = o.Seed, TorchThreads = offlineThreads,
            };
            using var model = DsrTrainer.Train(dsrOptions, data.Observations, data.Actions, data.ObsDim, data.ActDim,
                data.EpisodeStarts(), env, log, rewards: data.Rewards);
            trainedOn = offlineThreads;
            model.Save(dsrPath);
            log($"wrote {dsrPath}");
        }
        else log($"found {dsrPath}");
        Phase("dsr");
        ct.ThrowIfCancellationRequested();

        // 4. Optional BC warm start.
        double? bcScore = null;
        if (o.RunBc)
        {
            if (!File.Exists(bcPath))
            {
                var bcOptions = new BcOptions
                {
                    EnvId = env, Epochs = o.BcEpochs, BatchSize = o.BcBatch, Seed = o.Seed,
                    EvalEpisodes = o.EvalEpisodes, TorchThreads = offlineThreads,
                };
                var bc = BehaviourCloning.Train(bcOptions, data, log);
                trainedOn = offlineThreads;
                using (bc.Actor) bc.Actor.Save(bcPath);
                bcScore = bc.Eval is null ? null : D4rlScores.Normalize(env, bc.Eval.Mean);
                log($"wrote {bcPath}");
            }
            else
            {
                log($"found {bcPath}");
                using var actor = O2O.Learning.Checkpoints.ActorBundle.Load(bcPath, env);
                if (actor.Extra["eval_return_mean"] is { } ev) bcScore = D4rlScores.Normalize(env, (double)ev);
            }
        }
        Phase("bc");
        ct.ThrowIfCancellationRequested();

        // 5. Online PPO shaped by the frozen DSR.
        var runName = $"{stem}_{(o.RunBc ? "bc_" : "")}dsr_s{o.Seed}";
        var ppo = new PpoOptions
        {
            EnvId = env, Seed = o.Seed, TotalSteps = o.TotalSteps, StepsPerEpoch = o.StepsPerEpoch,
            MinibatchSize = o.MinibatchSize, TrainIters = o.TrainIters, InitActor = o.RunBc ? bcPath : null,
            RunName = runName, LogDir = layout.LogDir, EvalEpisodes = o.EvalEpisodes, EvalEvery = o.StepsPerEpoch,
        };
        var finalActor = ppo.FinalActorPath;
        if (File.Exists(finalActor) && File.Exists(ppo.Csv) && CsvRows(ppo.Csv) == ppo.Epochs)
            log($"found finished online run {ppo.Csv}");
        else
        {
            using var dsr = SupportModel.Load(dsrPath, env);
            var c = o.Shaping.RewardScale ?? dsr.RewardAbsMean
                ?? throw new UserError($"DSR '{dsrPath}' has no offline reward scale; delete it to retrain");
            var shaper = new DsrShaper(dsr, o.Shaping, c);
            using var trainer = new PpoTrainer(ppo, shaper, log);
            var resume = Directory.Exists(ppo.CheckpointPath) && File.Exists(ppo.Csv);
            trainer.Run(resume, ct);
        }
        Phase("online");

        // 6. Summary: table, learning curve, written beside the logs.
        var curve = ReadCurve(ppo.Csv);
        CurveMetrics? online = curve.Scores.Count == 0 ? null
            : CurveMetrics.From(curve.Scores, curve.Steps, o.TotalSteps, bcScore);
        var plot = Path.Combine(layout.LogDir, runName + ".png");
        LearningCurvePlot.Save(plot, $"{label}: online PPO with the DSR (seed {o.Seed})", "D4RL normalised score",
            [new CurveSeries("eval (deterministic, " + o.EvalEpisodes + " episodes)",
                curve.Steps.Select(s => (double)s).ToList(), curve.Scores)],
            bcScore, "BC (before fine-tuning)");
        var summaryPath = Path.Combine(layout.LogDir, runName + "_summary.md");
        var summary = new PipelineSummary(label, h5, origin, data.Count, stats.Episodes, stats.NormalizedScore,
            bcScore, online, phases, ppo.Csv, plot, summaryPath)
        {
            DatasetScore = datasetScore, OfflineThreads = trainedOn,
        };
        AtomicFile.WriteText(summaryPath, Format(summary));
        return summary;
    }

    sealed record GivenDataset(string Path, string Id, string Env, string Origin, (double, double)? References);

    /// <summary>A Minari dataset given instead of a task: where it is, its id, its env and reference returns.</summary>
    static GivenDataset MinariSource(string path)
    {
        var meta = Minari.PeekMetadata(path) ?? throw new UserError($"dataset '{path}' is not a Minari dataset " +
            "(a folder with data/main_data.hdf5, that file, or an id such as mujoco/hopper/medium-v0); " +
            "D4RL files are used through the task name instead");
        var env = DatasetEnv.Named(meta, $"dataset '{path}'") ?? throw new UserError(
            $"dataset '{path}' names no environment (no env spec in its metadata); download it again");
        var id = meta.TryGetValue("dataset_id", out var i) && i.Length > 0
            ? i : System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path));
        var origin = meta.TryGetValue("generated_by", out var g) ? $"Minari layout, generated here: {g}"
            : "Minari dataset";
        return new GivenDataset(path, id, env, origin, Minari.ReferenceScores(meta));
    }

    static string EnsureData(
        PipelineOptions o, D4rlTask task, string h5, RunLayout layout, Action<string> log, CancellationToken ct)
    {
        if (File.Exists(h5))
        {
            var meta = DatasetIO.Load(h5).Metadata;
            var generated = meta.TryGetValue("generated_by", out var g);
            // Kept whatever recipe made it (docs/data.md): a cached dataset is never regenerated.
            var recipe = generated ? DatasetRecipe.Describe(meta) : null;
            log($"found {h5}{(generated ? $" (generated here: {g}; recipe {recipe})" : "")}");
            return generated ? $"generated here (cached; recipe {recipe!.Split(' ')[0]})"
                : "present in the data folder";
        }
        if (o.Download)
        {
            try
            {
                var progress = new Progress<DownloadProgress>(p => log(p.Message));
                D4rlDownload.Fetch(task.Name, layout.DataDir, o.BaseUrl, progress, ct,
                    TimeSpan.FromSeconds(o.DownloadTimeout));
                return "downloaded from D4RL";
            }
            catch (UserError e)
            {
                log($"download failed: {e.Message}");
                log("generating the dataset locally instead (cached for the next run)");
            }
        }
        var quality = task.Quality;
        var work = Path.Combine(layout.DataDir, "behaviour");
        var options = new QualityOptions(task.Env.EnvId, quality, o.GeneratedSteps, o.Seed, work, o.BehaviourBudget)
        {
            EvalEpisodes = Math.Max(3, o.EvalEpisodes),
        };
        var ds = BehaviourDatasets.Collect(options, log);
        DatasetIO.SaveHdf5(h5, ds);
        log($"wrote {h5} ({ds.Count} transitions, generated here)");
        return $"generated here ({quality}, {ds.Count} transitions)";
    }

    static int CsvRows(string path) => File.ReadLines(path).Count() - 1;

    /// <summary>Env steps and normalised eval scores of the rows that have an evaluation (empty when none).</summary>
    public static (List<long> Steps, List<double> Scores) ReadCurve(string csv)
    {
        try
        {
            var run = Comparison.ReadRun(csv, "eval/normalized");
            return (run.Steps, run.Scores);
        }
        catch (UserError)
        {
            return ([], []);
        }
    }

    public static string Format(PipelineSummary s)
    {
        string F(double? v) =>
            v is double d && double.IsFinite(d) ? d.ToString("F1", CultureInfo.InvariantCulture) : "–";
        var w = new StringBuilder();
        w.AppendLine($"## o2o run — {s.Task}").AppendLine();
        w.AppendLine("| item | value |").AppendLine("|---|---|");
        w.AppendLine($"| dataset | {s.DatasetPath} ({s.DatasetOrigin}) |");
        w.AppendLine($"| transitions / episodes | {s.Transitions} / {s.Episodes} |");
        w.AppendLine($"| behaviour data score (normalised) | {F(s.BehaviourScore)} |");
        if (s.DatasetScore is double ds)
            w.AppendLine($"| behaviour data score (the dataset's own reference returns) | {F(ds)} |");
        w.AppendLine($"| BC score (normalised, deterministic) | {F(s.BcScore)} |");
        if (s.Online is { } m)
        {
            w.AppendLine("| online start / min (first 20 %) / final (last 10) / best | "
                + $"{F(m.Start)} / {F(m.Min)} / {F(m.Final)} / {F(m.Best)} |");
            w.AppendLine($"| initial dip | {F(m.Dip)} |");
            w.AppendLine($"| AUC (mean score) / monotonicity | {F(m.Auc)} / {m.Monotonicity:F2} |");
        }
        foreach (var (k, v) in s.PhaseSeconds) w.AppendLine($"| wall time: {k} | {v:F0} s |");
        if (s.PhaseSeconds.Count > 0)
        {
            var total = (long)Math.Round(s.PhaseSeconds.Values.Sum());
            w.AppendLine($"| wall time: total | {total} s ({total / 60} min {total % 60} s) |");
        }
        if (s.OfflineThreads is int t) w.AppendLine($"| libtorch threads (DSR, BC trained in this run) | {t} |");
        w.AppendLine($"| log | {s.CsvPath} |");
        w.AppendLine($"| plot | {s.PlotPath} |");
        return w.ToString();
    }
}
