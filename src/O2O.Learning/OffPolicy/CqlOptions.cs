using System.Text.Json.Serialization;
using O2O.Core;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Everything that defines one CQL or Cal-QL run, offline or fine-tuning online with SAC. Defaults are CORL's
/// cql.py for hopper-medium-v2 (conservative weight 10 fixed, 10 sampled actions per kind with importance
/// sampling, critic lr 3e-4, actor and temperature lr 3e-5, automatic temperature towards −|A|, no entropy in the
/// Bellman target, z-scored observations, rewards scaled by 1000 / (best − worst episode return)), except that
/// every network is 256×256 (CORL: three hidden layers) and the actor is SAC's (<see cref="SquashedGaussianActor"/>).
/// </summary>
public sealed record CqlOptions : O2O.Learning.Training.IRunOptions
{
    public string EnvId { get; init; } = "";
    /// <summary>Cal-QL: the conservative term's policy-action Q values are bounded below by the data's returns.
    /// </summary>
    public bool Calibrated { get; init; }
    /// <summary>Gradient updates (offline) or environment steps with one update each (online) over the run.</summary>
    public long Steps { get; init; } = 1_000_000;
    /// <summary>Updates (offline) or env steps (online) per logged epoch.</summary>
    public int StepsPerEpoch { get; init; } = 5000;
    public int BatchSize { get; init; } = 256;
    public int[] Hidden { get; init; } = [256, 256];
    /// <summary>Adam learning rate of the critics.</summary>
    public double Lr { get; init; } = 3e-4;
    /// <summary>Adam learning rate of actor and temperature; null = 3e-5 (CORL's policy_lr) while the conservative
    /// term is on, Lr once it is removed online (plain SAC).</summary>
    public double? ActorLr { get; init; }
    public double Gamma { get; init; } = 0.99;
    /// <summary>Polyak factor τ of the target critics.</summary>
    public double Tau { get; init; } = 0.005;
    /// <summary>Weight α of the conservative term (CORL's cql_alpha, fixed: no Lagrange tuning).</summary>
    public double ConservativeWeight { get; init; } = 10.0;
    /// <summary>Actions sampled per state for each of uniform, policy-at-s and policy-at-s' (cql_n_actions).
    /// </summary>
    public int SampledActions { get; init; } = 10;
    /// <summary>Temperature τ of the logsumexp over sampled actions (cql_temp).</summary>
    public double CqlTemperature { get; init; } = 1.0;
    /// <summary>Subtract α·log π(a'|s') in the Bellman target (SAC does; CORL's CQL does not).</summary>
    public bool BackupEntropy { get; init; }
    /// <summary>Target entropy H̄ of the automatic temperature; null = −|A|.</summary>
    public double? TargetEntropy { get; init; }
    /// <summary>Scale rewards by 1000 / (max − min episode return) as CORL does on locomotion data.</summary>
    public bool NormalizeReward { get; init; } = true;
    public int Seed { get; init; } = 1;
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Evaluate every this many updates or env steps (rounded up to whole epochs).</summary>
    public long EvalEvery { get; init; } = 5000;
    public int TorchThreads { get; init; } = 1;
    public string RunName { get; init; } = "run";
    /// <summary>Folder of the CSV log and the checkpoints.</summary>
    public string LogDir { get; init; } = "logs";
    /// <summary>Where the final agent goes; null = LogDir/RunName_agent.pt.</summary>
    public string? AgentPath { get; init; }
    /// <summary>Fine-tune online with SAC from this CQL or Cal-QL agent (null: learn offline from the data).
    /// </summary>
    public string? InitAgent { get; init; }
    /// <summary>Online: keep the conservative term (Cal-QL's fine-tuning); without it the critic loss is SAC's.
    /// </summary>
    public bool KeepConservative { get; init; }
    /// <summary>Online: "keep" loads the offline data into the replay buffer, "drop" starts it empty.</summary>
    public string OfflineData { get; init; } = "keep";
    /// <summary>Online: share of each batch from the offline data; null = one pool sampled uniformly.</summary>
    public double? MixingRatio { get; init; }
    /// <summary>Online transitions the replay buffer keeps.</summary>
    public int BufferSize { get; init; } = 1_000_000;
    /// <summary>Online: the frozen DSR that shapes the fine-tuning (reward or value pessimism, frontier bonus).
    /// </summary>
    public string? DsrPath { get; init; }
    /// <summary>How the DSR shapes it (pessimism, β, η, annealing, support mode); read only with DsrPath.</summary>
    public O2O.Learning.Ppo.DsrShapingOptions Shaping { get; init; } = new();
    /// <summary>Online: env steps acted by the loaded agent's policy before the first update (WSRL's warm-up), so
    /// that a run without the offline data does not start by fitting a buffer of one transition.</summary>
    public long WarmupSteps { get; init; }
    [JsonIgnore] public bool Verbose { get; init; } = true;
    [JsonIgnore] public bool Online => InitAgent is not null;
    /// <summary>Whether the conservative term is in the critic loss.</summary>
    [JsonIgnore] public bool Conservative => !Online || KeepConservative;
    /// <summary>The actor's and temperature's learning rate in effect.</summary>
    [JsonIgnore] public double EffectiveActorLr => ActorLr ?? (Conservative ? 3e-5 : Lr);
    /// <summary>The algorithm's word in logs and agent files.</summary>
    [JsonIgnore] public string Algo => Calibrated ? "calql" : "cql";

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
        OptionError.Require(ActorLr is null or > 0, $"ActorLr must be > 0, got {ActorLr}", nameof(ActorLr));
        OptionError.Require(Gamma is > 0 and <= 1, $"Gamma must be in (0, 1], got {Gamma}", nameof(Gamma));
        OptionError.Require(Tau is > 0 and <= 1, $"Tau must be in (0, 1], got {Tau}", nameof(Tau));
        OptionError.Require(ConservativeWeight >= 0, $"ConservativeWeight must be ≥ 0, got {ConservativeWeight}",
            nameof(ConservativeWeight));
        OptionError.Require(SampledActions > 0, $"SampledActions must be > 0, got {SampledActions}",
            nameof(SampledActions));
        OptionError.Require(CqlTemperature > 0, $"CqlTemperature must be > 0, got {CqlTemperature}",
            nameof(CqlTemperature));
        OptionError.Require(EvalEpisodes >= 0, $"EvalEpisodes must be ≥ 0, got {EvalEpisodes}", nameof(EvalEpisodes));
        OptionError.Require(EvalEvery > 0, $"EvalEvery must be > 0, got {EvalEvery}", nameof(EvalEvery));
        FineTuningRules.Require(OfflineData, MixingRatio, WarmupSteps, BufferSize, Online, DsrPath, Shaping, "CQL");
        OptionError.Require(!KeepConservative || Online,
            "KeepConservative is a fine-tuning setting; give InitAgent, or drop it", nameof(KeepConservative));
        OptionError.Require(Hidden.Length > 0 && Hidden.All(h => h > 0),
            "Hidden must list positive widths, e.g. 256,256", nameof(Hidden));
    }
}
