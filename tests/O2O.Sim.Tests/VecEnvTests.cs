namespace O2O.Sim.Tests;

public class VecEnvTests
{
    static float[] RandomActions(ref Pcg32 rng, int n)
    {
        var a = new float[n];
        TestSupport.RandomActions(ref rng, a);
        return a;
    }

    [Fact]
    public void First_observations_are_the_seeded_resets_of_each_env()
    {
        using var vec = new VecEnv("Hopper-v4", 3, seed: 10, threads: 1);
        using var env = EnvRegistry.Make("Hopper-v4");
        var obs = new float[11];
        for (var i = 0; i < 3; i++)
        {
            env.Reset(10 + i, obs);
            Assert.Equal(obs, vec.Obs.AsSpan(i * 11, 11).ToArray());
        }
    }

    [Fact]
    public void Auto_reset_keeps_the_final_observation_and_the_episode_totals()
    {
        // Env 1 of the VecEnv must match a standalone env with seed + 1 driven by the same actions.
        const int n = 3, seed = 20;
        using var vec = new VecEnv("Hopper-v4", n, seed, threads: 2);
        using var twin = EnvRegistry.Make("Hopper-v4");
        var obs = new float[11];
        twin.Reset(seed + 1, obs);
        var rng = new Pcg32(8);
        double ret = 0;
        var finished = 0;
        for (var t = 0; t < 2000 && finished < 3; t++)
        {
            var actions = RandomActions(ref rng, n * 3);
            vec.Step(actions);
            var r = twin.Step(actions.AsSpan(3, 3), obs);
            ret += r.Reward;
            Assert.Equal(r, vec.Results[1]);
            Assert.Equal((float)r.Reward, vec.Rewards[1]);
            Assert.Equal(r.Terminated, vec.Terminated[1]);
            Assert.Equal(r.Truncated, vec.Truncated[1]);
            Assert.Equal(obs, vec.FinalObs.AsSpan(11, 11).ToArray());
            if (r.Terminated || r.Truncated)
            {
                Assert.Equal(ret, vec.EpisodeReturn[1], 9);
                Assert.Equal(twin.EpisodeStep, vec.EpisodeLength[1]);
                twin.Reset(null, obs);
                Assert.NotEqual(vec.FinalObs.AsSpan(11, 11).ToArray(), vec.Obs.AsSpan(11, 11).ToArray());
                ret = 0;
                finished++;
            }
            else
            {
                Assert.Equal(0, vec.EpisodeLength[1]);
            }
            Assert.Equal(obs, vec.Obs.AsSpan(11, 11).ToArray());
        }
        Assert.Equal(3, finished);
    }

    static (float[] Obs, float[] Final, float[] Rewards, bool[] Done) Run(int threads, int steps)
    {
        using var vec = new VecEnv("Walker2d-v4", 5, seed: 3, threads: threads);
        var rng = new Pcg32(4);
        var obs = new List<float>();
        var fin = new List<float>();
        var rew = new List<float>();
        var done = new List<bool>();
        for (var t = 0; t < steps; t++)
        {
            vec.Step(RandomActions(ref rng, 5 * 6));
            obs.AddRange(vec.Obs);
            fin.AddRange(vec.FinalObs);
            rew.AddRange(vec.Rewards);
            done.AddRange(vec.Terminated.Zip(vec.Truncated, (a, b) => a || b));
        }
        return (obs.ToArray(), fin.ToArray(), rew.ToArray(), done.ToArray());
    }

    [Fact]
    public void Results_do_not_depend_on_the_thread_count()
    {
        var one = Run(1, 300);
        var two = Run(2, 300);
        var three = Run(3, 300);
        Assert.Contains(true, one.Done);  // random walkers fall within 300 steps, so auto-reset is covered
        Assert.Equal(one.Obs, two.Obs);
        Assert.Equal(one.Final, two.Final);
        Assert.Equal(one.Rewards, two.Rewards);
        Assert.Equal(one.Done, two.Done);
        Assert.Equal(one.Obs, three.Obs);
        Assert.Equal(one.Rewards, three.Rewards);
    }

    [Fact]
    public void Reset_starts_new_episodes_everywhere()
    {
        using var vec = new VecEnv("HalfCheetah-v4", 2, seed: 0);
        vec.Step(new float[12]);
        Assert.Equal(1, vec.Env(0).EpisodeStep);
        vec.Reset();
        Assert.Equal(0, vec.Env(0).EpisodeStep);
        Assert.Equal(0, vec.Env(1).EpisodeStep);
    }

    [Fact]
    public void Bad_actions_are_argument_errors_naming_the_env()
    {
        using var vec = new VecEnv("Hopper-v4", 2, seed: 0, threads: 2);
        var e = Assert.Throws<ArgumentException>(() => vec.Step(new float[5]));
        Assert.StartsWith("actions has 5 entries, 2 envs × 3 (Hopper-v4) need 6", e.Message);
        var bad = new float[6];
        bad[4] = float.NaN;
        e = Assert.Throws<ArgumentException>(() => vec.Step(bad));
        Assert.Contains("env 1, entry 1", e.Message);
        vec.Step(new float[6]);  // still usable
    }

    [Fact]
    public void Step_allocates_nothing_on_the_calling_thread()
    {
        using var vec = new VecEnv("Hopper-v4", 4, seed: 0, threads: 2);
        var actions = new float[12];
        var rng = new Pcg32(6);
        for (var t = 0; t < 50; t++) { TestSupport.RandomActions(ref rng, actions); vec.Step(actions); }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var t = 0; t < 500; t++) { TestSupport.RandomActions(ref rng, actions); vec.Step(actions); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Unknown_env_id_is_the_registry_error()
    {
        Assert.ThrowsAny<O2O.Core.UserError>(() => new VecEnv("Hoper-v4", 2, 0));
    }
}
