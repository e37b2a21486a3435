using O2O.Learning.Nn;
using O2O.Sim;

namespace O2O.Learning;

/// <summary>Returns of evaluation episodes and their D4RL-normalised summary.</summary>
public sealed record EvalResult(double[] Returns, int[] Lengths)
{
    public double Mean => Returns.Length == 0 ? double.NaN : Returns.Average();
    public double Std => Returns.Length < 2 ? 0 : Math.Sqrt(Returns.Sum(r => (r - Mean) * (r - Mean)) / Returns.Length);
    public double MeanLength => Lengths.Length == 0 ? double.NaN : Lengths.Average();
}

/// <summary>Runs whole episodes of a policy, one env per episode, episodes in parallel.</summary>
public static class Evaluation
{
    // Sampling noise of episode k is seeded with (seed + k) · 7919 + 17: a fixed mix; changing it changes
    // every stochastic evaluation.
    const ulong EpisodeSeedMultiplier = 7919;
    const ulong EpisodeSeedOffset = 17;

    /// <summary>
    /// Run <paramref name="episodes"/> episodes; episode k starts from seed <paramref name="seed"/> + k.
    /// <paramref name="makeRunner"/> is called once per worker (runners are not thread-safe).
    /// </summary>
    public static EvalResult Run(
        string envId,
        Func<IPolicy> makeRunner,
        int episodes,
        int seed,
        bool deterministic,
        int threads = 0)
    {
        var returns = new double[episodes];
        var lengths = new int[episodes];
        var workers = Math.Max(1, Math.Min(episodes, threads > 0 ? threads : Environment.ProcessorCount));
        // Runners read weights through libtorch: build them here, on the caller's thread.
        var pool = new System.Collections.Concurrent.ConcurrentBag<IPolicy>();
        for (var w = 0; w < workers; w++) pool.Add(makeRunner());
        Parallel.For(0, episodes, new ParallelOptions { MaxDegreeOfParallelism = workers },
            () => (Runner: TakeRunner(pool), Env: EnvRegistry.Make(envId)),
            (k, _, w) =>
            {
                var spec = w.Env.Spec;
                var obs = new float[spec.ObsDim];
                var act = new float[spec.ActDim];
                var rng = deterministic ? null : new Rng((ulong)(seed + k) * EpisodeSeedMultiplier + EpisodeSeedOffset);
                w.Env.Reset(seed + k, obs);
                double ret = 0;
                var len = 0;
                while (true)
                {
                    w.Runner.Act(obs, 1, act, rng);
                    var res = w.Env.Step(act, obs);
                    ret += res.Reward;
                    len++;
                    if (res.Terminated || res.Truncated) break;
                }
                returns[k] = ret;
                lengths[k] = len;
                return w;
            },
            w => { w.Env.Dispose(); pool.Add(w.Runner); });
        return new EvalResult(returns, lengths);
    }

    static IPolicy TakeRunner(System.Collections.Concurrent.ConcurrentBag<IPolicy> pool) =>
        pool.TryTake(out var runner) ? runner : throw new InvalidOperationException("evaluation runner pool exhausted");
}
