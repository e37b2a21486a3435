using O2O.Data;
using O2O.Learning.Training;

namespace O2O.Learning.OffPolicy;

/// <summary>CQL or Cal-QL through the run harness, offline or fine-tuning online with SAC (<see cref="CqlLearner"/>).
/// </summary>
public sealed class CqlTrainer(CqlOptions options, OfflineDataset? data, Action<string>? log = null) : IDisposable
{
    /// <summary>What a resumed run must share with its checkpoint (another agent, data or DSR is another run).
    /// </summary>
    static readonly string[] ResumeKeys =
        [nameof(CqlOptions.StepsPerEpoch), nameof(CqlOptions.BatchSize), nameof(CqlOptions.Seed),
        nameof(CqlOptions.InitAgent), nameof(CqlOptions.OfflineData), nameof(CqlOptions.KeepConservative),
        nameof(CqlOptions.Calibrated), nameof(CqlOptions.DsrPath), nameof(CqlOptions.Shaping)];

    readonly CqlLearner learner = new(options, data);

    /// <summary>The factor the data's rewards were multiplied by.</summary>
    public double RewardScale => learner.RewardScale;

    public RunResult Run(bool resume = false, CancellationToken ct = default) =>
        RunHarness.Run(learner, Settings(options), resume, log ?? (_ => { }), ct);

    public static RunSettings Settings(CqlOptions o) => RunSettingsFactory.For(o, ResumeKeys);

    public void Dispose() => learner.Dispose();
}
