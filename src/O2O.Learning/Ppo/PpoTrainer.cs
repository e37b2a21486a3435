using System.Text.Json;
using O2O.Learning.Training;

namespace O2O.Learning.Ppo;

/// <summary>PPO through the run harness: a <see cref="PpoLearner"/> built from options, run to the budget.</summary>
public sealed class PpoTrainer : IDisposable
{
    /// <summary>The CSV's columns without a shaper, in order (a shaper's columns follow).</summary>
    public static IReadOnlyList<string> BaseColumns { get; } =
        RunHarness.Columns(PpoLearner.TimeColumnNames, PpoLearner.MetricColumnNames, []);

    /// <summary>Options a resumed run must share with its checkpoint: they shape data and RNG streams.</summary>
    static readonly string[] ResumeKeys =
    [
        nameof(PpoOptions.StepsPerEpoch), nameof(PpoOptions.NumEnvs), nameof(PpoOptions.MinibatchSize),
        nameof(PpoOptions.Seed),
    ];

    readonly PpoOptions options;
    readonly PpoLearner learner;
    readonly Action<string> log;

    public PpoTrainer(PpoOptions options, IRolloutShaper? shaper = null, Action<string>? log = null)
    {
        this.options = options;
        this.log = log ?? (_ => { });
        learner = new PpoLearner(options, shaper);
    }

    /// <summary>Sees every rollout before shaping (e.g. to keep a replay dataset); null by default.</summary>
    public Action<RolloutBatch>? Recorder { get => learner.Recorder; set => learner.Recorder = value; }

    /// <summary>
    /// Train to the budget; with <paramref name="resume"/> continue from the last checkpoint.
    /// <paramref name="stopWhen"/> may end the run early after any epoch (e.g. once a target score is reached).
    /// </summary>
    public RunResult Run(
        bool resume = false, CancellationToken ct = default, Func<EpochReport, bool>? stopWhen = null)
    {
        var settings = Settings(options);
        // The critic is pre-trained once, before epoch 1; a resumed run finds the result in its checkpoint.
        if (!resume && options.CriticPretrainData is not null)
        {
            var r = learner.PretrainCritic(log, ct);
            var json = settings.Options.DeepClone();
            json[nameof(CriticPretrainResult)] = JsonSerializer.SerializeToNode(r);
            settings = settings with { Options = json };
        }
        return RunHarness.Run(learner, settings, resume, log, ct, stopWhen);
    }

    /// <summary>Saves the current actor (e.g. the one an early-stop rule just evaluated) as an actor file.</summary>
    public void SaveActor(string path, long envSteps) => learner.SaveActor(path, options.RunName, envSteps);

    /// <summary>A policy acting with the current weights (for evaluations outside the harness's schedule).</summary>
    public O2O.Learning.IPolicy CreatePolicy() => learner.CreatePolicy();

    /// <summary>The harness's view of a PPO run.</summary>
    public static RunSettings Settings(PpoOptions o) => RunSettingsFactory.For(o, ResumeKeys);

    public void Dispose() => learner.Dispose();
}
