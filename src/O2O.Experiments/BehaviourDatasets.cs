using System.Globalization;
using System.Text.Json;
using O2O.Core;
using O2O.Data;
using O2O.Learning;
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
    /// <summary><see cref="DatasetRecipe.Matched"/> (default) or <see cref="DatasetRecipe.V1"/>.</summary>
    public string Recipe { get; init; } = DatasetRecipe.Matched.Id;
    /// <summary>Overrides the recipe's stop score (normalised) for medium and medium-replay.</summary>
    public double? Target { get; init; }
    /// <summary>Overrides the recipe's bound of the behaviour policy's log-std.</summary>
    public double? LogStdMax { get; init; }
}

/// <summary>
/// How the behaviour policy of a generated dataset is made.
/// <see cref="V1"/> (until issue 19): PPO with a free std, stopped at the first <em>deterministic</em> evaluation
/// at or above one third of expert, its <em>stochastic</em> policy sampled — data weaker and choppier than D4RL's.
/// <see cref="Matched"/>: PPO whose log-std is bounded (<see cref="LogStdMax"/>), stopped at the first evaluation
/// of the <em>stochastic</em> policy — the one that collects — within <see cref="Band"/> points of the normalised
/// score of D4RL's own file of that quality (<see cref="Target"/>), so that the data's return and episode lengths
/// match D4RL's; when no evaluation lands in the band, the policy whose evaluation came closest.
/// </summary>
/// <param name="Id">Recorded in every file's metadata as recipe_id.</param>
/// <param name="StochasticStop">Whether the stop rule evaluates the stochastic policy.</param>
/// <param name="LogStdMax">Bound of the PPO policy's log-std; null = unbounded.</param>
public sealed record DatasetRecipe(string Id, bool StochasticStop, double? LogStdMax)
{
    public static readonly DatasetRecipe V1 = new("ppo-third-v1", false, null);
    public static readonly DatasetRecipe Matched = new("ppo-matched-v2", true, Math.Log(0.5));
    public static readonly DatasetRecipe[] All = [Matched, V1];

    /// <summary>The recipe named <paramref name="id"/> ("v1"/"v2" accepted); a one-line error otherwise.</summary>
    public static DatasetRecipe Get(string id) =>
        All.FirstOrDefault(r => r.Id == id || r.Id.EndsWith("-" + id, StringComparison.Ordinal))
        ?? throw new UserError($"--recipe '{id}' is not known; use one of: {string.Join(", ", All.Select(r => r.Id))}");

    /// <summary>
    /// The normalised score at which a medium (and medium-replay) behaviour policy is frozen: one third of expert for
    /// V1; for Matched, the score of D4RL's medium file for the env (docs/data.md gives the sources).
    /// </summary>
    public double Target(string envId) => this == V1 ? 100.0 / 3 : D4rlScores.Require(envId).Name switch
    {
        "hopper" => HopperMedium,
        "walker2d" => Walker2dMedium,
        _ => HalfCheetahMedium,
    };

    /// <summary>Half-width (normalised points) of the band around the target in which Matched stops.</summary>
    public const double Band = 3;

    /// <summary>Stochastic episodes of the evaluation that confirms a candidate (standard error ≈ 1.5 points on
    /// hopper's medium policy).</summary>
    public const int ConfirmEpisodes = 50;

    /// <summary>D4RL medium-v2 files' normalised return (docs/data.md, "Targets").</summary>
    public const double HopperMedium = 44.3, Walker2dMedium = 62.1, HalfCheetahMedium = 40.7;

    /// <summary>Whether a file's metadata says it was made by the V1 recipe (files from before recipe ids).</summary>
    public static string Describe(IReadOnlyDictionary<string, string> meta) =>
        meta.TryGetValue("recipe_id", out var id) ? id
        : meta.ContainsKey("generated_by") && meta.ContainsKey("medium_target_normalized")
            ? $"{V1.Id} (old recipe: deterministic stop at a third of expert, free std; before recipe ids)"
            : "none recorded";
}

/// <summary>
/// D4RL's recipe with our PPO in place of SAC (<see cref="DatasetRecipe"/>). medium: a policy stopped at the
/// recipe's target, then sampled stochastically; expert: trained for the whole budget; medium-replay: every
/// transition the learner collected up to the medium point; medium-expert: medium and expert concatenated.
/// </summary>
public static class BehaviourDatasets
{
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
                var b = TrainBehaviour(o, "medium", untilTarget: true, log, recorder: null);
                return Label(CollectWith(b.ActorPath, "medium"), o, b);
            }
            case "expert":
            {
                var b = TrainBehaviour(o, "expert", untilTarget: false, log, recorder: null);
                return Label(CollectWith(b.ActorPath, "expert"), o, b);
            }
            case "medium-replay":
            {
                var replay = new ReplayRecorder(EnvRegistry.Get(env));
                var b = TrainBehaviour(o, "medium-replay", untilTarget: true, log, replay.Add);
                return Label(replay.ToDataset(o.Steps, "medium-replay"), o, b);
            }
            default:
            {
                var medium = Collect(o with { Quality = "medium" }, log);
                var expert = Collect(o with { Quality = "expert" }, log);
                return Concat(medium, expert, o);
            }
        }
    }

    /// <summary>What the behaviour training did, for the file's metadata.</summary>
    sealed record Behaviour(string ActorPath, long Steps, double? Reached, double Target, DatasetRecipe Recipe);

    /// <summary>Train (or reuse) a behaviour PPO policy.</summary>
    static Behaviour TrainBehaviour(
        QualityOptions o, string tag, bool untilTarget, Action<string> log, Action<RolloutBatch>? recorder)
    {
        var recipe = DatasetRecipe.Get(o.Recipe);
        var target = o.Target ?? recipe.Target(o.EnvId);
        // V1 keeps its file names, so that actors made before recipe ids are still found.
        var name = recipe == DatasetRecipe.V1 ? $"{o.EnvId}_{tag}_behaviour_s{o.Seed}"
            : $"{o.EnvId}_{tag}_{recipe.Id}_behaviour_s{o.Seed}";
        var actorPath = Path.Combine(o.WorkDir, name + "_actor.pt");
        var infoPath = Path.Combine(o.WorkDir, name + "_stop.json");
        if (File.Exists(actorPath) && recorder is null)
        {
            log($"behaviour policy: reusing {actorPath}");
            var stop = File.Exists(infoPath) ? JsonSerializer.Deserialize<StopInfo>(File.ReadAllText(infoPath)) : null;
            return new Behaviour(actorPath, stop?.Steps ?? -1, stop?.Reached, target, recipe);
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
            EvalStochastic = recipe.StochasticStop,
            LogStdMax = o.LogStdMax ?? recipe.LogStdMax,
            RunName = name,
            LogDir = o.WorkDir,
        };
        using var trainer = new PpoTrainer(options, null, log) { Recorder = recorder };
        var closestPath = Path.Combine(o.WorkDir, name + "_closest_actor.pt");
        var rule = new BehaviourStopRule(recipe, target);
        var result = trainer.Run(stopWhen: r =>
        {
            if (!untilTarget || r.EvalMean is not double ev) return false;
            var decision = rule.Observe(D4rlScores.Normalize(o.EnvId, ev));
            if (decision == StopDecision.Candidate)
            {
                // The schedule's few episodes only nominate: a larger evaluation of the same stochastic policy
                // decides (10 episodes of hopper's medium policy have a standard error of about 3 points).
                var seed = ConfirmSeedStride * (o.Seed + 1) + (int)(r.EnvSteps / options.StepsPerEpoch);
                var confirm = Evaluation.Run(o.EnvId, trainer.CreatePolicy, DatasetRecipe.ConfirmEpisodes, seed,
                    deterministic: false);
                var score = D4rlScores.Normalize(o.EnvId, confirm.Mean);
                decision = rule.Confirm(r.EnvSteps, score);
                log($"behaviour policy: {DatasetRecipe.ConfirmEpisodes}-episode check at {r.EnvSteps} steps: "
                    + $"{score:F1} normalised ({(decision == StopDecision.Stop ? "stop" : "go on")})");
            }
            if (decision == StopDecision.NewClosest) trainer.SaveActor(closestPath, r.EnvSteps);
            if (decision == StopDecision.Passed)
                log($"behaviour policy: {BehaviourStopRule.PassedEvaluations} evaluations in a row more than "
                    + $"{BehaviourStopRule.PassedMargin * DatasetRecipe.Band} points above the target at "
                    + $"{r.EnvSteps} steps: stopping");
            return decision is StopDecision.Stop or StopDecision.Passed;
        });
        var reached = rule.Reached;
        var closest = rule.Closest;
        var kind = recipe.StochasticStop ? "stochastic" : "deterministic";
        var actor = result.FinalActorPath;
        var steps = result.EnvSteps;
        if (untilTarget && reached is null && recipe != DatasetRecipe.V1 && File.Exists(closestPath))
        {
            log($"behaviour policy: no evaluation confirmed within {DatasetRecipe.Band} of the target {target:F1} "
                + $"in {result.EnvSteps} steps; using the closest, {closest.Score:F1} normalised at {closest.Steps} "
                + "steps");
            File.Move(closestPath, actorPath, overwrite: true); // a rename: never a partial actor under the name
            (actor, steps, reached) = (actorPath, closest.Steps, closest.Score);
        }
        else if (untilTarget && reached is null)
            log($"behaviour policy: the target {target:F1} normalised was not reached in {o.TrainBudget} steps; "
                + $"using the final policy (best eval {result.BestEvalMean:F1})");
        else if (reached is double s)
            log($"behaviour policy: stopped at {result.EnvSteps} steps with {kind} eval {s:F1} normalised");
        File.Delete(closestPath);
        AtomicFile.WriteText(infoPath, JsonSerializer.Serialize(new StopInfo(steps, reached)));
        return new Behaviour(actor, steps, reached, target, recipe);
    }

    sealed record StopInfo(long Steps, double? Reached);

    /// <summary>Confirmation episodes of step s start from seed ConfirmSeedStride·(seed + 1) + epoch.</summary>
    const int ConfirmSeedStride = 7_000_003;


    static OfflineDataset Label(OfflineDataset ds, QualityOptions o, Behaviour b)
    {
        string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
        var stops = o.Quality is "medium" or "medium-replay";
        var rule = !stops ? $"trained for the whole budget ({o.TrainBudget} env steps)"
            : b.Recipe == DatasetRecipe.V1 ? $"first deterministic evaluation ({o.EvalEpisodes} episodes every "
              + $"{o.EvalEvery} env steps) at or above {F(b.Target)} normalised"
            : $"first policy whose {DatasetRecipe.ConfirmEpisodes}-episode stochastic evaluation is within "
              + $"{F(DatasetRecipe.Band)} of {F(b.Target)} normalised (checked when a {o.EvalEpisodes}-episode "
              + $"evaluation every {o.EvalEvery} env steps is within "
              + $"{F(BehaviourStopRule.NominateMargin * DatasetRecipe.Band)}), else the closest checked";
        var meta = new Dictionary<string, string>
        {
            ["quality"] = o.Quality,
            ["behaviour_actor"] = Path.GetFileName(b.ActorPath),
            ["recipe_id"] = b.Recipe.Id,
            ["recipe"] = "D4RL recipe with o2o's PPO as the online learner (docs/data.md)",
            ["behaviour_learner"] = "ppo",
            ["behaviour_stop_rule"] = rule,
            ["behaviour_log_std_max"] = (o.LogStdMax ?? b.Recipe.LogStdMax) is double m ? F(m) : "none",
        };
        if (b.Steps >= 0) meta["behaviour_steps_trained"] = b.Steps.ToString(CultureInfo.InvariantCulture);
        if (stops) meta["behaviour_target_normalized"] = F(b.Target);
        if (b.Reached is double r) meta["behaviour_stop_eval_normalized"] = F(r);
        if (b.Recipe == DatasetRecipe.V1) meta["medium_target_normalized"] = F(b.Target);
        return ds.WithMetadata(meta);
    }

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

/// <summary>What the behaviour training does after an evaluation.</summary>
public enum StopDecision
{
    Continue,
    /// <summary>Continue, but keep this policy: its confirmed evaluation is the closest to the target so far.
    /// </summary>
    NewClosest,
    /// <summary>In the band by the scheduled evaluation: confirm with a larger one
    /// (<see cref="BehaviourStopRule.Confirm"/>).</summary>
    Candidate,
    Stop,
    /// <summary>The learner has passed the target for good (<see cref="BehaviourStopRule.PassedEvaluations"/>
    /// evaluations in a row far above it): stop and use the closest policy.</summary>
    Passed,
}

/// <summary>
/// The stop rule of a dataset recipe, fed the normalised evaluations of the behaviour training in order.
/// V1: stop at the first evaluation at or above the target. Matched: a scheduled evaluation within
/// <see cref="NominateMargin"/> bands of the target nominates the policy, and a larger evaluation of it
/// (<see cref="Confirm"/>) decides: inside <see cref="DatasetRecipe.Band"/> it stops the training, otherwise it is
/// remembered when it is the closest confirmed so far (reported as <see cref="StopDecision.NewClosest"/>, so that the
/// caller keeps that policy for the case that none is confirmed in the band). Scheduled evaluations alone never
/// pick a policy: 10 stochastic walker2d episodes have a standard error of ≈ 10 points.
/// </summary>
public sealed class BehaviourStopRule(DatasetRecipe recipe, double target)
{
    /// <summary>The evaluation that stopped the training, if any.</summary>
    public double? Reached { get; private set; }
    /// <summary>The confirmed evaluation closest to the target so far (distance, env steps, score).</summary>
    public (double Distance, long Steps, double Score) Closest { get; private set; } =
        (double.PositiveInfinity, 0, double.NaN);

    /// <summary>Bands around the target within which a scheduled evaluation nominates the policy.</summary>
    public const double NominateMargin = 4;

    /// <summary>Evaluations in a row more than <see cref="PassedMargin"/> bands above the target that end the
    /// training early once a policy has been confirmed (walker2d's PPO passes 62 normalised within 16k steps and
    /// then climbs to expert).</summary>
    public const int PassedEvaluations = 5;
    public const double PassedMargin = 4;

    int above;

    public StopDecision Observe(double score)
    {
        if (Reached is not null) return StopDecision.Stop;
        if (recipe == DatasetRecipe.V1)
        {
            if (score < target) return StopDecision.Continue;
            Reached = score;
            return StopDecision.Stop;
        }
        above = score > target + PassedMargin * DatasetRecipe.Band ? above + 1 : 0;
        if (above >= PassedEvaluations && !double.IsNaN(Closest.Score)) return StopDecision.Passed;
        return Math.Abs(score - target) <= NominateMargin * DatasetRecipe.Band
            ? StopDecision.Candidate : StopDecision.Continue;
    }

    /// <summary>The larger evaluation of a nominated policy: stop when it is in the band.</summary>
    public StopDecision Confirm(long envSteps, double score)
    {
        var distance = Math.Abs(score - target);
        if (distance <= DatasetRecipe.Band)
        {
            Reached = score;
            Closest = (distance, envSteps, score);
            return StopDecision.Stop;
        }
        if (distance >= Closest.Distance) return StopDecision.Continue;
        Closest = (distance, envSteps, score);
        return StopDecision.NewClosest;
    }
}
