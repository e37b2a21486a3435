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
/// <param name="EnvsPerWorker">Envs each of the two workers steps in lockstep, acting for all of them with one
/// policy pass per step. 1 reproduces, bit for bit, the files of the collector before batching (commit 2be3edd);
/// every value gives its own dataset for a seed, the same on every run.</param>
public sealed record CollectOptions(
    string EnvId, BehaviourPolicy Policy, int Steps = 1_000_000, int Seed = 1, string Quality = "custom",
    int EnvsPerWorker = DatasetCollector.DefaultEnvsPerWorker);

/// <summary>
/// Rolls a behaviour policy out into a D4RL-format dataset: observations, the executed (clipped)
/// actions, rewards, terminals (falls), timeouts (time limits, and the cut at the end of the budget),
/// next observations, infos/qpos, infos/qvel, infos/action_log_probs, and metadata that labels the
/// file as generated here so it is never mistaken for a D4RL download. Episodes are contiguous.
/// </summary>
/// <remarks>
/// What the seed fixes: the dataset is a pure function of (env, policy, steps, seed, envs per worker), whatever
/// the timing or the number of cores. Two workers collect fixed shares (the first ⌈steps/2⌉ rows, then the
/// rest); worker w has the base seed b = seed·1000 + w·100 003. Its env k draws its actions (uniform, or the
/// actor's Gaussian noise) from its own stream Rng(b + 12 345 + k·2³²), and its episodes start from the reset
/// seeds b, b + 1, b + 2, … in the order they begin (env 0, envs 1…E−1, then each env as it finishes, in env
/// order within a step). A worker writes its episodes whole, in the order they end (env order within a step);
/// when an episode reaches the rest of the worker's share, its first rows fill it and the last of them is marked
/// a timeout, so each worker's last episode is the one the budget cuts. With one env per worker this is exactly
/// the original collector: one stream, consecutive reset seeds, rows in time order.
/// </remarks>
public static class DatasetCollector
{
    const int Workers = 2;

    /// <summary>
    /// Envs per worker unless the options say otherwise: one, by measurement (docs/benchmarks.md, "Collection"). Two
    /// workers with one env each already keep both cores on physics with no hand-off between threads; more envs per
    /// worker cost more CPU per step (each env's MuJoCo data falls out of cache between its steps) than batched
    /// acting saves, since acting is a small share of a step and batching does not touch its tanh.
    /// </summary>
    public const int DefaultEnvsPerWorker = 1;

    /// <summary>Largest accepted envs per worker.</summary>
    public const int MaxEnvsPerWorker = 256;

    public static OfflineDataset Collect(CollectOptions o, Action<string>? log = null)
    {
        if (o.Steps <= 0) throw new UserError($"--steps must be > 0, got {o.Steps}");
        if (o.EnvsPerWorker is < 1 or > MaxEnvsPerWorker)
            throw new OptionError($"EnvsPerWorker must be in [1, {MaxEnvsPerWorker}], got {o.EnvsPerWorker}",
                nameof(CollectOptions.EnvsPerWorker));
        var spec = EnvRegistry.Get(o.EnvId);
        ActorBundle? bundle = o.Policy is BehaviourPolicy.Actor a
            ? ActorBundle.Load(a.Path, spec.Id, spec.ObsDim, spec.ActDim) : null;
        try
        {
            var share = new[] { o.Steps / Workers + o.Steps % Workers, o.Steps / Workers };
            var runners = Enumerable.Range(0, Workers)
                .Select(_ => bundle is null ? null : new PolicyRunner(bundle)).ToArray();
            var parts = new Part[Workers];
            var stepped = new long[Workers];
            var progress = new PhaseProgress(log, "collect", o.Steps, "steps");
            var work = Task.Run(() => Parallel.For(0, Workers, w => parts[w] = CollectPart(spec, runners[w],
                o.Policy, share[w], o.Seed * 1000 + w * 100_003, o.EnvsPerWorker, ref stepped[w])));
            while (!((IAsyncResult)work).AsyncWaitHandle.WaitOne(250))
                progress.Report(Math.Min(o.Steps, Volatile.Read(ref stepped[0]) + Volatile.Read(ref stepped[1])));
            if (work.Exception?.InnerExceptions is [var inner, ..])
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(
                    inner is AggregateException { InnerExceptions: [var first, ..] } ? first : inner);
            var ds = Concat(spec, parts, Metadata(o, spec, bundle));
            progress.Done($"collected {ds.Count} transitions, {ds.EpisodeStarts().Length} episodes, {o.EnvId}, "
                + $"policy {Describe(o.Policy)}, {o.EnvsPerWorker} env(s) per worker");
            return ds;
        }
        finally { bundle?.Dispose(); }
    }

    sealed class Part(int steps, EnvSpec s)
    {
        public float[] Obs = new float[steps * s.ObsDim], Next = new float[steps * s.ObsDim];
        public float[] Act = new float[steps * s.ActDim], Rew = new float[steps];
        public bool[] Term = new bool[steps], Tout = new bool[steps];
        public double[] Qpos = new double[steps * s.NqPos], Qvel = new double[steps * s.NqVel];
        public double[] LogP = new double[steps];
        public int Count = steps;

        /// <summary>Copy rows [from, from + rows) of <paramref name="src"/> to rows [to, …) of this part.</summary>
        public void CopyFrom(Part src, int from, int to, int rows, EnvSpec s)
        {
            Array.Copy(src.Obs, from * s.ObsDim, Obs, to * s.ObsDim, rows * s.ObsDim);
            Array.Copy(src.Next, from * s.ObsDim, Next, to * s.ObsDim, rows * s.ObsDim);
            Array.Copy(src.Act, from * s.ActDim, Act, to * s.ActDim, rows * s.ActDim);
            Array.Copy(src.Rew, from, Rew, to, rows);
            Array.Copy(src.Term, from, Term, to, rows);
            Array.Copy(src.Tout, from, Tout, to, rows);
            Array.Copy(src.Qpos, from * s.NqPos, Qpos, to * s.NqPos, rows * s.NqPos);
            Array.Copy(src.Qvel, from * s.NqVel, Qvel, to * s.NqVel, rows * s.NqVel);
            Array.Copy(src.LogP, from, LogP, to, rows);
        }
    }

    /// <summary>
    /// One worker's share: <paramref name="envs"/> envs stepped in lockstep, each episode buffered until it ends and
    /// then appended whole (see the class remarks for the order and the cut). <paramref name="stepped"/> counts env
    /// steps for the progress line.
    /// </summary>
    static Part CollectPart(EnvSpec spec, PolicyRunner? runner, BehaviourPolicy policy, int steps, int seed, int envs,
        ref long stepped)
    {
        var part = new Part(steps, spec);
        var deterministic = policy is BehaviourPolicy.Actor { Deterministic: true };
        int od = spec.ObsDim, ad = spec.ActDim;
        var pool = new IEnv[envs];
        try
        {
            var rngs = new Rng[envs];
            var episodes = new Part[envs];   // each env's episode in progress, rows from 0
            var length = new int[envs];
            var obs = new float[envs * od];
            var raw = new float[envs * ad];
            var logp = new double[envs];
            var ended = new bool[envs];
            var episode = 0;
            long lockstep = 0;
            for (var k = 0; k < envs; k++)
            {
                pool[k] = EnvRegistry.Make(spec.Id);
                rngs[k] = new Rng((ulong)seed + 12345 + ((ulong)k << 32));
                episodes[k] = new Part(Math.Min(steps, spec.MaxEpisodeSteps), spec);
                pool[k].Reset(k == 0 ? seed : seed + ++episode, obs.AsSpan(k * od, od));
            }
            var filled = 0;
            while (true)
            {
                for (var k = 0; k < envs; k++)
                {
                    var e = episodes[k];
                    var t = length[k];
                    if (t == e.Count) episodes[k] = e = Grow(e, spec);
                    obs.AsSpan(k * od, od).CopyTo(e.Obs.AsSpan(t * od));
                    pool[k].QPos.CopyTo(e.Qpos.AsSpan(t * spec.NqPos));
                    pool[k].QVel.CopyTo(e.Qvel.AsSpan(t * spec.NqVel));
                }
                Act(runner, deterministic, rngs, obs, raw, logp, envs, ad);
                for (var k = 0; k < envs; k++)
                {
                    var e = episodes[k];
                    var t = length[k]++;
                    var row = raw.AsSpan(k * ad, ad);
                    for (var j = 0; j < ad; j++) e.Act[t * ad + j] = Math.Clamp(row[j], -1f, 1f);
                    e.LogP[t] = logp[k];
                    var o = obs.AsSpan(k * od, od);
                    var r = pool[k].Step(row, o);
                    o.CopyTo(e.Next.AsSpan(t * od));
                    e.Rew[t] = (float)r.Reward;
                    e.Term[t] = r.Terminated;
                    e.Tout[t] = r.Truncated && !r.Terminated;
                    ended[k] = r.Terminated || r.Truncated;
                    if (ended[k]) pool[k].Reset(seed + ++episode, o);
                }
                if ((++lockstep & 63) == 0) Volatile.Write(ref stepped, lockstep * envs);
                // Finished episodes that fit go in whole, in env order.
                for (var k = 0; k < envs; k++)
                {
                    if (!ended[k] || length[k] > steps - filled) continue;
                    part.CopyFrom(episodes[k], 0, filled, length[k], spec);
                    filled += length[k];
                    length[k] = 0;
                    ended[k] = false;
                }
                if (filled == steps) return part;
                // The first env whose episode (running, or finished but too long) reaches the rest of the share fills
                // it with its first rows; the budget cuts that episode.
                // (A finished episode that did not fit is longer than the rest, so one is always found then.)
                for (var k = 0; k < envs; k++)
                {
                    if (length[k] < steps - filled) continue;
                    part.CopyFrom(episodes[k], 0, filled, steps - filled, spec);
                    part.Tout[steps - 1] = true;  // an inner row of the episode: never a terminal
                    return part;
                }
            }
        }
        finally
        {
            foreach (var env in pool) env?.Dispose();
        }
    }

    /// <summary>Actions for every env's current observation, and the log-density of each pre-clip sample.</summary>
    static void Act(PolicyRunner? runner, bool deterministic, Rng[] rngs, float[] obs, float[] raw, double[] logp,
        int envs, int ad)
    {
        if (runner is null)
        {
            for (var k = 0; k < envs; k++)
            {
                for (var j = 0; j < ad; j++) raw[k * ad + j] = (float)(2 * rngs[k].NextDouble() - 1);
                logp[k] = -ad * Math.Log(2);
            }
            return;
        }
        runner.Act(obs, envs, raw, null);
        for (var k = 0; k < envs; k++)
        {
            logp[k] = 0;
            if (deterministic) continue;
            // Sample around the mean and record the log-density of the pre-clip sample.
            for (var j = 0; j < ad; j++)
            {
                var z = rngs[k].NextGaussian();
                var std = runner.Std[j];
                raw[k * ad + j] += (float)(std * z);
                logp[k] += -0.5 * z * z - Math.Log(std) - 0.5 * Math.Log(2 * Math.PI);
            }
        }
    }

    static Part Grow(Part e, EnvSpec spec)
    {
        var bigger = new Part(2 * e.Count, spec);
        bigger.CopyFrom(e, 0, 0, e.Count, spec);
        return bigger;
    }

    static OfflineDataset Concat(EnvSpec s, Part[] parts, Dictionary<string, string> meta)
    {
        var all = new Part(parts.Sum(p => p.Count), s);
        var at = 0;
        foreach (var p in parts)
        {
            all.CopyFrom(p, 0, at, p.Count, s);
            at += p.Count;
        }
        return new OfflineDataset(all.Count, s.ObsDim, s.ActDim, all.Obs, all.Act, all.Rew, all.Next, all.Term,
            all.Tout, all.Qpos, s.NqPos, all.Qvel, s.NqVel, all.LogP, meta, "collected");
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
            ["envs_per_worker"] = o.EnvsPerWorker.ToString(CultureInfo.InvariantCulture),
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
