using System.Text.Json.Serialization;

namespace O2O.Learning.Ppo;

/// <summary>Everything that defines one PPO run. Defaults follow the notebook where it speaks, CleanRL's
/// continuous-action PPO elsewhere. Written as JSON beside the CSV log.</summary>
public sealed record PpoOptions
{
    /// <summary>Environment id, e.g. Hopper-v4.</summary>
    public required string EnvId { get; init; }
    /// <summary>Environment steps over the whole run.</summary>
    public long TotalSteps { get; init; } = 1_000_000;
    /// <summary>Environment steps per epoch (rollout length × envs); the notebook uses 4096.</summary>
    public int StepsPerEpoch { get; init; } = 4096;
    /// <summary>Minibatch size of the update; the notebook uses 256.</summary>
    public int MinibatchSize { get; init; } = 256;
    /// <summary>Passes over each rollout (PPO epochs); the notebook's --train_iters, 10.</summary>
    public int TrainIters { get; init; } = 10;
    /// <summary>Parallel environments; must divide StepsPerEpoch.</summary>
    public int NumEnvs { get; init; } = 8;
    /// <summary>Adam learning rate (annealed linearly to 0 when AnnealLr).</summary>
    public double Lr { get; init; } = 3e-4;
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
    /// <summary>Evaluate every this many env steps (rounded up to whole epochs).</summary>
    public long EvalEvery { get; init; } = 4096;
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Path of a BC (or PPO) actor to start from.</summary>
    public string? InitActor { get; init; }
    /// <summary>Floor of the initial log-std when warm-starting (BC stds can be tiny).</summary>
    public double InitLogStdFloor { get; init; } = -1.6;
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
    /// <summary>Explicit CSV path (when --log_csv ends in .csv).</summary>
    public string? CsvPath { get; init; }
    /// <summary>Folder of checkpoints; default LogDir.</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>Optional TensorBoard event folder.</summary>
    public string? TensorboardDir { get; init; }
    /// <summary>Print a progress line per epoch.</summary>
    [JsonIgnore] public bool Verbose { get; init; } = true;

    [JsonIgnore] public int Epochs => (int)(TotalSteps / StepsPerEpoch);
    [JsonIgnore] public int Horizon => StepsPerEpoch / NumEnvs;
    [JsonIgnore] public string Csv => CsvPath ?? Path.Combine(LogDir, RunName + ".csv");
    [JsonIgnore] public string CkptDir => CheckpointDir ?? Path.GetDirectoryName(Path.GetFullPath(Csv))!;
    [JsonIgnore] public string CheckpointPath => Path.Combine(CkptDir, RunName + ".ckpt");
    [JsonIgnore] public string FinalActorPath => Path.Combine(CkptDir, RunName + "_actor.pt");

    /// <summary>One-line errors for inconsistent settings.</summary>
    public void Validate()
    {
        static O2O.Core.UserError E(string m) => new(m);
        if (TotalSteps <= 0) throw E($"--total_steps must be > 0, got {TotalSteps}");
        if (StepsPerEpoch <= 0) throw E($"--steps_per_epoch must be > 0, got {StepsPerEpoch}");
        if (NumEnvs <= 0) throw E($"--num_envs must be > 0, got {NumEnvs}");
        if (StepsPerEpoch % NumEnvs != 0) throw E($"--steps_per_epoch {StepsPerEpoch} is not divisible by --num_envs {NumEnvs}; choose a multiple of {NumEnvs}");
        if (MinibatchSize <= 0) throw E($"--minibatch_size must be > 0, got {MinibatchSize}");
        if (StepsPerEpoch < MinibatchSize) throw E($"--steps_per_epoch {StepsPerEpoch} is smaller than --minibatch_size {MinibatchSize}; raise the first or lower the second");
        if (TotalSteps < StepsPerEpoch) throw E($"--total_steps {TotalSteps} is smaller than --steps_per_epoch {StepsPerEpoch}: not one epoch would run");
        if (TrainIters <= 0) throw E($"--train_iters must be > 0, got {TrainIters}");
        if (Gamma is <= 0 or > 1) throw E($"--gamma must be in (0, 1], got {Gamma}");
        if (GaeLambda is < 0 or > 1) throw E($"--gae_lambda must be in [0, 1], got {GaeLambda}");
        if (Clip <= 0) throw E($"--clip must be > 0, got {Clip}");
        if (Lr <= 0) throw E($"--lr must be > 0, got {Lr}");
        if (EvalEpisodes < 0) throw E($"--eval_episodes must be ≥ 0, got {EvalEpisodes}");
        if (EvalEvery <= 0) throw E($"--eval_every must be > 0, got {EvalEvery}");
        if (ObsNorm is not null and not "running" and not "frozen") throw E($"--obs_norm '{ObsNorm}' must be running or frozen");
        if (Hidden.Length == 0 || Hidden.Any(h => h <= 0)) throw E("--hidden must list positive widths, e.g. 64,64");
    }
}
