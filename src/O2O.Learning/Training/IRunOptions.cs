using System.Text.Json;

namespace O2O.Learning.Training;

/// <summary>What every learner's options record tells the harness: budget, evaluation, where the files go.</summary>
public interface IRunOptions
{
    string EnvId { get; }
    int Epochs { get; }
    int StepsPerEpoch { get; }
    int Seed { get; }
    long EvalEvery { get; }
    int EvalEpisodes { get; }
    string RunName { get; }
    string Csv { get; }
    string CheckpointPath { get; }
    string FinalActorPath { get; }
    string? TensorboardDir => null;
    int EvalThreads => 0;
    /// <summary>Evaluate the stochastic policy (the one that acts while training) instead of its mean.</summary>
    bool EvalStochastic => false;
    bool Verbose { get; }
}

/// <summary>Builds the harness's settings from any learner's options record.</summary>
public static class RunSettingsFactory
{
    /// <summary>
    /// The settings of a run of <paramref name="o"/>: evaluation every EvalEvery steps rounded up to whole epochs,
    /// the record itself as the options JSON, and the properties a resumed run must share with its checkpoint.
    /// </summary>
    public static RunSettings For<T>(T o, IReadOnlyList<string> resumeKeys) where T : IRunOptions => new()
    {
        EnvId = o.EnvId,
        Epochs = o.Epochs,
        StepsPerEpoch = o.StepsPerEpoch,
        Seed = o.Seed,
        EvalEveryEpochs = (int)Math.Max(1, (o.EvalEvery + o.StepsPerEpoch - 1) / o.StepsPerEpoch),
        EvalEpisodes = o.EvalEpisodes,
        EvalThreads = o.EvalThreads,
        EvalStochastic = o.EvalStochastic,
        RunName = o.RunName,
        CsvPath = o.Csv,
        CheckpointPath = o.CheckpointPath,
        FinalActorPath = o.FinalActorPath,
        TensorboardDir = o.TensorboardDir,
        Options = JsonSerializer.SerializeToNode(o)!,
        ResumeKeys = resumeKeys,
        Verbose = o.Verbose,
    };
}
