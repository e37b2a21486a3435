namespace O2O.Sim;

/// <summary>
/// The constructor arguments Gymnasium's Hopper, Walker2d and HalfCheetah take (v4 and v5 name the same ones);
/// null means the env's own default (docs/envs.md, "Arguments"). HalfCheetah has no health arguments.
/// </summary>
public sealed record LocomotionArgs
{
    /// <summary>forward_reward_weight (default 1).</summary>
    public double? ForwardRewardWeight { get; init; }
    /// <summary>ctrl_cost_weight (Hopper and Walker2d 1e-3, HalfCheetah 0.1).</summary>
    public double? CtrlCostWeight { get; init; }
    /// <summary>healthy_reward (Hopper and Walker2d 1; HalfCheetah has none).</summary>
    public double? HealthyReward { get; init; }
    /// <summary>terminate_when_unhealthy (default true; HalfCheetah never terminates).</summary>
    public bool? TerminateWhenUnhealthy { get; init; }
    /// <summary>healthy_state_range of Hopper: qpos[2:] and qvel strictly inside (default ±100).</summary>
    public (double Min, double Max)? HealthyStateRange { get; init; }
    /// <summary>healthy_z_range (Hopper (0.7, ∞), Walker2d (0.8, 2)), strict.</summary>
    public (double Min, double Max)? HealthyZRange { get; init; }
    /// <summary>healthy_angle_range (Hopper (−0.2, 0.2), Walker2d (−1, 1)), strict.</summary>
    public (double Min, double Max)? HealthyAngleRange { get; init; }
    /// <summary>reset_noise_scale (Hopper and Walker2d 5e-3, HalfCheetah 0.1).</summary>
    public double? ResetNoiseScale { get; init; }
    /// <summary>exclude_current_positions_from_observation (default true: the root x is not observed).</summary>
    public bool? ExcludeCurrentPositionsFromObservation { get; init; }

    /// <summary>Every argument at its default.</summary>
    public static LocomotionArgs Defaults { get; } = new();

    /// <summary>True when no argument is set.</summary>
    public bool IsDefault => this == Defaults;

    /// <summary>
    /// Check the values for <paramref name="kind"/>: finite weights, ranges with min &lt; max, a non-negative noise
    /// scale, and no health argument for HalfCheetah. Throws <see cref="ArgumentException"/> naming the argument.
    /// </summary>
    public void Validate(LocomotionKind kind)
    {
        static void Finite(double? v, string name)
        {
            if (v is double d && !double.IsFinite(d))
                throw new ArgumentException($"{name} must be finite, got {d}", name);
        }
        static void Range((double Min, double Max)? r, string name)
        {
            if (r is { } x && (double.IsNaN(x.Min) || double.IsNaN(x.Max) || !(x.Min < x.Max)))
                throw new ArgumentException($"{name} must be (min, max) with min < max, got ({x.Min}, {x.Max})", name);
        }
        Finite(ForwardRewardWeight, "forward_reward_weight");
        Finite(CtrlCostWeight, "ctrl_cost_weight");
        Finite(HealthyReward, "healthy_reward");
        Finite(ResetNoiseScale, "reset_noise_scale");
        if (ResetNoiseScale is < 0)
            throw new ArgumentException($"reset_noise_scale must be >= 0, got {ResetNoiseScale}", "reset_noise_scale");
        Range(HealthyStateRange, "healthy_state_range");
        Range(HealthyZRange, "healthy_z_range");
        Range(HealthyAngleRange, "healthy_angle_range");
        if (kind != LocomotionKind.Hopper && HealthyStateRange is not null)
            throw new ArgumentException($"{kind} takes no healthy_state_range (Hopper only)", "healthy_state_range");
        if (kind == LocomotionKind.HalfCheetah
            && (HealthyReward is not null || TerminateWhenUnhealthy is not null || HealthyZRange is not null
                || HealthyAngleRange is not null))
            throw new ArgumentException(
                "HalfCheetah takes no health arguments (healthy_reward, terminate_when_unhealthy, healthy_*_range)");
    }
}
