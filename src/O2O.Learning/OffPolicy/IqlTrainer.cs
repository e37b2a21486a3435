using O2O.Data;
using O2O.Learning.Training;

namespace O2O.Learning.OffPolicy;

/// <summary>IQL through the run harness, offline or fine-tuning online (<see cref="IqlLearner"/>).</summary>
public sealed class IqlTrainer(IqlOptions options, OfflineDataset? data, Action<string>? log = null) : IDisposable
{
    /// <summary>What a resumed run must share with its checkpoint (another agent, data or DSR is another run).
    /// </summary>
    static readonly string[] ResumeKeys =
        [nameof(IqlOptions.StepsPerEpoch), nameof(IqlOptions.BatchSize), nameof(IqlOptions.Seed),
        nameof(IqlOptions.InitAgent), nameof(IqlOptions.OfflineData), nameof(IqlOptions.DsrPath),
        nameof(IqlOptions.Shaping)];

    readonly IqlLearner learner = new(options, data);

    /// <summary>The factor the data's rewards were multiplied by.</summary>
    public double RewardScale => learner.RewardScale;

    public RunResult Run(bool resume = false, CancellationToken ct = default) =>
        RunHarness.Run(learner, Settings(options), resume, log ?? (_ => { }), ct);

    public static RunSettings Settings(IqlOptions o) => RunSettingsFactory.For(o, ResumeKeys);

    public void Dispose() => learner.Dispose();
}
