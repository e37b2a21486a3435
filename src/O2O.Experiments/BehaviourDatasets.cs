using System.Globalization;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Ppo;
using O2O.Sim;

namespace O2O.Experiments;

/// <summary>Settings for generating a dataset of one D4RL quality with our own PPO as the online learner.</summary>
/// <param name="EnvId">Environment.</param>
/// <param name="Quality">random, medium, expert, medium-replay or medium-expert.</param>
/// <param name="Steps">Transitions to collect (medium-expert: this many of each half).</param>
/// <param name="Seed">Seed of behaviour training and collection.</param>
/// <param name="WorkDir">Where behaviour policies and their training logs are kept (beside the data).</param>
/// <param name="TrainBudget">Most env steps the behaviour PPO may train for.</param>
public sealed record QualityOptions(
    string EnvId, string Quality, int Steps, int Seed, string WorkDir, long TrainBudget = 1_000_000)
{
    /// <summary>Evaluation episodes per behaviour-training check.</summary>
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>Env steps between behaviour-training evaluations.</summary>
    public long EvalEvery { get; init; } = 16384;
}

/// <summary>
/// D4RL's recipe with our PPO in place of SAC. medium: a policy stopped at about one third of expert
/// performance (first deterministic evaluation at or above <see cref="MediumTarget"/> normalised), then
/// sampled stochastically; expert: trained for the whole budget; medium-replay: every transition the
/// learner collected up to the medium point; medium-expert: medium and expert concatenated.
/// </summary>
public static class BehaviourDatasets
{
    /// <summary>Normalised score at which the medium policy is frozen: one third of expert (D4RL's description).
    /// </summary>
    public const double MediumTarget = 100.0 / 3;

    /// <summary>The band a medium dataset's behaviour (stochastic) score is documented to fall in.</summary>
    public static readonly (double Lo, double Hi) MediumBand = (20, 50);

    public static readonly string[] Qualities = ["random", "medium", "expert", "medium-replay", "medium-expert"];

    public static OfflineDataset Collect(QualityOptions o, Action<string>? log = null)
    {
        log ??= _ => { };
        var env = EnvRegistry.Get(o.EnvId).Id;
        if (!Qualities.Contains(o.Quality))
            throw new UserError($"--quality '{o.Quality}' must be one of: {string.Join(", ", Qualities)}");
        Directory.CreateDirectory(o.WorkDir);
        OfflineDataset CollectWith(string actor, string quality) => DatasetCollector.Collect(
            new CollectOptions(env, new BehaviourPolicy.Actor(actor, false), o.Steps, o.Seed, quality), log);
        switch (o.Quality)
        {
            case "random":
                return DatasetCollector.Collect(
                    new CollectOptions(env, new BehaviourPolicy.Random(), o.Steps, o.Seed, "random"), log);
            case "medium":
            {
                var actor = TrainBehaviour(o, "medium", untilTarget: true, log, recorder: null);
                return Label(CollectWith(actor, "medium"), o, actor);
            }
            case "expert":
            {
                var actor = TrainBehaviour(o, "expert", untilTarget: false, log, recorder: null);
                return Label(CollectWith(actor, "expert"), o, actor);
            }
            case "medium-replay":
            {
                var replay = new ReplayRecorder(EnvRegistry.Get(env));
                var actor = TrainBehaviour(o, "medium-replay", untilTarget: true, log, replay.Add);
                return Label(replay.ToDataset(o.Steps, "medium-replay"), o, actor);
            }
            default:
            {
                var medium = Collect(o with { Quality = "medium" }, log);
                var expert = Collect(o with { Quality = "expert" }, log);
                return Concat(medium, expert, o);
            }
        }
    }

    /// <summary>Train (or reuse) a behaviour PPO policy; returns its actor file.</summary>
    static string TrainBehaviour(
        QualityOptions o, string tag, bool untilTarget, Action<string> log, Action<RolloutBatch>? recorder)
    {
        var name = $"{o.EnvId}_{tag}_behaviour_s{o.Seed}";
        var actorPath = Path.Combine(o.WorkDir, name + "_actor.pt");
        if (File.Exists(actorPath) && recorder is null)
        {
            log($"behaviour policy: reusing {actorPath}");
            return actorPath;
        }
        var options = new PpoOptions
        {
            EnvId = o.EnvId,
            TotalSteps = o.TrainBudget,
            StepsPerEpoch = 2048,
            MinibatchSize = 64,
            TrainIters = 10,
            NumEnvs = 2,
            Seed = o.Seed,
            EvalEvery = o.EvalEvery,
            EvalEpisodes = o.EvalEpisodes,
            RunName = name,
            LogDir = o.WorkDir,
        };
        using var trainer = new PpoTrainer(options, null, log) { Recorder = recorder };
        double? reached = null;
        var result = trainer.Run(stopWhen: r =>
        {
            if (!untilTarget || r.EvalMean is not double ev) return false;
            var score = D4rlScores.Normalize(o.EnvId, ev);
            if (score < MediumTarget) return false;
            reached = score;
            return true;
        });
        if (untilTarget && reached is null)
            log($"behaviour policy: the target {MediumTarget:F1} normalised was not reached in {o.TrainBudget} steps; "
                + $"using the final policy (best eval {result.BestEvalMean:F1})");
        else if (reached is double s)
            log($"behaviour policy: stopped at {result.EnvSteps} steps with deterministic eval {s:F1} normalised");
        return result.FinalActorPath;
    }

    static OfflineDataset Label(OfflineDataset ds, QualityOptions o, string actor) =>
        ds.WithMetadata(new Dictionary<string, string>
        {
            ["quality"] = o.Quality,
            ["behaviour_actor"] = Path.GetFileName(actor),
            ["medium_target_normalized"] = MediumTarget.ToString("F2", CultureInfo.InvariantCulture),
            ["recipe"] = "D4RL recipe with o2o's PPO as the online learner (docs/data.md)",
        });

    static OfflineDataset Concat(OfflineDataset a, OfflineDataset b, QualityOptions o)
    {
        T[]? Cat<T>(T[]? x, T[]? y) => x is null || y is null ? null : [.. x, .. y];
        var policies = $"{a.Metadata.GetValueOrDefault("policy")} + {b.Metadata.GetValueOrDefault("policy")}";
        var meta = new Dictionary<string, string>(a.Metadata) { ["quality"] = "medium-expert", ["policy"] = policies };
        return new OfflineDataset(a.Count + b.Count, a.ObsDim, a.ActDim,
            Cat(a.Observations, b.Observations)!, Cat(a.Actions, b.Actions)!, Cat(a.Rewards, b.Rewards),
            Cat(a.NextObservations, b.NextObservations), Cat(a.Terminals, b.Terminals), Cat(a.Timeouts, b.Timeouts),
            Cat(a.InfosQpos, b.InfosQpos), a.InfosQposWidth, Cat(a.InfosQvel, b.InfosQvel), a.InfosQvelWidth,
            Cat(a.InfosActionLogProbs, b.InfosActionLogProbs), meta, $"{o.EnvId} medium-expert");
    }

    /// <summary>Keeps the learner's rollouts as contiguous episodes (a replay buffer in D4RL's layout).</summary>
    sealed class ReplayRecorder(EnvSpec spec)
    {
        readonly record struct Row(float[] Obs, float[] Next, float[] Act, float Reward, bool Terminal, bool Timeout);

        readonly List<float> obs = [], next = [], act = [], rew = [];
        readonly List<bool> term = [], tout = [];
        List<Row>[] perEnv = [];

        /// <summary>Rows of an env wait until its episode ends, then move to the dataset in order.</summary>
        public void Add(RolloutBatch b)
        {
            if (perEnv.Length == 0) perEnv = Enumerable.Range(0, b.Envs).Select(_ => new List<Row>()).ToArray();
            int od = b.ObsDim, ad = b.ActDim;
            for (var t = 0; t < b.Steps; t++)
                for (var i = 0; i < b.Envs; i++)
                {
                    var k = t * b.Envs + i;
                    perEnv[i].Add(new Row(b.Obs[(k * od)..((k + 1) * od)], b.NextObs[(k * od)..((k + 1) * od)],
                        b.Actions[(k * ad)..((k + 1) * ad)], b.Rewards[k], b.Terminated[k], b.Truncated[k]));
                    if (b.Terminated[k] || b.Truncated[k]) Flush(i);
                }
        }

        void Flush(int i)
        {
            foreach (var r in perEnv[i])
            {
                obs.AddRange(r.Obs); next.AddRange(r.Next); act.AddRange(r.Act);
                rew.Add(r.Reward); term.Add(r.Terminal); tout.Add(r.Timeout);
            }
            perEnv[i].Clear();
        }

        public OfflineDataset ToDataset(int maxSteps, string quality)
        {
            // Unfinished episodes at the medium point end with a timeout flag (the training stopped there).
            for (var i = 0; i < perEnv.Length; i++)
                if (perEnv[i] is { Count: > 0 } rows)
                {
                    rows[^1] = rows[^1] with { Timeout = !rows[^1].Terminal };
                    Flush(i);
                }
            var n = Math.Min(maxSteps, rew.Count);
            if (n < rew.Count && n > 0 && !term[n - 1]) tout[n - 1] = true;
            int od = spec.ObsDim, ad = spec.ActDim;
            var version = typeof(BehaviourDatasets).Assembly.GetName().Version;
            return new OfflineDataset(n, od, ad, obs.Take(n * od).ToArray(), act.Take(n * ad).ToArray(),
                rew.Take(n).ToArray(), next.Take(n * od).ToArray(), term.Take(n).ToArray(), tout.Take(n).ToArray(),
                metadata: new Dictionary<string, string>
                {
                    ["generated_by"] = $"o2o {version} data collect (not a D4RL download)",
                    ["env_id"] = spec.Id,
                    ["quality"] = quality,
                    ["policy"] = "PPO learner's rollouts up to the medium point",
                }, source: $"{spec.Id} {quality}");
        }
    }
}
