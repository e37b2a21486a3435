using O2O.Core;

namespace O2O.Sim.Tests;

public class RegistryTests
{
    [Fact]
    public void Lists_the_three_locomotion_envs_in_order()
    {
        Assert.Equal(["Hopper-v4", "Walker2d-v4", "HalfCheetah-v4"], EnvRegistry.Specs.Select(s => s.Id));
        Assert.True(EnvRegistry.IsKnown("Walker2d-v4"));
        Assert.False(EnvRegistry.IsKnown("hopper-v4"));
        Assert.Equal(6, EnvRegistry.Get("HalfCheetah-v4").ActDim);
    }

    [Fact]
    public void Unknown_id_lists_the_known_ones()
    {
        var e = Assert.Throws<UserError>(() => EnvRegistry.Make("Hoper-v4"));
        Assert.Equal("unknown env id 'Hoper-v4'; known: Hopper-v4, Walker2d-v4, HalfCheetah-v4", e.Message);
        Assert.Throws<UserError>(() => EnvRegistry.Get("Ant-v4"));
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
        var e = Assert.Throws<UserError>(() => EnvRegistry.ForTask("ant-medium-v2"));
        Assert.Contains("hopper, walker2d, halfcheetah", e.Message);
    }
}
