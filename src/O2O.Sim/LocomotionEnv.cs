using O2O.Sim.Interop;

namespace O2O.Sim;

/// <summary>Which Gymnasium locomotion robot an env simulates; picks its model, health check and reset noise.</summary>
public enum LocomotionKind
{
    /// <summary>Hopper-v4 and -v5.</summary>
    Hopper,
    /// <summary>Walker2d-v4 and -v5.</summary>
    Walker2d,
    /// <summary>HalfCheetah-v4 and -v5.</summary>
    HalfCheetah,
}

/// <summary>
/// Hopper, Walker2d and HalfCheetah, Gymnasium v4 and v5, over MuJoCo 2.2.2 with Gymnasium's semantics
/// (observation, reward, termination, reset noise, constructor arguments: docs/envs.md). Step allocates nothing.
/// </summary>
public sealed class LocomotionEnv : IEnv
{
    // Gymnasium's defaults (hopper_v4/v5.py, walker2d_v4/v5.py, half_cheetah_v4/v5.py).
    const double ObsVelocityClip = 10.0;
    const double HalfCheetahCtrlCostWeight = 0.1;
    const double HopperWalkerCtrlCostWeight = 1e-3;
    const double HopperWalkerHealthyReward = 1.0;
    const double HopperWalkerResetNoise = 5e-3;
    const double HalfCheetahResetNoise = 0.1;
    // Health checks: Hopper's healthy_state_range, healthy_z_range and healthy_angle_range; Walker2d's z and angle.
    const double HopperStateBound = 100.0;
    const double HopperMinZ = 0.7;
    const double HopperAngleBound = 0.2;
    const double WalkerMinZ = 0.8;
    const double WalkerMaxZ = 2.0;
    const double WalkerAngleBound = 1.0;

    readonly MjSimulation sim;
    readonly double forwardRewardWeight;
    readonly double ctrlCostWeight;
    readonly double healthyReward;
    readonly bool terminateWhenUnhealthy;
    readonly (double Min, double Max) stateRange, zRange, angleRange;
    readonly double resetNoise;
    readonly bool excludeX;
    Pcg32 rng;
    bool needsReset = true;
    bool everReset;
    bool disposed;

    /// <summary>Which of the three robots this env simulates.</summary>
    public LocomotionKind Kind { get; }

    /// <summary>Gymnasium's version of the env: 4 or 5 (v5 pays the healthy reward only while healthy).</summary>
    public int Version { get; }

    /// <summary>The constructor arguments as given (null entries are the env's defaults).</summary>
    public LocomotionArgs Args { get; }

    /// <inheritdoc/>
    public EnvSpec Spec { get; }

    /// <inheritdoc/>
    public int EpisodeStep { get; private set; }

    /// <summary>Create a v4 env for <paramref name="kind"/>; prefer <see cref="EnvRegistry.Make"/>.</summary>
    public LocomotionEnv(LocomotionKind kind) : this(kind, EnvRegistry.SpecOf(kind), 4, null) { }

    internal LocomotionEnv(LocomotionKind kind, EnvSpec spec, int version, LocomotionArgs? args)
    {
        args ??= LocomotionArgs.Defaults;
        args.Validate(kind);
        Kind = kind;
        Version = version;
        Args = args;
        var asset = kind switch
        {
            LocomotionKind.Hopper => "hopper.xml",
            LocomotionKind.Walker2d => version >= 5 ? "walker2d_v5.xml" : "walker2d.xml",
            LocomotionKind.HalfCheetah => "half_cheetah.xml",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown locomotion kind"),
        };
        var cheetah = kind == LocomotionKind.HalfCheetah;
        forwardRewardWeight = args.ForwardRewardWeight ?? 1.0;
        ctrlCostWeight = args.CtrlCostWeight ?? (cheetah ? HalfCheetahCtrlCostWeight : HopperWalkerCtrlCostWeight);
        healthyReward = cheetah ? 0.0 : args.HealthyReward ?? HopperWalkerHealthyReward;
        terminateWhenUnhealthy = !cheetah && (args.TerminateWhenUnhealthy ?? true);
        stateRange = args.HealthyStateRange ?? (-HopperStateBound, HopperStateBound);
        zRange = args.HealthyZRange
            ?? (kind == LocomotionKind.Hopper ? (HopperMinZ, double.PositiveInfinity) : (WalkerMinZ, WalkerMaxZ));
        angleRange = args.HealthyAngleRange ?? (kind == LocomotionKind.Hopper
            ? (-HopperAngleBound, HopperAngleBound) : (-WalkerAngleBound, WalkerAngleBound));
        resetNoise = args.ResetNoiseScale ?? (cheetah ? HalfCheetahResetNoise : HopperWalkerResetNoise);
        excludeX = args.ExcludeCurrentPositionsFromObservation ?? true;
        Spec = excludeX ? spec : spec with { ObsDim = spec.ObsDim + 1 };
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
            static bool Inside(double v, (double Min, double Max) r) => v > r.Min && v < r.Max;
            var qpos = sim.QPos;
            switch (Kind)
            {
                case LocomotionKind.Hopper:
                {
                    // state_vector()[2:] = qpos[2:] ++ qvel inside the state range; z and angle inside theirs (strict).
                    for (var i = 2; i < qpos.Length; i++)
                        if (!Inside(qpos[i], stateRange)) return false;
                    foreach (var v in sim.QVel)
                        if (!Inside(v, stateRange)) return false;
                    return Inside(qpos[1], zRange) && Inside(qpos[2], angleRange);
                }
                case LocomotionKind.Walker2d:
                    return Inside(qpos[1], zRange) && Inside(qpos[2], angleRange);
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
        var scale = resetNoise;
        for (var i = 0; i < qpos.Length; i++) qpos[i] = qpos0[i] + rng.Uniform(-scale, scale);
        if (Kind == LocomotionKind.HalfCheetah)
            for (var i = 0; i < qvel.Length; i++) qvel[i] = scale * rng.NextGaussian();
        else
            for (var i = 0; i < qvel.Length; i++) qvel[i] = rng.Uniform(-scale, scale);
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
        var forwardReward = forwardRewardWeight * xVelocity;
        var controlCost = ctrlCostWeight * sumSq;
        // v4 pays healthy_reward while healthy or while terminate_when_unhealthy holds (so also on the step that
        // falls); v5 pays it only while healthy (Gymnasium issue 526).
        var healthy = IsHealthy;
        var healthyReward = healthy || (Version < 5 && terminateWhenUnhealthy) ? this.healthyReward : 0.0;
        var terminated = !healthy && terminateWhenUnhealthy;
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
        var skip = excludeX ? 1 : 0;
        var n = qpos.Length - skip;
        for (var i = 0; i < n; i++) obs[i] = (float)qpos[i + skip];
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
