using System.Text.Json.Serialization;
using O2O.Core;

namespace O2O.Learning.Ppo;

/// <summary>Everything that defines one PPO run. Defaults follow the notebook where it speaks, CleanRL's
/// continuous-action PPO elsewhere. Written as JSON beside the CSV log.</summary>
public sealed record PpoOptions : O2O.Learning.Training.IRunOptions
{
    /// <summary>Environment id, e.g. Hopper-v4.</summary>
    public required string EnvId { get; init; }
    /// <summary>Environment steps over the whole run.</summary>
    public long TotalSteps { get; init; } = 1_000_000;
    /// <summary>Environment steps per epoch (rollout length × envs); the notebook uses 4096.</summary>
    public int StepsPerEpoch { get; init; } = 4096;
    /// <summary>Minibatch size of the update; the notebook uses 256.</summary>
    public int MinibatchSize { get; init; } = 256;
    /// <summary>Passes over each rollout (PPO epochs); the notebook's train_iters, 10.</summary>
    public int TrainIters { get; init; } = 10;
    /// <summary>Parallel environments; must divide StepsPerEpoch.</summary>
    public int NumEnvs { get; init; } = 8;
    /// <summary>Adam learning rate (annealed linearly to 0 when AnnealLr).</summary>
    public double Lr { get; init; } = 3e-4;
    /// <summary>Adam learning rate of the actor's parameters (null: <see cref="Lr"/>, one rate for both); the critic
    /// keeps Lr. Annealed like Lr. Uni-O4 fine-tunes with an actor rate a tenth of the critic's or less.</summary>
    public double? ActorLr { get; init; }
    public bool AnnealLr { get; init; } = true;
    public double Gamma { get; init; } = 0.99;
    public double GaeLambda { get; init; } = 0.95;
    /// <summary>Clip range of the probability ratio.</summary>
    public double Clip { get; init; } = 0.2;
    /// <summary>Clip the value update around the old values (CleanRL's clip_vloss).</summary>
    public bool ClipValue { get; init; } = true;
    public double EntCoef { get; init; } = 0.0;
    public double VfCoef { get; init; } = 0.5;
    public double MaxGradNorm { get; init; } = 0.5;
    /// <summary>Stop an update's epochs early when approx-KL exceeds this; null disables.</summary>
    public double? TargetKl { get; init; }
    /// <summary>Normalise advantages per minibatch.</summary>
    public bool NormAdv { get; init; } = true;
    /// <summary>Divide rewards by the running std of the discounted return.</summary>
    public bool ScaleRewards { get; init; } = true;
    /// <summary>Hidden widths of actor and critic (separate tanh MLPs).</summary>
    public int[] Hidden { get; init; } = [64, 64];
    public int Seed { get; init; } = 1;
    /// <summary>Epochs of value-only updates before the actor moves.</summary>
    public int CriticWarmup { get; init; }
    /// <summary>Offline dataset (D4RL HDF5 or NPZ, with rewards) on whose discounted Monte-Carlo returns the critic
    /// is fitted before the first epoch (<see cref="CriticPretraining"/>); null: the critic starts fresh. Needs
    /// <see cref="InitActor"/>, whose frozen normaliser the critic sees.</summary>
    public string? CriticPretrainData { get; init; }
    /// <summary>Adam steps of the critic's pre-training (minibatches drawn with replacement).</summary>
    public int CriticPretrainSteps { get; init; } = 20_000;
    /// <summary>Minibatch size of the critic's pre-training.</summary>
    public int CriticPretrainBatchSize { get; init; } = 256;
    /// <summary>Evaluate every this many env steps (rounded up to whole epochs).</summary>
    public long EvalEvery { get; init; } = 4096;
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Path of a BC (or PPO) actor to start from.</summary>
    public string? InitActor { get; init; }
    /// <summary>Floor of the initial log-std when warm-starting (BC stds can be tiny).</summary>
    public double InitLogStdFloor { get; init; } = -1.6;
    /// <summary>Upper bound of the policy's log-std (null: unbounded): the parameter starts at min(0, bound) and is
    /// projected back under it after every optimiser step. Generated datasets use it to keep the behaviour policy's
    /// action noise near D4RL's (docs/data.md).</summary>
    public double? LogStdMax { get; init; }
    /// <summary>Evaluate the stochastic policy (mean plus noise, as it acts) instead of the mean.</summary>
    public bool EvalStochastic { get; init; }
    /// <summary>"running" or "frozen"; null = frozen when warm-started, running otherwise.</summary>
    public string? ObsNorm { get; init; }
    /// <summary>Threads for libtorch (1 gives bit-reproducible updates).</summary>
    public int TorchThreads { get; init; } = 1;
    /// <summary>Threads stepping environments (0 = cores).</summary>
    public int EnvThreads { get; init; }
    /// <summary>Name of the run: CSV, options JSON, checkpoint and final actor are named after it.</summary>
    public string RunName { get; init; } = "run";
    /// <summary>Folder of the CSV log (and, by default, the checkpoints).</summary>
    public string LogDir { get; init; } = "logs";
    /// <summary>Explicit CSV path (when the log path given ends in .csv).</summary>
    public string? CsvPath { get; init; }
    /// <summary>Folder of checkpoints; default LogDir.</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>Optional TensorBoard event folder.</summary>
    public string? TensorboardDir { get; init; }
    /// <summary>Print a progress line per epoch.</summary>
    [JsonIgnore] public bool Verbose { get; init; } = true;

    [JsonIgnore] public int Epochs => (int)(TotalSteps / StepsPerEpoch);
    int O2O.Learning.Training.IRunOptions.EvalThreads => EnvThreads;
    [JsonIgnore] public int Horizon => StepsPerEpoch / NumEnvs;
    /// <summary>The actor's learning rate before annealing: <see cref="ActorLr"/>, else <see cref="Lr"/>.</summary>
    [JsonIgnore] public double EffectiveActorLr => ActorLr ?? Lr;
    [JsonIgnore] public string Csv => CsvPath ?? Path.Combine(LogDir, RunName + ".csv");
    [JsonIgnore] public string CkptDir => CheckpointDir ?? Path.GetDirectoryName(Path.GetFullPath(Csv))!;
    [JsonIgnore] public string CheckpointPath => Path.Combine(CkptDir, RunName + ".ckpt");
    [JsonIgnore] public string FinalActorPath => Path.Combine(CkptDir, RunName + "_actor.pt");

    /// <summary>One-line errors for inconsistent settings, naming the properties.</summary>
    public void Validate()
    {
        OptionError.Require(TotalSteps > 0, $"TotalSteps must be > 0, got {TotalSteps}", nameof(TotalSteps));
        OptionError.Require(StepsPerEpoch > 0,
            $"StepsPerEpoch must be > 0, got {StepsPerEpoch}", nameof(StepsPerEpoch));
        OptionError.Require(NumEnvs > 0, $"NumEnvs must be > 0, got {NumEnvs}", nameof(NumEnvs));
        OptionError.Require(StepsPerEpoch % NumEnvs == 0,
            $"StepsPerEpoch {StepsPerEpoch} is not divisible by NumEnvs {NumEnvs}; choose a multiple of {NumEnvs}",
            nameof(StepsPerEpoch), nameof(NumEnvs));
        OptionError.Require(MinibatchSize > 0,
            $"MinibatchSize must be > 0, got {MinibatchSize}", nameof(MinibatchSize));
        OptionError.Require(StepsPerEpoch >= MinibatchSize,
            $"StepsPerEpoch {StepsPerEpoch} is smaller than MinibatchSize {MinibatchSize}; "
            + "raise the first or lower the second", nameof(StepsPerEpoch), nameof(MinibatchSize));
        OptionError.Require(TotalSteps >= StepsPerEpoch,
            $"TotalSteps {TotalSteps} is smaller than StepsPerEpoch {StepsPerEpoch}: not one epoch would run",
            nameof(TotalSteps), nameof(StepsPerEpoch));
        OptionError.Require(TrainIters > 0, $"TrainIters must be > 0, got {TrainIters}", nameof(TrainIters));
        OptionError.Require(Gamma is > 0 and <= 1, $"Gamma must be in (0, 1], got {Gamma}", nameof(Gamma));
        OptionError.Require(GaeLambda is >= 0 and <= 1,
            $"GaeLambda must be in [0, 1], got {GaeLambda}", nameof(GaeLambda));
        OptionError.Require(Clip > 0, $"Clip must be > 0, got {Clip}", nameof(Clip));
        OptionError.Require(Lr > 0, $"Lr must be > 0, got {Lr}", nameof(Lr));
        OptionError.Require(ActorLr is null || (ActorLr > 0 && double.IsFinite(ActorLr.Value)),
            $"ActorLr must be > 0, got {ActorLr}", nameof(ActorLr));
        OptionError.Require(CriticPretrainSteps > 0,
            $"CriticPretrainSteps must be > 0, got {CriticPretrainSteps}", nameof(CriticPretrainSteps));
        OptionError.Require(CriticPretrainBatchSize > 0,
            $"CriticPretrainBatchSize must be > 0, got {CriticPretrainBatchSize}", nameof(CriticPretrainBatchSize));
        OptionError.Require(CriticPretrainData is null || InitActor is not null,
            "CriticPretrainData needs InitActor: the pre-trained critic sees observations through the warm-start "
            + "actor's frozen normaliser", nameof(CriticPretrainData), nameof(InitActor));
        OptionError.Require(EvalEpisodes >= 0, $"EvalEpisodes must be ≥ 0, got {EvalEpisodes}", nameof(EvalEpisodes));
        OptionError.Require(EvalEvery > 0, $"EvalEvery must be > 0, got {EvalEvery}", nameof(EvalEvery));
        OptionError.Require(ObsNorm is null or "running" or "frozen",
            $"ObsNorm '{ObsNorm}' must be running or frozen", nameof(ObsNorm));
        OptionError.Require(LogStdMax is null || double.IsFinite(LogStdMax.Value),
            $"LogStdMax must be a finite number, got {LogStdMax}", nameof(LogStdMax));
        OptionError.Require(Hidden.Length > 0 && Hidden.All(h => h > 0),
            "Hidden must list positive widths, e.g. 64,64", nameof(Hidden));
    }
}
