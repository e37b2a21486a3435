using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Data;

namespace O2O.Learning.Training;

/// <summary>How the harness runs one learner: budget, evaluation, and where the run's files go.</summary>
public sealed record RunSettings
{
    public required string EnvId { get; init; }
    /// <summary>Epochs in the whole budget.</summary>
    public required int Epochs { get; init; }
    /// <summary>Environment steps per epoch (the x-axis of the log).</summary>
    public required long StepsPerEpoch { get; init; }
    /// <summary>Seed of the run; evaluation episodes are seeded from it.</summary>
    public required int Seed { get; init; }
    /// <summary>Evaluate every this many epochs, and after the last.</summary>
    public int EvalEveryEpochs { get; init; } = 1;
    /// <summary>Evaluation episodes (deterministic unless <see cref="EvalStochastic"/>); 0 disables evaluation.
    /// </summary>
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Evaluate the stochastic policy instead of its mean (e.g. the policy that will collect data).</summary>
    public bool EvalStochastic { get; init; }
    /// <summary>Threads running evaluation episodes (0 = cores).</summary>
    public int EvalThreads { get; init; }
    public required string RunName { get; init; }
    public required string CsvPath { get; init; }
    public required string CheckpointPath { get; init; }
    public required string FinalActorPath { get; init; }
    public string? TensorboardDir { get; init; }
    /// <summary>The learner's options record as JSON: written beside the CSV and into every checkpoint.</summary>
    public required JsonNode Options { get; init; }
    /// <summary>Options a resumed run must share with its checkpoint (those that shape the data).</summary>
    public IReadOnlyList<string> ResumeKeys { get; init; } = [];
    /// <summary>What to advise when updates keep diverging, naming the options to change.</summary>
    public string DivergenceAdvice { get; init; } = "lower Lr or check the reward shaping";
    public IReadOnlyList<string> DivergenceOptions { get; init; } = ["Lr"];
    /// <summary>Log a progress line after every epoch.</summary>
    public bool Verbose { get; init; } = true;
}

/// <summary>What a stop condition sees after each epoch.</summary>
public sealed record EpochReport(int Epoch, long EnvSteps, double? EvalMean);

/// <summary>Summary of a finished (or resumed and finished) run.</summary>
public sealed record RunResult(
    int Epochs, long EnvSteps, double WallSeconds, double LastEvalMean, double BestEvalMean, string CsvPath,
    string FinalActorPath);

/// <summary>
/// The epoch loop every learner shares: train an epoch, evaluate on a schedule, write one CSV row (schema in
/// docs/architecture.md, "Formats"), TensorBoard scalars and an atomic checkpoint, roll back an epoch whose update
/// went non-finite, stop early on request, print progress. A killed run resumes exactly from its checkpoint.
/// </summary>
public static class RunHarness
{
    /// <summary>Rolled-back epochs within <see cref="DivergenceWindow"/> that end the run.</summary>
    const int DivergenceLimit = 3;
    const int DivergenceWindow = 5;

    /// <summary>Evaluation episode k of epoch e starts from seed EvalSeedStride·(seed + 1) + 101·e + k.</summary>
    const int EvalSeedStride = 1_000_003, EvalEpochStride = 101;

    static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>The CSV's columns for a learner, in order.</summary>
    public static string[] Columns(
        IReadOnlyList<string> timeColumns, IReadOnlyList<string> metricColumns, IReadOnlyList<string> extraColumns) =>
    [
        "epoch", "env_steps", "wall_s", "time/fps", .. timeColumns, "time/eval_s",
        "eval/return_mean", "eval/return_std", "eval/normalized", "eval/length_mean",
        .. metricColumns, "charts/nonfinite_restores", .. extraColumns,
    ];

    /// <summary>
    /// Train to the budget; with <paramref name="resume"/> continue from the last checkpoint.
    /// <paramref name="stopWhen"/> may end the run early after any epoch (e.g. once a target score is reached).
    /// </summary>
    public static RunResult Run(ILearner learner, RunSettings s, bool resume, Action<string> log,
        CancellationToken ct = default, Func<EpochReport, bool>? stopWhen = null)
    {
        // One run per name and folder: a second run writing the same log and checkpoint is refused.
        using var runLock = RunLock.AcquireFile(LockPath(s), $"run '{s.RunName}' (log '{s.CsvPath}')", log);
        var checkpoint = new RunCheckpoint(s.CheckpointPath, learner.Name, s.EnvId);
        var columns = Columns(learner.TimeColumns, learner.MetricColumns, learner.ExtraColumns);
        var (progress, csv) = resume
            ? Resume(learner, s, checkpoint, columns, log)
            : Start(learner, s, checkpoint, columns);
        using var tensorboard = s.TensorboardDir is null ? null : new TensorboardLog(s.TensorboardDir);
        var wall = Stopwatch.StartNew();
        var wallOffset = progress.WallSeconds;
        var firstEpoch = progress.Epoch;
        var rollbacks = new Queue<int>();
        Checkpointed(s, progress);
        // Cancelled (SIGTERM, Ctrl-C), the run ends at the next epoch boundary, its checkpoint written.
        using (csv)
        using (Interruption.StopPoint(ct))
        {
            while (progress.Epoch < s.Epochs)
            {
                if (ct.IsCancellationRequested)
                {
                    log($"stopped after epoch {progress.Epoch}/{s.Epochs}; checkpoint '{s.CheckpointPath}'");
                    throw new OperationCanceledException(ct);
                }
                var row = new Dictionary<string, double>();
                var finite = TrainEpoch(learner, progress, s.StepsPerEpoch, row, log);
                progress = progress with { Epoch = progress.Epoch + 1, EnvSteps = progress.EnvSteps + s.StepsPerEpoch };
                if (!finite) progress = RollBack(learner, s, checkpoint, progress, rollbacks, row, log);
                progress = Evaluate(learner, s, progress, row);
                progress = progress with { WallSeconds = wallOffset + wall.Elapsed.TotalSeconds };
                FillRow(row, progress);
                csv.Write(row);
                tensorboard?.Write(row, progress.EnvSteps);
                checkpoint.Save(learner, progress, s.Options);
                Checkpointed(s, progress);
                var eta = Eta(wall, progress.Epoch - firstEpoch, s.Epochs - progress.Epoch);
                if (s.Verbose) log(ProgressLine(learner, s, progress, row, eta));
                if (stopWhen?.Invoke(new EpochReport(progress.Epoch, progress.EnvSteps, EvalMean(row))) == true) break;
            }
        }
        learner.SaveActor(s.FinalActorPath, s.RunName, progress.EnvSteps);
        return new RunResult(progress.Epoch, progress.EnvSteps, wallOffset + wall.Elapsed.TotalSeconds,
            progress.LastEval, progress.BestEval, s.CsvPath, s.FinalActorPath);
    }

    /// <summary>The lock file of a run: its log's name with .lock, beside it (logs/NAME.lock).</summary>
    public static string LockPath(RunSettings s) => Path.ChangeExtension(s.CsvPath, ".lock");

    static void Checkpointed(RunSettings s, RunProgress p) =>
        Interruption.Checkpointed($"'{s.CheckpointPath}' (epoch {p.Epoch} of {s.Epochs})");

    static (RunProgress, CsvLog) Start(ILearner learner, RunSettings s, RunCheckpoint checkpoint, string[] columns)
    {
        AtomicFile.EnsureWritableFolder(s.CsvPath, "log folder");
        AtomicFile.EnsureWritableFolder(s.CheckpointPath + "/x", "checkpoint folder");
        var csv = CsvLog.Create(s.CsvPath, columns);
        AtomicFile.WriteText(Path.ChangeExtension(s.CsvPath, ".json"), s.Options.ToJsonString(IndentedJson));
        checkpoint.Save(learner, RunProgress.Start, s.Options);
        return (RunProgress.Start, csv);
    }

    static (RunProgress, CsvLog) Resume(
        ILearner learner, RunSettings s, RunCheckpoint checkpoint, string[] columns, Action<string> log)
    {
        var progress = checkpoint.Load(learner, s.Options, s.ResumeKeys)
            ?? throw new OptionError($"Resume: no checkpoint at '{s.CheckpointPath}'; start without Resume", "Resume");
        var csv = CsvLog.Resume(s.CsvPath, columns, progress.Epoch);
        log($"resumed {s.RunName} at epoch {progress.Epoch}/{s.Epochs} ({progress.EnvSteps} env steps)");
        return (progress, csv);
    }

    /// <summary>One epoch of the learner, timed; a native libtorch error counts as a non-finite update.</summary>
    static bool TrainEpoch(
        ILearner learner, RunProgress progress, long stepsPerEpoch, Dictionary<string, double> row, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        bool finite;
        try
        {
            finite = learner.TrainEpoch(progress.Epoch, progress.EnvSteps, row);
        }
        catch (ExternalException e)
        {
            // A native error mid-update (e.g. a scalar freed under libtorch by TorchSharp's finalizer) leaves the
            // weights in an unknown state: handle it like a non-finite update.
            log($"epoch {progress.Epoch + 1}: libtorch error during the update ({e.Message.Split('.')[0]}); "
                + "restoring the last good checkpoint");
            finite = false;
        }
        row["time/fps"] = stepsPerEpoch / clock.Elapsed.TotalSeconds;
        return finite;
    }

    /// <summary>Back to the last good model after a non-finite update; too many in a row end the run.</summary>
    static RunProgress RollBack(ILearner learner, RunSettings s, RunCheckpoint checkpoint, RunProgress progress,
        Queue<int> rollbacks, Dictionary<string, double> row, Action<string> log)
    {
        rollbacks.Enqueue(progress.Epoch);
        while (rollbacks.Peek() < progress.Epoch - DivergenceWindow) rollbacks.Dequeue();
        checkpoint.LoadModelOnly(learner);
        log($"epoch {progress.Epoch}: non-finite loss, parameters or a libtorch error; "
            + "restored the last good checkpoint");
        if (rollbacks.Count >= DivergenceLimit)
            throw new OptionError($"training diverged: non-finite values in {DivergenceLimit} of the last "
                + $"{DivergenceWindow} epochs (last at epoch {progress.Epoch}); {s.DivergenceAdvice}",
                [.. s.DivergenceOptions]);
        foreach (var c in learner.MetricColumns)
            if (c.StartsWith("losses/", StringComparison.Ordinal)) row[c] = double.NaN;
        return progress with { NonfiniteRestores = progress.NonfiniteRestores + 1 };
    }

    static RunProgress Evaluate(ILearner learner, RunSettings s, RunProgress progress, Dictionary<string, double> row)
    {
        var due = progress.Epoch % s.EvalEveryEpochs == 0 || progress.Epoch == s.Epochs;
        if (s.EvalEpisodes <= 0 || !due)
        {
            row["time/eval_s"] = 0;
            return progress;
        }
        var clock = Stopwatch.StartNew();
        var seed = EvalSeedStride * (s.Seed + 1) + progress.Epoch * EvalEpochStride;
        var ev = Evaluation.Run(s.EnvId, learner.CreatePolicy, s.EvalEpisodes, seed,
            deterministic: !s.EvalStochastic, threads: s.EvalThreads);
        row["time/eval_s"] = clock.Elapsed.TotalSeconds;
        row["eval/return_mean"] = ev.Mean;
        row["eval/return_std"] = ev.Std;
        row["eval/length_mean"] = ev.MeanLength;
        if (D4rlScores.TryGetReference(s.EnvId, out _, out _))
            row["eval/normalized"] = D4rlScores.Normalize(s.EnvId, ev.Mean);
        return progress with { LastEval = ev.Mean, BestEval = Math.Max(progress.BestEval, ev.Mean) };
    }

    static void FillRow(Dictionary<string, double> row, RunProgress p)
    {
        row["epoch"] = p.Epoch;
        row["env_steps"] = p.EnvSteps;
        row["wall_s"] = p.WallSeconds;
        row["charts/nonfinite_restores"] = p.NonfiniteRestores;
    }

    static double? EvalMean(Dictionary<string, double> row) =>
        row.TryGetValue("eval/return_mean", out var v) ? v : null;

    /// <summary>A row's value as progress text: formatted invariantly, "-" when missing or not finite.</summary>
    public static string Cell(IReadOnlyDictionary<string, double> row, string key, string format) =>
        row.TryGetValue(key, out var v) && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

    /// <summary>Remaining time at this session's mean epoch time (<see cref="PhaseProgress.Eta"/>).</summary>
    static TimeSpan? Eta(Stopwatch wall, int epochsDone, int epochsLeft) =>
        PhaseProgress.Eta(wall.Elapsed.TotalSeconds, epochsDone, epochsDone + epochsLeft);

    static string ProgressLine(ILearner learner, RunSettings s, RunProgress p, Dictionary<string, double> row,
        TimeSpan? eta)
    {
        string F(string k, string fmt = "F1") => Cell(row, k, fmt);
        return $"epoch {p.Epoch}/{s.Epochs}  steps {p.EnvSteps}  fps {F("time/fps", "F0")}  "
            + $"eval {F("eval/return_mean")} ± {F("eval/return_std")} (norm {F("eval/normalized")})  "
            + $"{learner.Describe(row)}  eta {PhaseProgress.Format(eta)}";
    }
}
