using O2O.Core;

namespace O2O.Sim.Tests;

public class RegistryTests
{
    [Fact]
    public void Lists_the_three_locomotion_envs_in_v4_and_v5_in_order()
    {
        Assert.Equal(["Hopper-v4", "Walker2d-v4", "HalfCheetah-v4", "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"],
            EnvRegistry.Specs.Select(s => s.Id));
        Assert.True(EnvRegistry.IsKnown("Walker2d-v4"));
        Assert.False(EnvRegistry.IsKnown("hopper-v4"));
        Assert.Equal(6, EnvRegistry.Get("HalfCheetah-v4").ActDim);
    }

    [Fact]
    public void Unknown_id_lists_the_known_ones()
    {
        var e = Assert.ThrowsAny<UserError>(() => EnvRegistry.Make("Hoper-v4"));
        Assert.Equal("unknown env id 'Hoper-v4'; known: Hopper-v4, Walker2d-v4, HalfCheetah-v4, Hopper-v5, "
            + "Walker2d-v5, HalfCheetah-v5", e.Message);
        Assert.ThrowsAny<UserError>(() => EnvRegistry.Get("Ant-v4"));
    }

    [Theory]
    [InlineData("hopper-medium-v2", "Hopper-v4")]
    [InlineData("walker2d-medium-replay-v2", "Walker2d-v4")]
    [InlineData("halfcheetah-expert-v2", "HalfCheetah-v4")]
    [InlineData("hopper_medium", "Hopper-v4")]
    public void D4RL_task_names_map_to_env_ids(string task, string id) => Assert.Equal(id, EnvRegistry.ForTask(task));

    [Fact]
    public void Unknown_task_prefix_is_a_user_error()
    {
        var e = Assert.ThrowsAny<UserError>(() => EnvRegistry.ForTask("ant-medium-v2"));
        Assert.Contains("hopper, walker2d, halfcheetah", e.Message);
    }
}

public class RandomRolloutTests
{
    // Random-policy levels of the Gymnasium v4 envs (and D4RL's random reference returns: hopper −20 … 20,
    // walker 1.6, halfcheetah −280 per 1000 steps): a model with wrong geometry, gear or reward lands far outside.
    [Theory]
    [InlineData("Hopper-v4", 6000, 10.0, 30.0, 12.0, 40.0)]
    [InlineData("Walker2d-v4", 6000, -5.0, 15.0, 10.0, 40.0)]
    [InlineData("HalfCheetah-v4", 3000, -450.0, -200.0, 1000.0, 1000.0)]
    // v5: the same bands (the healthy reward lost on the falling step and the right foot's friction move the mean
    // by about one; docs/envs.md lists both versions' numbers side by side).
    [InlineData("Hopper-v5", 6000, 10.0, 30.0, 12.0, 40.0)]
    [InlineData("Walker2d-v5", 6000, -5.0, 15.0, 10.0, 40.0)]
    [InlineData("HalfCheetah-v5", 3000, -450.0, -200.0, 1000.0, 1000.0)]
    public void Uniform_random_policy_lands_at_the_known_random_level(
        string id, int steps, double minReturn, double maxReturn, double minLength, double maxLength)
    {
        var result = RandomRollout.Run(id, steps, seed: 0);
        Assert.NotEmpty(result.Episodes);
        Assert.InRange(result.Episodes.Average(e => e.Return), minReturn, maxReturn);
        Assert.InRange(result.Episodes.Average(e => e.Length), minLength, maxLength);
        Assert.Equal(id.StartsWith("HalfCheetah", StringComparison.Ordinal), result.Episodes.All(e => e.Truncated));
        Assert.True(result.StepsPerSecond > 0);
    }
}
