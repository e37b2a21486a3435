using O2O.Core;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.Training;
using O2O.Sim;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// How the offline learners (IQL, CQL, Cal-QL) prepare a D4RL dataset, as CORL does for locomotion: observations
/// z-scored with the data's own statistics (kept in the agent, so fine-tuning and evaluation use the same ones),
/// rewards scaled so that the best and worst episode returns are <see cref="RewardSpan"/> apart.
/// </summary>
public static class OfflineTransitions
{
    /// <summary>CORL scales rewards so that the data's best and worst episode returns are this far apart.</summary>
    public const double RewardSpan = 1000;

    /// <summary>One-line errors for data that does not fit <paramref name="spec"/> or lacks rewards.</summary>
    public static void Check(OfflineDataset? data, EnvSpec spec, string algo)
    {
        if (data is null)
            throw new OptionError("OfflineData keep needs the offline data; give it, or set OfflineData drop",
                "OfflineData");
        if (data.ObsDim != spec.ObsDim || data.ActDim != spec.ActDim)
            throw new UserError($"the offline data has {data.ObsDim} observation and {data.ActDim} action dims but "
                + $"{spec.Id} has {spec.ObsDim} and {spec.ActDim}; use data recorded in {spec.Id}");
        if (data.Rewards is null)
            throw new UserError($"the offline data has no rewards; {algo} learns from rewards");
    }

    /// <summary>Returns of the data's complete episodes (ended by a terminal or a time limit).</summary>
    public static double[] EpisodeReturns(OfflineDataset data)
    {
        var returns = new List<double>();
        double sum = 0;
        for (var i = 0; i < data.Count; i++)
        {
            sum += data.Rewards![i];
            if (!data.EndsEpisode(i)) continue;
            returns.Add(sum);
            sum = 0;
        }
        return [.. returns];
    }

    /// <summary>
    /// Discounted return-to-go of every row, G_t = r_t + γ·(1 − terminal_t)·G_{t+1}, within episodes; an episode
    /// ends where <see cref="EpisodeEndsAt"/> says. A cut episode (a time limit) is truncated there: nothing is
    /// bootstrapped beyond the data, as in Cal-QL and Uni-O4. Used by Cal-QL's calibration (CQL) and by PPO's
    /// critic pre-training.
    /// </summary>
    public static float[] MonteCarloReturns(OfflineDataset transitions, double gamma)
    {
        var t = transitions;
        var n = t.Count;
        var returns = new float[n];
        double next = 0;
        for (var i = n - 1; i >= 0; i--)
        {
            if (EpisodeEndsAt(t, i)) next = 0;
            var g = t.Rewards![i] + gamma * (t.Terminals?[i] == true ? 0 : next);
            returns[i] = (float)g;
            next = g;
        }
        return returns;
    }

    /// <summary>
    /// True when row <paramref name="i"/> of Q-learning transitions (with next observations) is its episode's last:
    /// at a terminal, a timeout, the last row, or where the next observation is not the next row's observation
    /// (<see cref="OfflineDataset.ToQLearningTransitions"/> drops D4RL's final timeout rows, so that is where
    /// episodes were cut).
    /// </summary>
    public static bool EpisodeEndsAt(OfflineDataset t, int i)
    {
        if (i == t.Count - 1 || t.EndsEpisode(i)) return true;
        var next = t.NextObservations!.AsSpan(i * t.ObsDim, t.ObsDim);
        return !next.SequenceEqual(t.Observation(i + 1));
    }

    /// <summary>RewardSpan / (max − min) of the episode returns; 1 when they do not spread.</summary>
    public static double ScaleForReturns(IReadOnlyCollection<double> returns) =>
        returns.Count < 2 || returns.Max() - returns.Min() <= 0 ? 1.0 : RewardSpan / (returns.Max() - returns.Min());

    /// <summary>A frozen normaliser with the statistics of <paramref name="observations"/>.</summary>
    public static RunningNorm DataNorm(float[] observations, int count)
    {
        var norm = new RunningNorm(observations.Length / count);
        norm.Update(observations, count);
        norm.Frozen = true;
        return norm;
    }

    /// <summary>The frozen normaliser an agent was trained with (obs_rms.* in its state dict).</summary>
    public static RunningNorm AgentNorm(TrainingState state, int obsDim)
    {
        var norm = new RunningNorm(obsDim);
        norm.Set(state.Doubles("obs_rms.mean"), state.Doubles("obs_rms.var"), state.Doubles("obs_rms.count")[0]);
        norm.Frozen = true;
        return norm;
    }

    /// <summary>Write <paramref name="norm"/> as obs_rms.* (what <see cref="AgentNorm"/> reads).</summary>
    public static void WriteNorm(TrainingState state, RunningNorm norm)
    {
        state.Add("obs_rms.mean", norm.Mean);
        state.Add("obs_rms.var", norm.Var);
        state.Add("obs_rms.count", [norm.Count]);
    }

    /// <summary>Transitions with z-scored observations and rewards times <paramref name="rewardScale"/>.</summary>
    public static OfflineDataset Prepare(OfflineDataset t, RunningNorm norm, double rewardScale)
    {
        var obs = new float[t.Observations.Length];
        var next = new float[t.Observations.Length];
        norm.Normalize(t.Observations, obs, t.Count);
        norm.Normalize(t.NextObservations!, next, t.Count);
        var rewards = t.Rewards!.Select(r => (float)(r * rewardScale)).ToArray();
        return new OfflineDataset(t.Count, t.ObsDim, t.ActDim, obs, t.Actions, rewards, next, t.Terminals,
            t.Timeouts);
    }

    /// <summary>Raw observations back from z-scores: x = z·√(var + ε) + mean (the normaliser's clip is not undone).
    /// </summary>
    public static void Denormalize(RunningNorm norm, ReadOnlySpan<float> z, Span<float> raw, int n)
    {
        var d = norm.Dim;
        for (var r = 0; r < n; r++)
            for (var j = 0; j < d; j++)
                raw[r * d + j] = (float)(z[r * d + j] * Math.Sqrt(norm.Var[j] + norm.Epsilon) + norm.Mean[j]);
    }
}
