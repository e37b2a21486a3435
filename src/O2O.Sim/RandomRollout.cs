using System.Diagnostics;

namespace O2O.Sim;

/// <summary>One finished episode: its undiscounted return, length, and whether it ended by the time limit.</summary>
public readonly record struct EpisodeSummary(double Return, int Length, bool Truncated);

/// <summary>What a random-policy rollout produced, with the wall time of the env steps.</summary>
public sealed record RandomRolloutResult(
    string EnvId, IReadOnlyList<EpisodeSummary> Episodes, long Steps, double Seconds)
{
    /// <summary>Env steps per wall-clock second.</summary>
    public double StepsPerSecond => Seconds > 0 ? Steps / Seconds : 0;
}

/// <summary>
/// Uniform random actions in [-1, 1] on one env: a smoke test of the simulator and a throughput probe.
/// </summary>
public static class RandomRollout
{
    /// <summary>
    /// Run <paramref name="steps"/> env steps of <paramref name="envId"/> from seed <paramref name="seed"/>, resetting
    /// after each episode.
    /// </summary>
    public static RandomRolloutResult Run(string envId, long steps, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        using var env = EnvRegistry.Make(envId);
        var obs = new float[env.Spec.ObsDim];
        var action = new float[env.Spec.ActDim];
        // actions: a stream apart from reset noise
        var rng = new Pcg32(unchecked((ulong)(long)seed), stream: 0x0A0C7104UL);
        var episodes = new List<EpisodeSummary>();
        double ret = 0;
        env.Reset(seed, obs);
        var clock = Stopwatch.StartNew();
        for (long t = 0; t < steps; t++)
        {
            for (var i = 0; i < action.Length; i++) action[i] = (float)rng.Uniform(-1, 1);
            var r = env.Step(action, obs);
            ret += r.Reward;
            if (r.Terminated || r.Truncated)
            {
                episodes.Add(new EpisodeSummary(ret, env.EpisodeStep, r.Truncated && !r.Terminated));
                ret = 0;
                env.Reset(null, obs);
            }
        }
        return new RandomRolloutResult(envId, episodes, steps, clock.Elapsed.TotalSeconds);
    }
}
