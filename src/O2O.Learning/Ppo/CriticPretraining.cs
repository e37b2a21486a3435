using System.Globalization;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.OffPolicy;
using O2O.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Ppo;

/// <summary>What the critic's pre-training did (recorded in the run's options JSON as CriticPretrainResult).
/// </summary>
/// <param name="Rows">Transitions regressed on.</param>
/// <param name="Steps">Adam steps taken.</param>
/// <param name="RewardStd">σ the reward scaler starts from, primed on the data; null without ScaleRewards.</param>
/// <param name="TargetScale">Factor from Monte-Carlo returns to targets: 1/σ, or 1 without ScaleRewards.</param>
/// <param name="TargetMean">Mean target.</param>
/// <param name="LossBefore">½·mean((V − G)²) over all rows before the first step.</param>
/// <param name="LossAfter">The same after the last step.</param>
/// <param name="ExplainedVariance">1 − Var(G − V)/Var(G) over all rows after the last step.</param>
/// <param name="Seconds">Wall time of loading, targets and fitting.</param>
public sealed record CriticPretrainResult(
    int Rows, int Steps, double? RewardStd, double TargetScale, double TargetMean, double LossBefore,
    double LossAfter, double? ExplainedVariance, double Seconds);

/// <summary>
/// Uni-O4's start of fine-tuning for PPO (docs/method.md, "BC → PPO with a pre-trained critic"): before the first
/// epoch, the critic is fitted by minibatch regression to the offline data's discounted Monte-Carlo returns, in
/// the units it predicts online. It sees observations through the warm-start actor's frozen normaliser, and
/// online it predicts returns of rewards divided by the reward scaler's σ (the running std of the discounted
/// return): so the scaler's statistics are first primed on the data (the same recursion over its episodes) and
/// the targets are the returns divided by the σ it then holds, the σ that divides the first online rewards.
/// </summary>
public static class CriticPretraining
{
    /// <summary>Rows predicted at once when measuring the loss over the whole data.</summary>
    const int EvalChunk = 65_536;

    /// <summary>
    /// The dataset at <paramref name="path"/> as Q-learning transitions (next observations, as D4RL's
    /// qlearning_dataset builds them), checked against <paramref name="spec"/>; one-line errors naming the option.
    /// </summary>
    public static OfflineDataset LoadTransitions(string path, EnvSpec spec)
    {
        const string option = nameof(PpoOptions.CriticPretrainData);
        var data = DatasetIO.Load(path, allowNonFinite: true);
        OptionError.Require(data.Count > 1, $"{option} '{path}' has {data.Count} rows; it needs at least 2", option);
        OptionError.Require(data.ObsDim == spec.ObsDim && data.ActDim == spec.ActDim, string.Create(
            CultureInfo.InvariantCulture,
            $"{option} '{path}' has obs dim {data.ObsDim} and action dim {data.ActDim}, but {spec.Id} has obs dim "
            + $"{spec.ObsDim} and action dim {spec.ActDim}; pass data of this env"), option);
        OptionError.Require(data.Rewards is not null,
            $"{option} '{path}' has no rewards: the critic is fitted to the data's returns", option);
        var bad = data.FindNonFinite()
            .Where(r => r.Key is "observations" or "states" or "rewards" or "next_observations").ToList();
        OptionError.Require(bad.Count == 0,
            $"{option} '{path}': {string.Join("; ", bad)}; remove or repair non-finite values", option);
        var t = data.ToQLearningTransitions();
        OptionError.Require(t.Count > 0, $"{option} '{path}' has no transitions within an episode", option);
        return t;
    }

    /// <summary>
    /// R_t = γ·R_{t−1} + r_t along each episode, reset after its last row (<see
    /// cref="OfflineTransitions.EpisodeEndsAt"/>): the values <see cref="RewardScaler"/> takes its running std over,
    /// computed on the data as the scaler computes them online.
    /// </summary>
    public static float[] DiscountedSums(OfflineDataset t, double gamma)
    {
        var sums = new float[t.Count];
        double acc = 0;
        for (var i = 0; i < t.Count; i++)
        {
            acc = acc * gamma + t.Rewards![i];
            sums[i] = (float)acc;
            if (OfflineTransitions.EpisodeEndsAt(t, i)) acc = 0;
        }
        return sums;
    }

    /// <summary>Regression targets: <see cref="OfflineTransitions.MonteCarloReturns"/> × <paramref name="scale"/>.
    /// </summary>
    public static float[] Targets(OfflineDataset t, double gamma, double scale) =>
        OfflineTransitions.MonteCarloReturns(t, gamma).Select(g => (float)(g * scale)).ToArray();

    /// <summary>
    /// Fit <paramref name="critic"/> to <paramref name="targets"/> from normalised observations: <paramref
    /// name="steps"/> Adam steps on ½·mean((V − G)²) over minibatches drawn with replacement by <paramref
    /// name="rng"/>; a line to <paramref name="log"/> every tenth of the steps (the mean minibatch loss since the
    /// last line). Returns the loss over all rows before and after, and the explained variance after.
    /// </summary>
    public static (double Before, double After, double ExplainedVariance) Fit(Mlp critic, float[] obs,
        float[] targets, FitSettings s, Rng rng, Action<string> log, CancellationToken ct = default)
    {
        var n = targets.Length;
        var od = obs.Length / n;
        using var k = new PpoCoefficients(clip: 0.2, vfCoef: 1, entCoef: 0, penaltyCoef: 0);
        var before = Loss(critic, obs, targets, od).Loss;
        using var optimizer = new AdamOptimizer(critic.parameters(), s.Lr, eps: s.AdamEpsilon);
        using var scope = NewDisposeScope();
        var obsT = tensor(obs, [n, od]);
        var targetT = tensor(targets);
        var idx = new long[s.BatchSize];
        var every = Math.Max(1, s.Steps / 10);
        double window = 0;
        var windowSteps = 0;
        for (var step = 1; step <= s.Steps; step++)
        {
            if (step % 100 == 0) ct.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            for (var j = 0; j < idx.Length; j++) idx[j] = rng.NextInt(n);
            var ix = tensor(idx);
            var loss = PpoLosses.ValueLoss(critic.call(obsT.index_select(0, ix)).view(-1),
                targetT.index_select(0, ix), null, k);
            var value = loss.item<float>();
            if (!float.IsFinite(value))
                throw new OptionError($"critic pre-training diverged (non-finite loss at step {step}); lower Lr",
                    nameof(PpoOptions.Lr));
            optimizer.ZeroGrad();
            loss.backward();
            optimizer.Step();
            window += value;
            windowSteps++;
            if (step % every != 0 && step != s.Steps) continue;
            log(string.Create(CultureInfo.InvariantCulture,
                $"critic pre-training {step}/{s.Steps}: loss {window / windowSteps:G4}"));
            window = 0;
            windowSteps = 0;
        }
        var (after, ev) = Loss(critic, obs, targets, od);
        return (before, after, ev);
    }

    /// <summary>Adam settings of <see cref="Fit"/>.</summary>
    public sealed record FitSettings(int Steps, int BatchSize, double Lr, double AdamEpsilon);

    /// <summary>½·mean((V − G)²) and the explained variance over all rows, predicted in chunks.</summary>
    static (double Loss, double ExplainedVariance) Loss(Mlp critic, float[] obs, float[] targets, int od)
    {
        var n = targets.Length;
        var pred = new float[n];
        using (no_grad())
            for (var start = 0; start < n; start += EvalChunk)
            {
                using var scope = NewDisposeScope();
                var rows = Math.Min(EvalChunk, n - start);
                var x = tensor(obs.AsSpan(start * od, rows * od).ToArray(), [rows, od]);
                critic.call(x).view(-1).data<float>().CopyTo(pred.AsSpan(start, rows));
            }
        double sum = 0;
        for (var i = 0; i < n; i++) sum += ((double)pred[i] - targets[i]) * ((double)pred[i] - targets[i]);
        return (0.5 * sum / n, PpoLosses.ExplainedVariance(pred, targets));
    }
}
