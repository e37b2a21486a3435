namespace O2O.Sim;

/// <summary>Static facts of a registered environment (Gymnasium's spec, as a record).</summary>
/// <param name="Id">Registry id, e.g. "Hopper-v4".</param>
/// <param name="ObsDim">Observation length.</param>
/// <param name="ActDim">Action length; actions live in [-1, 1].</param>
/// <param name="Dt">Seconds of simulated time per env step (frame_skip × timestep).</param>
/// <param name="FrameSkip">Physics steps per env step.</param>
/// <param name="MaxEpisodeSteps">Steps after which an episode is truncated.</param>
/// <param name="NqPos">Length of qpos.</param>
/// <param name="NqVel">Length of qvel.</param>
public sealed record EnvSpec(
    string Id,
    int ObsDim,
    int ActDim,
    double Dt,
    int FrameSkip,
    int MaxEpisodeSteps,
    int NqPos,
    int NqVel);

/// <summary>What one env step returned besides the observation (Gymnasium's reward, flags and info).</summary>
public readonly record struct StepResult(
    double Reward,
    bool Terminated,
    bool Truncated,
    double ForwardReward,
    double ControlCost,
    double HealthyReward,
    double XPosition,
    double XVelocity);

/// <summary>A single MuJoCo locomotion environment with Gymnasium v4 semantics.</summary>
public interface IEnv : IDisposable
{
    /// <summary>The environment's static facts.</summary>
    EnvSpec Spec { get; }

    /// <summary>
    /// Start an episode. A seed re-seeds the env's RNG (same seed → same trajectory for the same actions);
    /// null continues the current RNG stream. Writes the first observation into <paramref name="obs"/>.
    /// </summary>
    void Reset(int? seed, Span<float> obs);

    /// <summary>Clip the action to [-1, 1], advance frame_skip physics steps, write the next observation.</summary>
    StepResult Step(ReadOnlySpan<float> action, Span<float> obs);

    /// <summary>Current generalised positions (length NqPos), without copying.</summary>
    ReadOnlySpan<double> QPos { get; }

    /// <summary>Current generalised velocities (length NqVel), without copying.</summary>
    ReadOnlySpan<double> QVel { get; }

    /// <summary>Set qpos and qvel and recompute derived quantities (Gymnasium's set_state).</summary>
    void SetState(ReadOnlySpan<double> qpos, ReadOnlySpan<double> qvel);

    /// <summary>Write the observation of the current state.</summary>
    void Observe(Span<float> obs);

    /// <summary>Steps taken in the current episode.</summary>
    int EpisodeStep { get; }

    /// <summary>
    /// Everything that decides the env's future: physics state, solver warm start, step counter, RNG.
    /// </summary>
    EnvState CaptureState();

    /// <summary>Continue exactly from a state captured from an env of the same id.</summary>
    void RestoreState(EnvState state);
}

/// <summary>A captured env state as plain numbers (checkpoints store them as tensors).</summary>
public sealed record EnvState(double[] Reals, long[] Ints);
