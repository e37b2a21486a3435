using System.Text.Json.Serialization;
using O2O.Core;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Everything that defines one offline IQL run. Defaults are CORL's iql.py for locomotion (twin critics, V with
/// expectile 0.7, advantage-weighted Gaussian actor with β = 3, 256×256, batch 256, Adam 3e-4, actor learning rate
/// on a cosine schedule over the whole run, rewards scaled by 1000 / (best − worst episode return)).
/// </summary>
public sealed record IqlOptions : O2O.Learning.Training.IRunOptions
{
    public string EnvId { get; init; } = "";
    /// <summary>Gradient updates over the whole run (the log's x-axis for an offline run).</summary>
    public long Steps { get; init; } = 1_000_000;
    /// <summary>Updates per logged epoch (one CSV row, one checkpoint; evaluation every epoch by default).</summary>
    public int StepsPerEpoch { get; init; } = 5000;
    public int BatchSize { get; init; } = 256;
    public int[] Hidden { get; init; } = [256, 256];
    /// <summary>Adam learning rate of actor, critics and value network.</summary>
    public double Lr { get; init; } = 3e-4;
    public double Gamma { get; init; } = 0.99;
    /// <summary>Polyak factor τ of the target critics.</summary>
    public double Tau { get; init; } = 0.005;
    /// <summary>Inverse temperature β of the advantage weights exp(β·A).</summary>
    public double Beta { get; init; } = 3.0;
    /// <summary>Expectile τ of V's regression onto Q (0.5 = mean; towards 1 = max over the data's actions).</summary>
    public double Expectile { get; init; } = 0.7;
    /// <summary>Scale rewards by 1000 / (max − min episode return) as IQL does on locomotion data.</summary>
    public bool NormalizeReward { get; init; } = true;
    public int Seed { get; init; } = 1;
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Evaluate every this many updates (rounded up to whole epochs).</summary>
    public long EvalEvery { get; init; } = 5000;
    public int TorchThreads { get; init; } = 1;
    public string RunName { get; init; } = "run";
    /// <summary>Folder of the CSV log and the checkpoints.</summary>
    public string LogDir { get; init; } = "logs";
    /// <summary>Where the final agent goes; null = LogDir/RunName_agent.pt.</summary>
    public string? AgentPath { get; init; }
    /// <summary>Fine-tune online from this offline agent (null: learn offline from the data).</summary>
    public string? InitAgent { get; init; }
    /// <summary>Online: "keep" loads the offline data into the replay buffer (CORL's fine-tuning), "drop" starts it
    /// empty (WSRL's setting, the seed's "no replay").</summary>
    public string OfflineData { get; init; } = "keep";
    /// <summary>Online: share of each batch from the offline data; null = one pool sampled uniformly.</summary>
    public double? MixingRatio { get; init; }
    /// <summary>Online transitions the replay buffer keeps.</summary>
    public int BufferSize { get; init; } = 2_000_000;
    /// <summary>A frozen DSR checkpoint (train-dsr) whose support shapes the online phase; null: none.</summary>
    public string? DsrPath { get; init; }
    /// <summary>How the DSR shapes it (pessimism, β, η, annealing, support mode); read only with DsrPath.</summary>
    public O2O.Learning.Ppo.DsrShapingOptions Shaping { get; init; } = new();
    /// <summary>Online: env steps acted by the loaded agent's policy before the first update (WSRL's warm-up), so
    /// that a run without the offline data does not start by fitting a buffer of one transition.</summary>
    public long WarmupSteps { get; init; }
    [JsonIgnore] public bool Verbose { get; init; } = true;
    [JsonIgnore] public bool Online => InitAgent is not null;

    [JsonIgnore] public int Epochs => (int)(Steps / StepsPerEpoch);
    [JsonIgnore] public string Csv => Path.Combine(LogDir, RunName + ".csv");
    [JsonIgnore] public string CheckpointPath => Path.Combine(LogDir, RunName + ".ckpt");
    [JsonIgnore] public string FinalAgentPath => AgentPath ?? Path.Combine(LogDir, RunName + "_agent.pt");
    string O2O.Learning.Training.IRunOptions.FinalActorPath => FinalAgentPath;

    /// <summary>One-line errors for settings out of range, naming the properties.</summary>
    public void Validate()
    {
        OptionError.Require(StepsPerEpoch > 0, $"StepsPerEpoch must be > 0, got {StepsPerEpoch}",
            nameof(StepsPerEpoch));
        OptionError.Require(Steps >= StepsPerEpoch,
            $"Steps {Steps} is smaller than StepsPerEpoch {StepsPerEpoch}: not one epoch would run",
            nameof(Steps), nameof(StepsPerEpoch));
        OptionError.Require(BatchSize > 0, $"BatchSize must be > 0, got {BatchSize}", nameof(BatchSize));
        OptionError.Require(Lr > 0, $"Lr must be > 0, got {Lr}", nameof(Lr));
        OptionError.Require(Gamma is > 0 and <= 1, $"Gamma must be in (0, 1], got {Gamma}", nameof(Gamma));
        OptionError.Require(Tau is > 0 and <= 1, $"Tau must be in (0, 1], got {Tau}", nameof(Tau));
        OptionError.Require(Beta >= 0, $"Beta must be ≥ 0, got {Beta}", nameof(Beta));
        OptionError.Require(Expectile is > 0 and < 1, $"Expectile must be in (0, 1), got {Expectile}",
            nameof(Expectile));
        OptionError.Require(EvalEpisodes >= 0, $"EvalEpisodes must be ≥ 0, got {EvalEpisodes}", nameof(EvalEpisodes));
        OptionError.Require(EvalEvery > 0, $"EvalEvery must be > 0, got {EvalEvery}", nameof(EvalEvery));
        FineTuningRules.Require(OfflineData, MixingRatio, WarmupSteps, BufferSize, Online, DsrPath, Shaping, "IQL");
        OptionError.Require(Hidden.Length > 0 && Hidden.All(h => h > 0),
            "Hidden must list positive widths, e.g. 256,256", nameof(Hidden));
    }
}
