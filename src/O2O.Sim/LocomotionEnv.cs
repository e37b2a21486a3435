using O2O.Sim.Interop;

namespace O2O.Sim;

/// <summary>Which Gymnasium v4 locomotion robot an env simulates; picks its health check and reset noise.</summary>
public enum LocomotionKind
{
    /// <summary>Hopper-v4.</summary>
    Hopper,
    /// <summary>Walker2d-v4.</summary>
    Walker2d,
    /// <summary>HalfCheetah-v4.</summary>
    HalfCheetah,
}

/// <summary>
/// Hopper-v4, Walker2d-v4 and HalfCheetah-v4 over MuJoCo 2.2.2 with Gymnasium v4 semantics
/// (observation, reward, termination, reset noise: docs/envs.md). Step allocates nothing.
/// </summary>
public sealed class LocomotionEnv : IEnv
{
    // Gymnasium v4 constants (hopper_v4.py, walker2d_v4.py, half_cheetah_v4.py defaults).
    const double ForwardRewardWeight = 1.0;
    const double ObsVelocityClip = 10.0;
    const double HalfCheetahCtrlCostWeight = 0.1;
    const double HopperWalkerCtrlCostWeight = 1e-3;
    const double HopperWalkerHealthyReward = 1.0;
    // Health checks: Hopper's healthy_state_range, healthy_z_range and healthy_angle_range; Walker2d's z and angle.
    const double HopperStateBound = 100.0;
    const double HopperMinZ = 0.7;
    const double HopperAngleBound = 0.2;
    const double WalkerMinZ = 0.8;
    const double WalkerMaxZ = 2.0;
    const double WalkerAngleBound = 1.0;

    readonly MjSimulation sim;
    readonly double ctrlCostWeight;
    readonly double healthyReward;
    Pcg32 rng;
    bool needsReset = true;
    bool everReset;
    bool disposed;

    /// <summary>Which of the three robots this env simulates.</summary>
    public LocomotionKind Kind { get; }

    /// <inheritdoc/>
    public EnvSpec Spec { get; }

    /// <inheritdoc/>
    public int EpisodeStep { get; private set; }

    /// <summary>Create an env for <paramref name="kind"/>; prefer <see cref="EnvRegistry.Make"/>.</summary>
    public LocomotionEnv(LocomotionKind kind) : this(kind, EnvRegistry.SpecOf(kind)) { }

    internal LocomotionEnv(LocomotionKind kind, EnvSpec spec)
    {
        Kind = kind;
        Spec = spec;
        var asset = kind switch
        {
            LocomotionKind.Hopper => "hopper.xml",
            LocomotionKind.Walker2d => "walker2d.xml",
            LocomotionKind.HalfCheetah => "half_cheetah.xml",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown locomotion kind"),
        };
        (ctrlCostWeight, healthyReward) = kind == LocomotionKind.HalfCheetah
            ? (HalfCheetahCtrlCostWeight, 0.0)
            : (HopperWalkerCtrlCostWeight, HopperWalkerHealthyReward);
        sim = MjSimulation.FromEmbeddedAsset(asset);
        var compiledDt = sim.Timestep * spec.FrameSkip;
        if (sim.Nq != spec.NqPos || sim.Nv != spec.NqVel || sim.Nu != spec.ActDim || sim.Nq - 1 + sim.Nv != spec.ObsDim
            || Math.Abs(compiledDt - spec.Dt) > 1e-12)
        {
            sim.Dispose();
            throw new InvalidOperationException(
                $"{asset} compiles to nq={sim.Nq}, nv={sim.Nv}, nu={sim.Nu}, dt={compiledDt}, " +
                $"which does not match the spec {spec}");
        }
        rng = new Pcg32((ulong)Random.Shared.NextInt64());  // unseeded like Gymnasium until Reset(seed)
    }

    /// <inheritdoc/>
    public ReadOnlySpan<double> QPos => sim.QPos;

    /// <inheritdoc/>
    public ReadOnlySpan<double> QVel => sim.QVel;

    /// <summary>Simulated seconds since the last reset.</summary>
    public double Time => sim.Time;

    /// <summary>Root x position (qpos[0]); not part of the observation.</summary>
    public double XPosition => sim.QPos[0];

    /// <summary>Timestep and integrator as compiled from the MJCF (for checks and docs).</summary>
    internal MjSimulation Simulation => sim;

    /// <summary>Gymnasium's is_healthy for the current state (always true for HalfCheetah).</summary>
    public bool IsHealthy
    {
        get
        {
            var qpos = sim.QPos;
            switch (Kind)
            {
                case LocomotionKind.Hopper:
                {
                    // state_vector()[2:] = qpos[2:] ++ qvel, each in (−100, 100); z > 0.7; angle in (−0.2, 0.2).
                    for (var i = 2; i < qpos.Length; i++)
                        if (!(qpos[i] > -HopperStateBound && qpos[i] < HopperStateBound)) return false;
                    foreach (var v in sim.QVel)
                        if (!(v > -HopperStateBound && v < HopperStateBound)) return false;
                    return qpos[1] > HopperMinZ && qpos[2] > -HopperAngleBound && qpos[2] < HopperAngleBound;
                }
                case LocomotionKind.Walker2d:
                    return qpos[1] > WalkerMinZ && qpos[1] < WalkerMaxZ
                        && qpos[2] > -WalkerAngleBound && qpos[2] < WalkerAngleBound;
                default:
                    return true;
            }
        }
    }

    /// <inheritdoc/>
    public void Reset(int? seed, Span<float> obs)
    {
        ThrowIfDisposed();
        CheckObsLength(obs);
        if (seed is int s) rng = new Pcg32(unchecked((ulong)(long)s));
        sim.ResetData();
        var qpos = sim.QPos;
        var qvel = sim.QVel;
        var qpos0 = sim.QPos0;
        // Gymnasium reset_model: qpos noise first, then qvel noise; init_qvel is zero.
        if (Kind == LocomotionKind.HalfCheetah)
        {
            const double scale = 0.1;
            for (var i = 0; i < qpos.Length; i++) qpos[i] = qpos0[i] + rng.Uniform(-scale, scale);
            for (var i = 0; i < qvel.Length; i++) qvel[i] = scale * rng.NextGaussian();
        }
        else
        {
            const double scale = 5e-3;
            for (var i = 0; i < qpos.Length; i++) qpos[i] = qpos0[i] + rng.Uniform(-scale, scale);
            for (var i = 0; i < qvel.Length; i++) qvel[i] = rng.Uniform(-scale, scale);
        }
        sim.Forward();
        EpisodeStep = 0;
        needsReset = false;
        everReset = true;
        Observe(obs);
    }

    /// <inheritdoc/>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> obs)
    {
        ThrowIfDisposed();
        if (needsReset)
            throw new InvalidOperationException(!everReset
                ? $"{Spec.Id}: call Reset before the first Step"
                : $"{Spec.Id}: the episode ended (terminated or truncated) after {EpisodeStep} steps; " +
                    $"call Reset before stepping again");
        if (action.Length != Spec.ActDim)
            throw new ArgumentException(
                $"action has {action.Length} entries, {Spec.Id} expects {Spec.ActDim}", nameof(action));
        CheckObsLength(obs);
        for (var i = 0; i < action.Length; i++)
            if (!float.IsFinite(action[i]))
                throw new ArgumentException(
                    $"action[{i}] is {action[i]}; {Spec.Id} needs finite actions", nameof(action));

        // Clip to the action space before the simulator sees it; the control cost is of the clipped action.
        var ctrl = sim.Ctrl;
        var sumSq = 0.0;
        for (var i = 0; i < action.Length; i++)
        {
            double a = Math.Clamp(action[i], -1f, 1f);
            ctrl[i] = a;
            sumSq += a * a;
        }

        var xBefore = sim.QPos[0];
        sim.Step(Spec.FrameSkip);
        var xAfter = sim.QPos[0];

        var xVelocity = (xAfter - xBefore) / Spec.Dt;
        var forwardReward = ForwardRewardWeight * xVelocity;
        var controlCost = ctrlCostWeight * sumSq;
        // Gymnasium pays healthy_reward on every step while terminate_when_unhealthy (the default) holds,
        // including the step that ends in a fall.
        var healthyReward = this.healthyReward;
        var terminated = !IsHealthy;
        EpisodeStep++;
        var truncated = EpisodeStep >= Spec.MaxEpisodeSteps;  // Gymnasium's TimeLimit
        if (terminated || truncated) needsReset = true;
        Observe(obs);
        return new StepResult(
            Reward: healthyReward + forwardReward - controlCost,
            Terminated: terminated,
            Truncated: truncated,
            ForwardReward: forwardReward,
            ControlCost: controlCost,
            HealthyReward: healthyReward,
            XPosition: xAfter,
            XVelocity: xVelocity);
    }

    /// <inheritdoc/>
    public EnvState CaptureState()
    {
        ThrowIfDisposed();
        var reals = new double[Spec.NqPos + 2 * Spec.NqVel + 1];
        sim.QPos.CopyTo(reals);
        sim.QVel.CopyTo(reals.AsSpan(Spec.NqPos));
        sim.QaccWarmstart.CopyTo(reals.AsSpan(Spec.NqPos + Spec.NqVel));
        reals[^1] = sim.Time;
        var rngState = rng.GetState();
        long[] ints = [EpisodeStep, needsReset ? 1 : 0, everReset ? 1 : 0, .. rngState.Select(u => unchecked((long)u))];
        return new EnvState(reals, ints);
    }

    /// <inheritdoc/>
    public void RestoreState(EnvState state)
    {
        ThrowIfDisposed();
        if (state.Reals.Length != Spec.NqPos + 2 * Spec.NqVel + 1 || state.Ints.Length != 7)
            throw new ArgumentException($"state does not belong to {Spec.Id} ({state.Reals.Length} reals, " +
                $"{state.Ints.Length} ints)", nameof(state));
        var r = state.Reals.AsSpan();
        r[..Spec.NqPos].CopyTo(sim.QPos);
        r.Slice(Spec.NqPos, Spec.NqVel).CopyTo(sim.QVel);
        sim.Forward();
        // mj_forward leaves the warm start alone; set it (and time) after, as they were.
        r.Slice(Spec.NqPos + Spec.NqVel, Spec.NqVel).CopyTo(sim.QaccWarmstart);
        sim.Time = r[^1];
        EpisodeStep = (int)state.Ints[0];
        needsReset = state.Ints[1] != 0;
        everReset = state.Ints[2] != 0;
        rng = Pcg32.FromState(state.Ints.AsSpan(3).ToArray().Select(l => unchecked((ulong)l)).ToArray());
    }

    /// <inheritdoc/>
    public void SetState(ReadOnlySpan<double> qpos, ReadOnlySpan<double> qvel)
    {
        ThrowIfDisposed();
        if (qpos.Length != Spec.NqPos)
            throw new ArgumentException(
                $"qpos has {qpos.Length} entries, {Spec.Id} expects {Spec.NqPos}", nameof(qpos));
        if (qvel.Length != Spec.NqVel)
            throw new ArgumentException(
                $"qvel has {qvel.Length} entries, {Spec.Id} expects {Spec.NqVel}", nameof(qvel));
        qpos.CopyTo(sim.QPos);
        qvel.CopyTo(sim.QVel);
        sim.Forward();
    }

    /// <inheritdoc/>
    public void Observe(Span<float> obs)
    {
        ThrowIfDisposed();
        CheckObsLength(obs);
        var qpos = sim.QPos;
        var qvel = sim.QVel;
        var n = qpos.Length - 1;
        for (var i = 0; i < n; i++) obs[i] = (float)qpos[i + 1];
        if (Kind == LocomotionKind.HalfCheetah)
            for (var i = 0; i < qvel.Length; i++) obs[n + i] = (float)qvel[i];
        else
            for (var i = 0; i < qvel.Length; i++)
                obs[n + i] = (float)Math.Clamp(qvel[i], -ObsVelocityClip, ObsVelocityClip);
    }

    void CheckObsLength(Span<float> obs)
    {
        if (obs.Length != Spec.ObsDim)
            throw new ArgumentException(
                $"observation buffer has {obs.Length} entries, {Spec.Id} needs {Spec.ObsDim}", nameof(obs));
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        sim.Dispose();
    }
}
