using O2O.Core;

namespace O2O.Sim.Tests;

public class EnvTests
{
    public static TheoryData<string> Ids => new(EnvRegistry.Specs.Select(s => s.Id));

    [Theory]
    [InlineData("Hopper-v4", 11, 3, 6, 6, 0.008, 4)]
    [InlineData("Walker2d-v4", 17, 6, 9, 9, 0.008, 4)]
    [InlineData("HalfCheetah-v4", 17, 6, 9, 9, 0.05, 5)]
    [InlineData("Hopper-v5", 11, 3, 6, 6, 0.008, 4)]
    [InlineData("Walker2d-v5", 17, 6, 9, 9, 0.008, 4)]
    [InlineData("HalfCheetah-v5", 17, 6, 9, 9, 0.05, 5)]
    public void Spec_and_buffers_have_the_gymnasium_dimensions(
        string id, int obs, int act, int nq, int nv, double dt, int frameSkip)
    {
        using var env = EnvRegistry.Make(id);
        Assert.Equal(new EnvSpec(id, obs, act, dt, frameSkip, 1000, nq, nv), env.Spec);
        var o = new float[obs];
        env.Reset(0, o);
        Assert.Equal(nq, env.QPos.Length);
        Assert.Equal(nv, env.QVel.Length);
        env.Step(new float[act], o);
        Assert.Equal(1, env.EpisodeStep);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Observation_is_qpos_without_x_then_qvel_clipped_as_published(string id)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(3);
        env.Reset(3, obs);
        var clip = id.StartsWith("HalfCheetah", StringComparison.Ordinal) ? double.PositiveInfinity : 10.0;
        for (var t = 0; t < 200; t++)
        {
            TestSupport.RandomActions(ref rng, action);
            var r = env.Step(action, obs);
            var qpos = env.QPos;
            var qvel = env.QVel;
            for (var i = 1; i < qpos.Length; i++) Assert.Equal((float)qpos[i], obs[i - 1]);
            for (var i = 0; i < qvel.Length; i++)
                Assert.Equal((float)Math.Clamp(qvel[i], -clip, clip), obs[qpos.Length - 1 + i]);
            Assert.Equal(qpos[0], r.XPosition);
            if (r.Terminated || r.Truncated) env.Reset(null, obs);
        }
    }

    [Theory]
    [InlineData("Hopper-v4", 10f)]
    [InlineData("Walker2d-v4", 10f)]
    [InlineData("HalfCheetah-v4", 50f)]
    public void Velocities_in_the_observation_are_clipped_to_10_for_hopper_and_walker_only(string id, float seen)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var qvel = new double[env.Spec.NqVel];
        qvel[3] = 50;
        qvel[4] = -50;
        env.SetState(env.QPos.ToArray(), qvel);
        env.Observe(obs);
        var at = env.Spec.NqPos - 1;
        Assert.Equal(seen, obs[at + 3]);
        Assert.Equal(-seen, obs[at + 4]);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Reward_is_healthy_plus_forward_minus_control_cost(string id)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(11);
        var (ctrlWeight, healthy) = id.StartsWith("HalfCheetah", StringComparison.Ordinal) ? (0.1, 0.0) : (1e-3, 1.0);
        var v5 = id.EndsWith("-v5", StringComparison.Ordinal);
        env.Reset(11, obs);
        for (var t = 0; t < 300; t++)
        {
            TestSupport.RandomActions(ref rng, action, scale: 1.3);  // some entries outside [-1, 1]
            var xBefore = env.QPos[0];
            var r = env.Step(action, obs);
            var xAfter = env.QPos[0];
            var sumSq = action.Sum(a => Math.Pow(Math.Clamp(a, -1f, 1f), 2));
            Assert.Equal(ctrlWeight * sumSq, r.ControlCost, 12);
            Assert.Equal(v5 && r.Terminated ? 0.0 : healthy, r.HealthyReward);  // v5: only while healthy
            Assert.Equal((xAfter - xBefore) / env.Spec.Dt, r.XVelocity, 12);
            Assert.Equal(r.XVelocity, r.ForwardReward, 12);
            Assert.Equal(r.HealthyReward + r.ForwardReward - r.ControlCost, r.Reward, 12);
            Assert.Equal(xAfter, r.XPosition);
            if (r.Terminated || r.Truncated) env.Reset(null, obs);
        }
    }

    static bool HealthyAfterSetState(IEnv env, int index, double value, bool inQvel = false)
    {
        var le = (LocomotionEnv)env;
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var qpos = env.QPos.ToArray();
        var qvel = new double[env.Spec.NqVel];
        qpos[1] = env.Spec.Id == "HalfCheetah-v4" ? 0 : 1.25;
        qpos[2] = 0;
        if (inQvel) qvel[index] = value; else qpos[index] = value;
        env.SetState(qpos, qvel);
        return le.IsHealthy;
    }

    [Theory]
    [InlineData(1, 0.69, false)]
    [InlineData(1, 0.70, false)]  // strict: z must exceed 0.7
    [InlineData(1, 0.71, true)]
    [InlineData(1, 50.0, true)]   // no upper z limit besides the state range
    [InlineData(2, 0.19, true)]
    [InlineData(2, 0.20, false)]
    [InlineData(2, 0.21, false)]
    [InlineData(2, -0.19, true)]
    [InlineData(2, -0.21, false)]
    [InlineData(3, -99.9, true)]  // a joint angle inside (−100, 100)
    [InlineData(3, -100.0, false)]
    [InlineData(5, 100.5, false)]
    public void Hopper_health_uses_the_published_strict_thresholds(int qposIndex, double value, bool healthy)
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        Assert.Equal(healthy, HealthyAfterSetState(env, qposIndex, value));
    }

    [Theory]
    [InlineData(0, 99.0, true)]
    [InlineData(0, 100.0, false)]
    [InlineData(5, -101.0, false)]
    public void Hopper_health_bounds_velocities_too(int qvelIndex, double value, bool healthy)
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        Assert.Equal(healthy, HealthyAfterSetState(env, qvelIndex, value, inQvel: true));
    }

    [Theory]
    [InlineData(1, 0.79, false)]
    [InlineData(1, 0.80, false)]
    [InlineData(1, 0.81, true)]
    [InlineData(1, 1.99, true)]
    [InlineData(1, 2.00, false)]
    [InlineData(1, 2.01, false)]
    [InlineData(2, 0.99, true)]
    [InlineData(2, 1.01, false)]
    [InlineData(2, -0.99, true)]
    [InlineData(2, -1.01, false)]
    public void Walker_health_uses_the_published_strict_thresholds(int qposIndex, double value, bool healthy)
    {
        using var env = EnvRegistry.Make("Walker2d-v4");
        Assert.Equal(healthy, HealthyAfterSetState(env, qposIndex, value));
    }

    [Theory]
    [InlineData(1, -5.0)]
    [InlineData(2, 3.0)]
    public void HalfCheetah_is_always_healthy(int qposIndex, double value)
    {
        using var env = EnvRegistry.Make("HalfCheetah-v4");
        Assert.True(HealthyAfterSetState(env, qposIndex, value));
    }

    [Theory]
    [InlineData("Hopper-v4", 0.5)]
    [InlineData("Walker2d-v4", 1.5)]
    public void A_step_that_ends_tilted_beyond_the_angle_limit_terminates(string id, double angle)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var qpos = env.QPos.ToArray();
        qpos[2] = angle;
        env.SetState(qpos, new double[env.Spec.NqVel]);
        var r = env.Step(new float[env.Spec.ActDim], obs);
        Assert.True(r.Terminated);
        Assert.False(r.Truncated);
        Assert.Equal(1.0, r.HealthyReward);  // Gymnasium pays it on the falling step too
        Assert.Throws<InvalidOperationException>(() => env.Step(new float[env.Spec.ActDim], obs));
    }

    [Fact]
    public void Zero_action_hopper_falls_and_terminates()
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        var obs = new float[env.Spec.ObsDim];
        var zero = new float[3];
        env.Reset(0, obs);
        StepResult r = default;
        var steps = 0;
        while (!r.Terminated && !r.Truncated) { r = env.Step(zero, obs); steps++; }
        Assert.True(r.Terminated, "a passive hopper must fall before the time limit");
        Assert.InRange(steps, 20, 500);  // falls over: not instantly (it starts upright), not never
        Assert.True(env.QPos[1] <= 0.7 || Math.Abs(env.QPos[2]) >= 0.2);
    }

    [Fact]
    public void HalfCheetah_random_episode_is_truncated_at_exactly_1000_steps()
    {
        using var env = EnvRegistry.Make("HalfCheetah-v4");
        var obs = new float[17];
        var action = new float[6];
        var rng = new Pcg32(5);
        env.Reset(5, obs);
        for (var t = 1; t <= 1000; t++)
        {
            TestSupport.RandomActions(ref rng, action);
            var r = env.Step(action, obs);
            Assert.False(r.Terminated);
            Assert.Equal(t == 1000, r.Truncated);
        }
        var e = Assert.Throws<InvalidOperationException>(() => env.Step(action, obs));
        Assert.Contains("Reset", e.Message);
        env.Reset(null, obs);
        Assert.False(env.Step(action, obs).Truncated);
    }

    [Fact]
    public void Hopper_held_upright_is_truncated_not_terminated_at_step_1000()
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        var obs = new float[11];
        var zero = new float[3];
        env.Reset(0, obs);
        var qpos = env.QPos.ToArray();
        var qvel = new double[6];
        for (var t = 1; t <= 1000; t++)
        {
            env.SetState(qpos, qvel);  // put it back upright before each step
            var r = env.Step(zero, obs);
            Assert.False(r.Terminated, $"terminated at step {t}");
            Assert.Equal(t == 1000, r.Truncated);
        }
    }

    [Theory]
    [InlineData("Hopper-v4")]
    [InlineData("Walker2d-v4")]
    public void Reset_noise_is_uniform_within_5e_3(string id)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        env.Reset(0, obs);
        var qpos0 = new double[env.Spec.NqPos];
        qpos0[1] = 1.25;
        double maxPos = 0, maxVel = 0;
        for (var s = 0; s < 100; s++)
        {
            env.Reset(s, obs);
            for (var i = 0; i < qpos0.Length; i++) maxPos = Math.Max(maxPos, Math.Abs(env.QPos[i] - qpos0[i]));
            foreach (var v in env.QVel) maxVel = Math.Max(maxVel, Math.Abs(v));
        }
        Assert.InRange(maxPos, 4e-3, 5e-3);  // reaches close to the bound but never past it
        Assert.InRange(maxVel, 4e-3, 5e-3);
    }

    [Fact]
    public void HalfCheetah_reset_noise_is_uniform_0_1_on_qpos_and_gaussian_0_1_on_qvel()
    {
        using var env = EnvRegistry.Make("HalfCheetah-v4");
        var obs = new float[17];
        var vel = new List<double>();
        double maxPos = 0;
        for (var s = 0; s < 300; s++)
        {
            env.Reset(s, obs);
            foreach (var q in env.QPos) maxPos = Math.Max(maxPos, Math.Abs(q));  // qpos0 is all zeros
            foreach (var v in env.QVel) vel.Add(v);
        }
        Assert.InRange(maxPos, 0.09, 0.1);
        var mean = vel.Average();
        var std = Math.Sqrt(vel.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.01, 0.01);   // 2700 draws: standard error 0.002
        Assert.InRange(std, 0.095, 0.105);
        Assert.True(vel.Max(Math.Abs) > 0.25, "Gaussian tails should exceed 2.5σ in 2700 draws");
    }

    static float[] Trajectory(string id, int seed, int steps, float actionScale = 1f)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(99);
        var all = new List<float>();
        env.Reset(seed, obs);
        all.AddRange(obs);
        for (var t = 0; t < steps; t++)
        {
            TestSupport.RandomActions(ref rng, action);
            for (var i = 0; i < action.Length; i++) action[i] *= actionScale;
            var r = env.Step(action, obs);
            all.AddRange(obs);
            all.Add((float)r.Reward);
            if (r.Terminated || r.Truncated) { env.Reset(null, obs); all.AddRange(obs); }
        }
        return all.ToArray();
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Same_seed_gives_the_same_trajectory_and_another_seed_does_not(string id)
    {
        var a = Trajectory(id, 7, 300);
        var b = Trajectory(id, 7, 300);
        Assert.Equal(a, b);
        var c = Trajectory(id, 8, 300);
        Assert.NotEqual(a.Take(20), c.Take(20));
    }

    [Fact]
    public void Reset_without_seed_continues_the_stream()
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        using var twin = EnvRegistry.Make("Hopper-v4");
        var o1 = new float[11];
        var o2 = new float[11];
        env.Reset(4, o1);
        var first = o1.ToArray();
        env.Reset(null, o1);
        Assert.NotEqual(first, o1);
        twin.Reset(4, o2);
        twin.Reset(null, o2);
        Assert.Equal(o1, o2);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Actions_beyond_the_bounds_behave_exactly_like_the_bounds(string id)
    {
        // Sign of the random action pushed to ±5 vs the same sign at ±1.
        using var big = EnvRegistry.Make(id);
        using var unit = EnvRegistry.Make(id);
        var ob = new float[big.Spec.ObsDim];
        var ou = new float[big.Spec.ObsDim];
        var ab = new float[big.Spec.ActDim];
        var au = new float[big.Spec.ActDim];
        var rng = new Pcg32(1);
        big.Reset(1, ob);
        unit.Reset(1, ou);
        for (var t = 0; t < 100; t++)
        {
            for (var i = 0; i < ab.Length; i++)
            {
                var sign = rng.NextDouble() < 0.5 ? -1f : 1f;
                ab[i] = 5f * sign;
                au[i] = sign;
            }
            var rb = big.Step(ab, ob);
            var ru = unit.Step(au, ou);
            Assert.Equal(ru, rb);
            Assert.Equal(ou, ob);
            if (rb.Terminated || rb.Truncated) { big.Reset(null, ob); unit.Reset(null, ou); }
        }
    }

    [Fact]
    public void Wrong_action_length_is_a_one_line_argument_error()
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        var obs = new float[11];
        env.Reset(0, obs);
        var e = Assert.Throws<ArgumentException>(() => env.Step(new float[2], obs));
        Assert.StartsWith("action has 2 entries, Hopper-v4 expects 3", e.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Non_finite_action_is_an_argument_error_naming_the_index(float bad)
    {
        using var env = EnvRegistry.Make("Walker2d-v4");
        var obs = new float[17];
        env.Reset(0, obs);
        var action = new float[6];
        action[4] = bad;
        var e = Assert.Throws<ArgumentException>(() => env.Step(action, obs));
        Assert.Contains("action[4]", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(0, env.EpisodeStep);  // nothing was simulated
    }

    [Fact]
    public void Step_before_reset_says_to_reset()
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        var e = Assert.Throws<InvalidOperationException>(() => env.Step(new float[3], new float[11]));
        Assert.Contains("Reset", e.Message);
    }

    [Fact]
    public void Wrong_observation_buffer_is_an_argument_error()
    {
        using var env = EnvRegistry.Make("Hopper-v4");
        Assert.Throws<ArgumentException>(() => env.Reset(0, new float[17]));
    }

    [Fact]
    public void Disposed_env_refuses_use()
    {
        var env = EnvRegistry.Make("Hopper-v4");
        env.Dispose();
        env.Dispose();
        Assert.Throws<ObjectDisposedException>(() => env.Reset(0, new float[11]));
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Step_and_reset_allocate_nothing(string id)
    {
        using var env = EnvRegistry.Make(id);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        var rng = new Pcg32(2);
        env.Reset(2, obs);
        for (var t = 0; t < 50; t++) Run();  // warm up (JIT tiers)
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var t = 0; t < 1000; t++) Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Run()
        {
            TestSupport.RandomActions(ref rng, action);
            var r = env.Step(action, obs);
            if (r.Terminated || r.Truncated) env.Reset(null, obs);
        }
    }
}
