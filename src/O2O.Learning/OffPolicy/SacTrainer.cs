using O2O.Learning.Training;

namespace O2O.Learning.OffPolicy;

/// <summary>SAC through the run harness: a <see cref="SacLearner"/> built from options, run to the budget.</summary>
public sealed class SacTrainer(SacOptions options, Action<string>? log = null) : IDisposable
{
    /// <summary>Options a resumed run must share with its checkpoint.</summary>
    /// <summary>What a resumed run must share with its checkpoint (another agent, data or DSR is another run).
    /// </summary>
    static readonly string[] ResumeKeys =
        [nameof(SacOptions.StepsPerEpoch), nameof(SacOptions.BatchSize), nameof(SacOptions.Seed),
        nameof(SacOptions.DsrPath), nameof(SacOptions.Shaping)];

    readonly SacLearner learner = new(options);

    public RunResult Run(
        bool resume = false, CancellationToken ct = default, Func<EpochReport, bool>? stopWhen = null) =>
        RunHarness.Run(learner, Settings(options), resume, log ?? (_ => { }), ct, stopWhen);

    /// <summary>The harness's view of a SAC run.</summary>
    public static RunSettings Settings(SacOptions o) => RunSettingsFactory.For(o, ResumeKeys);

    public void Dispose() => learner.Dispose();
}
