using O2O.Core;
using O2O.Data;
using O2O.Learning.Bc;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;

namespace O2O.Learning.Tests;

/// <summary>Behaviour cloning at the library level: checks of its inputs, determinism, tensor lifetime.</summary>
[Collection("Torch training")]
public class BcTests
{
    public BcTests() => TorchRuntime.EnsureLoaded();

    /// <summary>Hopper-shaped rows (11 obs, 3 actions) whose actions depend linearly on the state.</summary>
    static OfflineDataset Linear(int rows, int obsDim = 11, int actDim = 3)
    {
        var rng = new Rng(5);
        var obs = new float[rows * obsDim];
        var act = new float[rows * actDim];
        for (var i = 0; i < obs.Length; i++) obs[i] = (float)rng.NextGaussian();
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < actDim; j++)
                act[r * actDim + j] = Math.Clamp(0.4f * obs[r * obsDim + j] - 0.2f * obs[r * obsDim + j + 1], -1f, 1f);
        return new OfflineDataset(rows, obsDim, actDim, obs, act);
    }

    static BcOptions Small =>
        new() { EnvId = "Hopper-v4", Epochs = 2, BatchSize = 256, Hidden = [32, 32], EvalEpisodes = 0 };

    [Fact]
    public void Same_seed_gives_identical_weights_and_curve()
    {
        var data = Linear(2000);
        using var a = BehaviourCloning.Train(Small, data).Actor;
        using var b = BehaviourCloning.Train(Small, data).Actor;
        using var c = BehaviourCloning.Train(Small with { Seed = 2 }, data).Actor;
        Assert.Equal(Weights(a), Weights(b));
        Assert.NotEqual(Weights(a), Weights(c));
    }

    static float[] Weights(O2O.Learning.Checkpoints.ActorBundle b) =>
        b.Actor.state_dict().OrderBy(kv => kv.Key,
            StringComparer.Ordinal).SelectMany(kv => kv.Value.detach().data<float>().ToArray()).ToArray();

    [Fact]
    public void Fits_a_deterministic_linear_behaviour()
    {
        var data = Linear(4000);
        var r = BehaviourCloning.Train(Small with { Epochs = 15, Lr = 3e-3 }, data);
        using var actor = r.Actor;
        Assert.True(r.Curve[^1].HoldoutMse < 0.01, $"holdout mse {r.Curve[^1].HoldoutMse}");
        Assert.True(r.Curve[^1].TrainNll < r.Curve[0].TrainNll);
    }

    [Theory]
    [InlineData(0, 256, "Epochs must be ≥ 1")]
    [InlineData(1, 0, "BatchSize must be ≥ 1")]
    [InlineData(1, 5000, "only 1900 training rows for BatchSize 5000")]
    public void Bad_settings_are_one_line_user_errors(int epochs, int batch, string message)
    {
        var e = Assert.Throws<OptionError>(
            () => BehaviourCloning.Train(Small with { Epochs = epochs, BatchSize = batch }, Linear(2000)));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Single(e.Options, o => message.Contains(o, StringComparison.Ordinal));
    }

    [Fact]
    public void Data_of_another_environment_is_refused()
    {
        var e = Assert.ThrowsAny<UserError>(() => BehaviourCloning.Train(Small, Linear(2000, obsDim: 17, actDim: 6)));
        Assert.Contains("17 dims but Hopper-v4 has 11", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Training_does_not_leak_tensors_per_epoch(int threads)
    {
        var data = Linear(2000);
        long Leak(int epochs)
        {
            var before = LearningTestSupport.LiveTensors();
            BehaviourCloning.Train(Small with { Epochs = epochs, TorchThreads = threads }, data).Actor.Dispose();
            return LearningTestSupport.LiveTensors() - before;
        }
        Leak(1);
        var one = Leak(1);
        var five = Leak(5);
        Assert.True(one == five, $"live tensors after BC: {one} for 1 epoch, {five} for 5 epochs");
        Assert.True(one <= 4, $"{one} tensors outlive a disposed BC actor");
    }
}
