using System.Text.Json.Serialization;
using O2O.Core;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Everything that defines one SAC run. Defaults are CleanRL's sac_continuous_action.py and CORL's, except that
/// the actor, critics and temperature update once per environment step (no delayed policy updates).
/// </summary>
public sealed record SacOptions : O2O.Learning.Training.IRunOptions
{
    /// <summary>Environment id, e.g. Hopper-v4.</summary>
    public string EnvId { get; init; } = "";
    /// <summary>Environment steps over the whole run.</summary>
    public long TotalSteps { get; init; } = 1_000_000;
    /// <summary>Environment steps per logged epoch (one CSV row, one checkpoint).</summary>
    public int StepsPerEpoch { get; init; } = 5000;
    /// <summary>Transitions per gradient update.</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>Hidden widths of the actor and of each critic (ReLU MLPs).</summary>
    public int[] Hidden { get; init; } = [256, 256];
    /// <summary>Adam learning rate of actor, critics and temperature.</summary>
    public double Lr { get; init; } = 3e-4;
    public double Gamma { get; init; } = 0.99;
    /// <summary>Polyak factor τ of the target critics.</summary>
    public double Tau { get; init; } = 0.005;
    /// <summary>Uniformly random actions for this many steps before the policy acts and updates start.</summary>
    public long LearningStarts { get; init; } = 5000;
    /// <summary>Online transitions the replay buffer keeps.</summary>
    public int BufferSize { get; init; } = 1_000_000;
    /// <summary>Fixed entropy temperature α; null tunes it towards <see cref="TargetEntropy"/>.</summary>
    public double? Alpha { get; init; }
    /// <summary>Target entropy H̄ of the automatic temperature; null = −|A|.</summary>
    public double? TargetEntropy { get; init; }
    /// <summary>A frozen DSR checkpoint (train-dsr) whose support shapes the online phase; null: none.</summary>
    public string? DsrPath { get; init; }
    /// <summary>How the DSR shapes it (pessimism, β, η, annealing, support mode); read only with DsrPath.</summary>
    public O2O.Learning.Ppo.DsrShapingOptions Shaping { get; init; } = new();
    public int Seed { get; init; } = 1;
    /// <summary>Evaluate every this many env steps (rounded up to whole epochs).</summary>
    public long EvalEvery { get; init; } = 5000;
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Threads for libtorch (1 gives bit-reproducible updates).</summary>
    public int TorchThreads { get; init; } = 1;
    /// <summary>Name of the run: CSV, options JSON, checkpoint and final actor are named after it.</summary>
    public string RunName { get; init; } = "run";
    /// <summary>Folder of the CSV log and the checkpoints.</summary>
    public string LogDir { get; init; } = "logs";
    /// <summary>Optional TensorBoard event folder.</summary>
    public string? TensorboardDir { get; init; }
    /// <summary>Print a progress line per epoch.</summary>
    [JsonIgnore] public bool Verbose { get; init; } = true;

    [JsonIgnore] public int Epochs => (int)(TotalSteps / StepsPerEpoch);
    [JsonIgnore] public string Csv => Path.Combine(LogDir, RunName + ".csv");
    [JsonIgnore] public string CheckpointPath => Path.Combine(LogDir, RunName + ".ckpt");
    [JsonIgnore] public string FinalActorPath => Path.Combine(LogDir, RunName + "_actor.pt");

    /// <summary>One-line errors for settings out of range, naming the properties.</summary>
    public void Validate()
    {
        OptionError.Require(StepsPerEpoch > 0,
            $"StepsPerEpoch must be > 0, got {StepsPerEpoch}", nameof(StepsPerEpoch));
        OptionError.Require(TotalSteps >= StepsPerEpoch,
            $"TotalSteps {TotalSteps} is smaller than StepsPerEpoch {StepsPerEpoch}: not one epoch would run",
            nameof(TotalSteps), nameof(StepsPerEpoch));
        OptionError.Require(BatchSize > 0, $"BatchSize must be > 0, got {BatchSize}", nameof(BatchSize));
        OptionError.Require(Lr > 0, $"Lr must be > 0, got {Lr}", nameof(Lr));
        OptionError.Require(Gamma is > 0 and <= 1, $"Gamma must be in (0, 1], got {Gamma}", nameof(Gamma));
        OptionError.Require(Tau is > 0 and <= 1, $"Tau must be in (0, 1], got {Tau}", nameof(Tau));
        OptionError.Require(LearningStarts >= 0,
            $"LearningStarts must be ≥ 0, got {LearningStarts}", nameof(LearningStarts));
        OptionError.Require(BufferSize > 0, $"BufferSize must be > 0, got {BufferSize}", nameof(BufferSize));
        OptionError.Require(Alpha is null or >= 0, $"Alpha must be ≥ 0 or automatic, got {Alpha}", nameof(Alpha));
        OptionError.Require(EvalEpisodes >= 0, $"EvalEpisodes must be ≥ 0, got {EvalEpisodes}", nameof(EvalEpisodes));
        OptionError.Require(EvalEvery > 0, $"EvalEvery must be > 0, got {EvalEvery}", nameof(EvalEvery));
        OptionError.Require(Hidden.Length > 0 && Hidden.All(h => h > 0),
            "Hidden must list positive widths, e.g. 256,256", nameof(Hidden));
        if (DsrPath is not null) Shaping.Validate();
    }
}
