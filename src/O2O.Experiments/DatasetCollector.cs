using System.Globalization;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Sim;

namespace O2O.Experiments;

/// <summary>Who acts while a dataset is collected.</summary>
public abstract record BehaviourPolicy
{
    /// <summary>Uniform actions in the box (D4RL's "random" quality).</summary>
    public sealed record Random : BehaviourPolicy;

    /// <summary>A saved actor, sampling from its Gaussian unless <paramref name="Deterministic"/>.</summary>
    public sealed record Actor(string Path, bool Deterministic) : BehaviourPolicy;
}

/// <summary>Settings of one collection run.</summary>
public sealed record CollectOptions(
    string EnvId, BehaviourPolicy Policy, int Steps = 1_000_000, int Seed = 1, string Quality = "custom");

/// <summary>
/// Rolls a behaviour policy out into a D4RL-format dataset: observations, the executed (clipped)
/// actions, rewards, terminals (falls), timeouts (time limits, and the cut at the end of the budget),
/// next observations, infos/qpos, infos/qvel, infos/action_log_probs, and metadata that labels the
/// file as generated here so it is never mistaken for a D4RL download. Episodes are contiguous.
/// Two workers collect halves with their own env and seed stream, so the file depends on the seed only.
/// </summary>
public static class DatasetCollector
{
    const int Workers = 2;

    public static OfflineDataset Collect(CollectOptions o, Action<string>? log = null)
    {
        if (o.Steps <= 0) throw new UserError($"--steps must be > 0, got {o.Steps}");
        var spec = EnvRegistry.Get(o.EnvId);
        ActorBundle? bundle = o.Policy is BehaviourPolicy.Actor a
            ? ActorBundle.Load(a.Path, spec.Id, spec.ObsDim, spec.ActDim) : null;
        try
        {
            var share = new[] { o.Steps / Workers + o.Steps % Workers, o.Steps / Workers };
            var runners = Enumerable.Range(0, Workers)
                .Select(_ => bundle is null ? null : new PolicyRunner(bundle)).ToArray();
            var parts = new Part[Workers];
            Parallel.For(0, Workers,
                w => parts[w] = CollectPart(spec, runners[w], o.Policy, share[w], o.Seed * 1000 + w * 100_003));
            var ds = Concat(spec, parts, Metadata(o, spec, bundle));
            log?.Invoke($"collected {ds.Count} transitions, {ds.EpisodeStarts().Length} episodes, {o.EnvId}, "
                + $"policy {Describe(o.Policy)}");
            return ds;
        }
        finally { bundle?.Dispose(); }
    }

    sealed class Part(int steps, EnvSpec s)
    {
        public readonly float[] Obs = new float[steps * s.ObsDim], Next = new float[steps * s.ObsDim];
        public readonly float[] Act = new float[steps * s.ActDim], Rew = new float[steps];
        public readonly bool[] Term = new bool[steps], Tout = new bool[steps];
        public readonly double[] Qpos = new double[steps * s.NqPos], Qvel = new double[steps * s.NqVel];
        public readonly double[] LogP = new double[steps];
        public int Count = steps;
    }

    static Part CollectPart(EnvSpec spec, PolicyRunner? runner, BehaviourPolicy policy, int steps, int seed)
    {
        var part = new Part(steps, spec);
        using var env = EnvRegistry.Make(spec.Id);
        var rng = new Rng((ulong)seed + 12345);
        var deterministic = policy is BehaviourPolicy.Actor { Deterministic: true };
        int od = spec.ObsDim, ad = spec.ActDim;
        var obs = new float[od];
        var raw = new float[ad];
        var episode = 0;
        env.Reset(seed, obs);
        for (var t = 0; t < steps; t++)
        {
            obs.CopyTo(part.Obs, t * od);
            env.QPos.CopyTo(part.Qpos.AsSpan(t * spec.NqPos));
            env.QVel.CopyTo(part.Qvel.AsSpan(t * spec.NqVel));
            double logp;
            if (runner is null)
            {
                for (var j = 0; j < ad; j++) raw[j] = (float)(2 * rng.NextDouble() - 1);
                logp = -ad * Math.Log(2);
            }
            else
            {
                runner.Act(obs, 1, raw, null);
                logp = 0;
                if (!deterministic)
                {
                    // Sample around the mean and record the log-density of the pre-clip sample.
                    for (var j = 0; j < ad; j++)
                    {
                        var z = rng.NextGaussian();
                        var std = runner.Std[j];
                        raw[j] += (float)(std * z);
                        logp += -0.5 * z * z - Math.Log(std) - 0.5 * Math.Log(2 * Math.PI);
                    }
                }
            }
            for (var j = 0; j < ad; j++) part.Act[t * ad + j] = Math.Clamp(raw[j], -1f, 1f);
            part.LogP[t] = logp;
            var r = env.Step(raw, obs);
            obs.CopyTo(part.Next, t * od);
            part.Rew[t] = (float)r.Reward;
            part.Term[t] = r.Terminated;
            part.Tout[t] = r.Truncated && !r.Terminated;
            // The budget cuts the last episode.
            if (t == steps - 1 && !r.Terminated && !r.Truncated) part.Tout[t] = true;
            if (r.Terminated || r.Truncated) env.Reset(seed + ++episode, obs);
        }
        return part;
    }

    static OfflineDataset Concat(EnvSpec s, Part[] parts, Dictionary<string, string> meta)
    {
        var n = parts.Sum(p => p.Count);
        T[] Cat<T>(Func<Part, T[]> f) => parts.SelectMany(f).ToArray();
        return new OfflineDataset(n, s.ObsDim, s.ActDim, Cat(p => p.Obs), Cat(p => p.Act), Cat(p => p.Rew),
            Cat(p => p.Next), Cat(p => p.Term), Cat(p => p.Tout), Cat(p => p.Qpos), s.NqPos, Cat(p => p.Qvel), s.NqVel,
            Cat(p => p.LogP), meta, "collected");
    }

    static string Describe(BehaviourPolicy p) => p switch
    {
        BehaviourPolicy.Random => "random",
        BehaviourPolicy.Actor a => $"actor {Path.GetFileName(a.Path)}{(a.Deterministic ? " (deterministic)" : "")}",
        _ => "?",
    };

    static Dictionary<string, string> Metadata(CollectOptions o, EnvSpec spec, ActorBundle? bundle)
    {
        var m = new Dictionary<string, string>
        {
            ["generated_by"] =
                $"o2o {typeof(DatasetCollector).Assembly.GetName().Version} data collect (not a D4RL download)",
            ["env_id"] = spec.Id,
            ["quality"] = o.Quality,
            ["policy"] = Describe(o.Policy),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["steps"] = o.Steps.ToString(CultureInfo.InvariantCulture),
            ["created_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        if (bundle is not null)
        {
            m["policy_path"] = Path.GetFullPath(((BehaviourPolicy.Actor)o.Policy).Path);
            m["policy_source"] = bundle.Source;
            if (bundle.Extra["eval_return_mean"] is { } ev) m["policy_eval_return"] = ev.ToJsonString();
        }
        return m;
    }
}
