namespace O2O.Learning.Ppo;

/// <summary>
/// Generalised advantage estimation (Schulman et al. 2016) over a [T × N] rollout stored time-major
/// (index t·N + i). Terminated ≠ truncated: the caller passes in <c>nextValues</c> the value to
/// bootstrap from after each step — 0 after a fall, V(final observation) after a time limit,
/// V(s_{t+1}) otherwise — and in <c>episodeEnds</c> whether the episode ended there (either way),
/// which stops the advantage recursion.
/// </summary>
public static class Gae
{
    public static void Compute(
        int steps, int envs,
        ReadOnlySpan<float> rewards, ReadOnlySpan<float> values, ReadOnlySpan<float> nextValues,
        ReadOnlySpan<bool> episodeEnds,
        double gamma, double lambda,
        Span<float> advantages, Span<float> returns)
    {
        var n = steps * envs;
        if (rewards.Length < n || values.Length < n || nextValues.Length < n || episodeEnds.Length < n
            || advantages.Length < n || returns.Length < n)
            throw new ArgumentException("GAE buffers are shorter than steps × envs");
        for (var i = 0; i < envs; i++)
        {
            double last = 0;
            for (var t = steps - 1; t >= 0; t--)
            {
                var k = t * envs + i;
                var delta = rewards[k] + gamma * nextValues[k] - values[k];
                last = delta + (episodeEnds[k] ? 0 : gamma * lambda * last);
                advantages[k] = (float)last;
                returns[k] = (float)(last + values[k]);
            }
        }
    }
}
