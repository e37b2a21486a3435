using O2O.Learning.Dsr;
using O2O.Learning.OffPolicy;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

/// <summary>
/// The DSR in the off-policy learners, by hand: the shaped rewards of a batch for known σ, β_t, η_t and c, automatic
/// β₀, the value penalty and its gradient, scoring and the logged columns.
/// </summary>
[Collection("Torch training")]
public class OffPolicySupportTests
{
    public OffPolicySupportTests() => TorchRuntime.EnsureLoaded();

    /// <summary>The Hopper-v4 DSR of tests/fixtures/ppo-baseline (a tiny flow; its README has the command).</summary>
    internal static string FixtureDsr()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", "ppo-baseline", "dsr.pt");
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException("tests/fixtures/ppo-baseline/dsr.pt not found above " + AppContext.BaseDirectory);
    }

    static readonly float[] Sigma = [1f, 0.5f, 0.2f, 0f];
    static readonly float[] Rewards = [3f, -1f, 0.5f, 2f];

    /// <summary>A batch of four rows with the given σ and rewards (observations and actions do not matter here).</summary>
    static ReplayBatch Batch()
    {
        var b = new ReplayBatch(4, 11, 3);
        Sigma.CopyTo(b.Support, 0);
        Rewards.CopyTo(b.Rewards, 0);
        return b;
    }

    [Theory]
    [InlineData("reward")]
    [InlineData("value")]
    public void A_sampled_batch_is_shaped_with_the_current_coefficients_by_hand(string pessimism)
    {
        using var model = SupportModel.Load(FixtureDsr(), "Hopper-v4");
        // β₀ = 0.8, η₀ = 0.3, linear to 0 over half of 1000 steps: after 250 steps f = 0.5, β_t = 0.4, η_t = 0.15.
        var o = new DsrShapingOptions { Beta = 0.8, Eta = 0.3, AnnealFrac = 0.5, Pessimism = pessimism };
        using var support = new OffPolicySupport(model, o, rewardScale: 2.0, totalSteps: 1000);
        var batch = Batch();
        support.ShapeRewards(batch, stepsDone: 250);
        float[] expected = pessimism == "reward"
            ? [3f, -1f - 0.4f * 2 * 0.5f + 0.15f * 2 * 1f, 0.5f - 0.4f * 2 * 0.8f + 0.15f * 2 * 0.64f, 2f - 0.4f * 2]
            : [3f, -1f + 0.15f * 2 * 1f, 0.5f + 0.15f * 2 * 0.64f, 2f];
        for (var i = 0; i < 4; i++) Assert.Equal(expected[i], batch.Rewards[i], 5);
        Assert.Equal(pessimism == "value" ? 0.4 : 0.0, support.CriticBeta, 12);

        var row = new Dictionary<string, double>();
        support.WriteColumns(row);
        Assert.Equal(0.4, row["dsr/beta"], 12);
        Assert.Equal(0.15, row["dsr/eta"], 12);
        Assert.Equal(0.15 * 2 * (0 + 1 + 0.64 + 0) / 4, row["dsr/bonus_mean"], 6);
        // Reward pessimism logs the mean penalty subtracted; value pessimism the critic term, none ran here.
        Assert.Equal(pessimism == "reward" ? 0.4 * 2 * (0 + 0.5 + 0.8 + 1) / 4 : 0, row["dsr/penalty_mean"], 6);
        Assert.False(row.ContainsKey("dsr/support_mean"), "no pair was stored this epoch");
        Assert.True(row.ContainsKey(OffPolicySupport.TimeColumn));

        // Later the same stored σ is shaped with later coefficients: after 500 steps both are 0 and rewards stay.
        batch = Batch();
        support.ShapeRewards(batch, stepsDone: 500);
        Assert.Equal(Rewards, batch.Rewards);
    }

    [Fact]
    public void Automatic_beta_is_set_once_from_the_first_batch_and_checkpointed()
    {
        using var model = SupportModel.Load(FixtureDsr(), "Hopper-v4");
        var o = new DsrShapingOptions { BetaFrac = 0.1, Anneal = "none" };
        using var support = new OffPolicySupport(model, o, rewardScale: 2.0, totalSteps: 1000);
        Assert.Null(support.Beta0);
        support.ShapeRewards(Batch(), 0);
        // mean r = 4.5 / 4, mean p = (0 + 0.5 + 0.8 + 1) / 4: β₀ = 0.1·|mean r| / (c·mean p).
        var beta0 = 0.1 * (4.5 / 4) / (2.0 * (2.3 / 4));
        Assert.Equal(beta0, support.Beta0!.Value, 6);
        var other = Batch();
        Array.Fill(other.Rewards, 100f);
        support.ShapeRewards(other, 10);
        Assert.Equal(beta0, support.Beta0!.Value, 6);

        using var state = new TrainingState();
        support.WriteState(state);
        using var resumed = new OffPolicySupport(model, o, rewardScale: 2.0, totalSteps: 1000);
        resumed.ReadState(state);
        Assert.Equal(support.Beta0, resumed.Beta0);
    }

    [Fact]
    public void The_value_penalty_by_hand_and_its_gradient_reach_q_only()
    {
        using var scope = NewDisposeScope();
        var p = tensor(new[] { 0.5f, 0.1f, 1f });
        var q = tensor(new[] { 2f, 5f, -1f }).requires_grad_();
        using Scalar beta = 0.3;
        var term = OffPolicySupport.ValuePenalty(p, q, beta);
        // 0.3·mean(0.5·2, 0.1·5, 1·(−1)) = 0.3·0.5 / 3 = 0.05
        Assert.Equal(0.05, term.item<float>(), 6);
        term.backward();
        Assert.Equal([0.05f, 0.01f, 0.1f], q.grad!.data<float>().ToArray().Select(g => MathF.Round(g, 6)));

        using var model = SupportModel.Load(FixtureDsr(), "Hopper-v4");
        var o = new DsrShapingOptions { Beta = 0.6, Anneal = "none", Pessimism = "value" };
        using var support = new OffPolicySupport(model, o, rewardScale: 1.0, totalSteps: 100);
        support.ShapeRewards(Batch(), 0);
        var q1 = tensor(new[] { 2f, 5f, -1f });
        var q2 = tensor(new[] { 1f, 1f, 1f });
        // ½·0.6·(mean(p·q1) + mean(p·q2)) = 0.3·(0.5/3 + 1.6/3)
        Assert.Equal(0.3 * (0.5 + 1.6) / 3, support.CriticTerm(p, q1, q2, weight: 0.5).item<float>(), 6);
        var row = new Dictionary<string, double>();
        support.WriteColumns(row);
        Assert.Equal(0.3 * (0.5 + 1.6) / 3, row["dsr/penalty_mean"], 6);
    }

    [Fact]
    public void Scores_are_the_models_support_and_the_stored_pairs_fill_the_support_columns()
    {
        using var model = SupportModel.Load(FixtureDsr(), "Hopper-v4");
        using var support = new OffPolicySupport(model, new DsrShapingOptions(), 1.0, 100);
        var rng = new Random(3);
        var obs = Enumerable.Range(0, 5 * 11).Select(_ => (float)rng.NextDouble()).ToArray();
        var act = Enumerable.Range(0, 5 * 3).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray();
        var sigma = new float[5];
        model.Support(obs, act, 5, support.Mode, sigma);
        Assert.Equal(sigma, support.ScoreOffline(obs, act, 5));
        var one = Enumerable.Range(0, 5).Select(i => support.Score(obs.AsSpan(i * 11, 11), act.AsSpan(i * 3, 3)))
            .ToArray();
        Assert.Equal(sigma, one);
        Assert.Equal(sigma.Select(s => 1 - s), support.PolicyPenalty(obs, act, 5).data<float>().ToArray());
        var row = new Dictionary<string, double>();
        support.WriteColumns(row);
        Assert.Equal(sigma.Average(s => (double)s), row["dsr/support_mean"], 6);
        Assert.Equal(sigma.Count(s => s < 0.5f) / 5.0, row["dsr/oos_frac"], 12);
        Assert.False(row.ContainsKey("dsr/beta"), "no batch was shaped yet");
    }

    [Fact]
    public void A_dsr_of_another_env_is_a_one_line_error_and_no_path_means_no_dsr()
    {
        var walker = O2O.Sim.EnvRegistry.Get("Walker2d-v4");
        var e = Assert.ThrowsAny<O2O.Core.UserError>(() =>
            OffPolicySupport.Create(FixtureDsr(), new DsrShapingOptions(), walker, 1.0, 100));
        Assert.Contains("Hopper-v4", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Null(OffPolicySupport.Create(null, new DsrShapingOptions(), walker, 1.0, 100));
    }
}
