namespace O2O.Sim.Tests;

/// <summary>
/// Gymnasium v5's differences from v4 (Walker2d's feet, the healthy reward) and the constructor arguments both
/// versions take (weights, health ranges, termination switch, reset noise, the x position in the observation).
/// </summary>
public class V5EnvTests
{
    static LocomotionEnv Make(string id, LocomotionArgs? args = null) => (LocomotionEnv)EnvRegistry.Make(id, args);

    [Fact]
    public void Walker2d_v5_gives_both_feet_the_friction_of_the_left_foot_read_back_from_the_compiled_model()
    {
        using var v4 = Make("Walker2d-v4");
        using var v5 = Make("Walker2d-v5");
        Assert.Equal(0.9, v4.Simulation.GeomFriction("foot_geom").Slide);
        Assert.Equal(1.9, v4.Simulation.GeomFriction("foot_left_geom").Slide);
        Assert.Equal(1.9, v5.Simulation.GeomFriction("foot_geom").Slide);
        Assert.Equal(1.9, v5.Simulation.GeomFriction("foot_left_geom").Slide);
        foreach (var g in new[] { "torso_geom", "thigh_geom", "leg_geom", "thigh_left_geom", "leg_left_geom" })
            Assert.Equal(v4.Simulation.GeomFriction(g), v5.Simulation.GeomFriction(g));
        Assert.Throws<ArgumentException>(() => v5.Simulation.GeomFriction("no_such_geom"));
    }

    [Fact]
    public void Hopper_and_HalfCheetah_v5_use_the_v4_models()
    {
        foreach (var (a, b) in new[] { ("Hopper-v4", "Hopper-v5"), ("HalfCheetah-v4", "HalfCheetah-v5") })
        {
            using var v4 = Make(a);
            using var v5 = Make(b);
            Assert.Equal(v4.Simulation.BodyMass, v5.Simulation.BodyMass);
            Assert.Equal(v4.Simulation.Timestep, v5.Simulation.Timestep);
        }
    }

    [Fact]
    public void Same_seed_and_actions_give_the_same_hopper_trajectory_in_v4_and_v5_until_the_fall()
    {
        using var v4 = Make("Hopper-v4");
        using var v5 = Make("Hopper-v5");
        var o4 = new float[11];
        var o5 = new float[11];
        var action = new float[3];
        var rng = new Pcg32(5);
        v4.Reset(5, o4);
        v5.Reset(5, o5);
        for (var t = 0; t < 1000; t++)
        {
            TestSupport.RandomActions(ref rng, action);
            var r4 = v4.Step(action, o4);
            var r5 = v5.Step(action, o5);
            Assert.Equal(o4, o5);
            Assert.Equal(r4.Terminated, r5.Terminated);
            if (!r4.Terminated) { Assert.Equal(r4.Reward, r5.Reward); continue; }
            // The falling step: v4 still pays the healthy reward, v5 does not (Gymnasium issue 526).
            Assert.Equal(1.0, r4.HealthyReward);
            Assert.Equal(0.0, r5.HealthyReward);
            Assert.Equal(r4.Reward - 1.0, r5.Reward, 12);
            return;
        }
        Assert.Fail("a random hopper should fall within 1000 steps");
    }

    [Theory]
    [InlineData("Hopper-v4", 0.5)]
    [InlineData("Hopper-v5", 0.5)]
    [InlineData("Walker2d-v4", 1.5)]
    [InlineData("Walker2d-v5", 1.5)]
    public void Without_termination_an_unhealthy_state_goes_on_and_earns_no_healthy_reward(string id, double angle)
    {
        using var env = Make(id, new LocomotionArgs { TerminateWhenUnhealthy = false });
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var healthy = env.Step(new float[env.Spec.ActDim], obs);
        Assert.Equal(1.0, healthy.HealthyReward);
        var qpos = env.QPos.ToArray();
        qpos[2] = angle;
        env.SetState(qpos, new double[env.Spec.NqVel]);
        for (var t = 0; t < 5; t++)
        {
            var r = env.Step(new float[env.Spec.ActDim], obs);
            Assert.False(r.Terminated);
            Assert.False(env.IsHealthy);
            Assert.Equal(0.0, r.HealthyReward);  // v4 and v5 agree here: healthy_reward only while healthy
        }
    }

    [Theory]
    [InlineData("Hopper-v5", 1, 0.70, false)]   // strict: z must exceed 0.7
    [InlineData("Hopper-v5", 1, 0.71, true)]
    [InlineData("Hopper-v5", 2, 0.20, false)]
    [InlineData("Hopper-v5", 2, -0.19, true)]
    [InlineData("Hopper-v5", 3, -100.0, false)]
    [InlineData("Walker2d-v5", 1, 0.80, false)]
    [InlineData("Walker2d-v5", 1, 0.81, true)]
    [InlineData("Walker2d-v5", 1, 2.00, false)]
    [InlineData("Walker2d-v5", 2, 0.99, true)]
    [InlineData("Walker2d-v5", 2, -1.01, false)]
    [InlineData("HalfCheetah-v5", 1, -5.0, true)]
    public void V5_health_uses_the_v4_strict_thresholds(string id, int qposIndex, double value, bool healthy)
    {
        using var env = Make(id);
        Assert.Equal(healthy, HealthyAfter(env, qposIndex, value));
    }

    static bool HealthyAfter(LocomotionEnv env, int qposIndex, double value)
    {
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var qpos = env.QPos.ToArray();
        qpos[1] = env.Kind == LocomotionKind.HalfCheetah ? 0 : 1.25;
        qpos[2] = 0;
        qpos[qposIndex] = value;
        env.SetState(qpos, new double[env.Spec.NqVel]);
        return env.IsHealthy;
    }

    [Fact]
    public void Health_ranges_are_arguments()
    {
        using var env = Make("Hopper-v5", new LocomotionArgs
        {
            HealthyZRange = (0.5, 1.3), HealthyAngleRange = (-0.5, 0.5), HealthyStateRange = (-5, 5),
        });
        Assert.True(HealthyAfter(env, 1, 0.6));
        Assert.False(HealthyAfter(env, 1, 1.3));
        Assert.True(HealthyAfter(env, 2, 0.4));
        Assert.False(HealthyAfter(env, 3, 5.0));
        using var walker = Make("Walker2d-v5", new LocomotionArgs { HealthyZRange = (1.0, 1.5) });
        Assert.False(HealthyAfter(walker, 1, 0.9));
        Assert.True(HealthyAfter(walker, 1, 1.25));
    }

    [Theory]
    [InlineData("Hopper-v5")]
    [InlineData("Walker2d-v5")]
    [InlineData("HalfCheetah-v5")]
    public void Reward_weights_are_arguments(string id)
    {
        var args = new LocomotionArgs { ForwardRewardWeight = 2.5, CtrlCostWeight = 0.3 };
        if (!id.StartsWith("HalfCheetah", StringComparison.Ordinal)) args = args with { HealthyReward = 0.25 };
        using var env = Make(id, args);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(4);
        env.Reset(4, obs);
        for (var t = 0; t < 100; t++)
        {
            TestSupport.RandomActions(ref rng, action);
            var r = env.Step(action, obs);
            Assert.Equal(0.3 * action.Sum(a => (double)a * a), r.ControlCost, 12);
            Assert.Equal(2.5 * r.XVelocity, r.ForwardReward, 12);
            Assert.Equal(args.HealthyReward is null || r.Terminated ? 0.0 : 0.25, r.HealthyReward);
            Assert.Equal(r.HealthyReward + r.ForwardReward - r.ControlCost, r.Reward, 12);
            if (r.Terminated || r.Truncated) env.Reset(null, obs);
        }
    }

    [Theory]
    [InlineData("Hopper-v5", 12)]
    [InlineData("Walker2d-v5", 18)]
    [InlineData("HalfCheetah-v5", 18)]
    [InlineData("Hopper-v4", 12)]
    public void Keeping_the_x_position_puts_qpos_0_first(string id, int dim)
    {
        using var env = Make(id, new LocomotionArgs { ExcludeCurrentPositionsFromObservation = false });
        Assert.Equal(dim, env.Spec.ObsDim);
        var obs = new float[dim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(6);
        env.Reset(6, obs);
        for (var t = 0; t < 50; t++)
        {
            TestSupport.RandomActions(ref rng, action);
            var r = env.Step(action, obs);
            for (var i = 0; i < env.Spec.NqPos; i++) Assert.Equal((float)env.QPos[i], obs[i]);
            Assert.Equal((float)r.XPosition, obs[0]);
            if (r.Terminated || r.Truncated) env.Reset(null, obs);
        }
    }

    [Theory]
    [InlineData("Hopper-v5", 0.05)]
    [InlineData("HalfCheetah-v5", 0.01)]
    public void Reset_noise_scale_is_an_argument(string id, double scale)
    {
        using var env = Make(id, new LocomotionArgs { ResetNoiseScale = scale });
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var qpos0 = env.Kind == LocomotionKind.Hopper ? new double[] { 0, 1.25, 0, 0, 0, 0 } : new double[9];
        double maxPos = 0;
        for (var s = 0; s < 200; s++)
        {
            env.Reset(s, obs);
            for (var i = 0; i < qpos0.Length; i++) maxPos = Math.Max(maxPos, Math.Abs(env.QPos[i] - qpos0[i]));
        }
        Assert.InRange(maxPos, 0.9 * scale, scale);
    }

    [Fact]
    public void Bad_arguments_are_argument_errors_naming_the_argument()
    {
        Assert.Contains("healthy_z_range",
            Assert.Throws<ArgumentException>(() => Make("Hopper-v5", new() { HealthyZRange = (1, 0.5) })).Message);
        Assert.Contains("reset_noise_scale",
            Assert.Throws<ArgumentException>(() => Make("Walker2d-v5", new() { ResetNoiseScale = -1 })).Message);
        Assert.Contains("ctrl_cost_weight",
            Assert.Throws<ArgumentException>(() => Make("Hopper-v5", new() { CtrlCostWeight = double.NaN })).Message);
        Assert.Contains("healthy_state_range",
            Assert.Throws<ArgumentException>(() => Make("Walker2d-v5", new() { HealthyStateRange = (-1, 1) })).Message);
        Assert.Contains("HalfCheetah takes no health arguments",
            Assert.Throws<ArgumentException>(() => Make("HalfCheetah-v5", new() { HealthyReward = 1 })).Message);
    }
}
