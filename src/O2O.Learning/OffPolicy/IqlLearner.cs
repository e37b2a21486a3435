using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using O2O.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Implicit Q-learning (Kostrikov et al. 2022) on offline data, as CORL's iql.py, one batch at a time: V by
/// expectile regression onto the target critics at the data's actions → twin Q towards r + γ·V(s') → Polyak
/// targets → the actor by advantage-weighted regression on the data's actions (its learning rate on a cosine
/// schedule over the run). Observations are z-scored with the data's statistics, which the agent keeps.
/// An "epoch" of the <see cref="RunHarness"/> is StepsPerEpoch updates; its env_steps column counts updates.
/// The actor is a Gaussian with a state-independent log-std over an untransformed mean (actions are clipped by the
/// environment), so it is the same kind of actor as BC's and PPO's; CORL squashes the mean with tanh.
/// </summary>
public sealed class IqlLearner : ILearner
{
    public static readonly string[] TimeColumnNames = ["time/update_s"];

    public static readonly string[] MetricColumnNames =
    [
        "losses/value", "losses/q", "losses/actor", "charts/advantage_mean", "charts/v_mean", "charts/actor_lr",
    ];

    /// <summary>CORL scales rewards so that the data's best and worst episode returns are this far apart.</summary>
    public const double RewardSpan = 1000;

    readonly IqlOptions options;
    readonly EnvSpec spec;
    readonly GaussianActor actor;
    readonly TwinCritic critics;
    readonly Mlp value;
    readonly AdamOptimizer actorOptimizer, criticOptimizer, valueOptimizer;
    readonly RunningNorm obsNorm;
    readonly ReplayBuffer buffer;
    readonly ReplayBatch batch;
    readonly Rng rng;
    readonly Scalar gamma, expectile, beta;

    /// <summary>Learn from <paramref name="data"/> (D4RL rows; next observations are rebuilt as D4RL does).</summary>
    public IqlLearner(IqlOptions options, OfflineDataset data)
    {
        options.Validate();
        this.options = options;
        spec = EnvRegistry.Get(options.EnvId);
        int od = spec.ObsDim, ad = spec.ActDim;
        if (data.ObsDim != od || data.ActDim != ad)
            throw new UserError($"the offline data has {data.ObsDim} observation and {data.ActDim} action dims but "
                + $"{spec.Id} has {od} and {ad}; use data recorded in {spec.Id}");
        if (data.Rewards is null) throw new UserError("the offline data has no rewards; IQL learns from rewards");
        TorchRuntime.Configure(options.Seed, options.TorchThreads);
        rng = new Rng((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 5);
        RewardScale = options.NormalizeReward ? ScaleForReturns(EpisodeReturns(data)) : 1.0;
        (buffer, obsNorm) = Prepare(data.ToQLearningTransitions(), RewardScale);
        actor = new GaussianActor(od, ad, options.Hidden, Activation.Relu);
        critics = new TwinCritic(od, ad, options.Hidden, options.Tau);
        value = new Mlp("v", od, options.Hidden, 1, Activation.Relu, outputGain: 1.0);
        actorOptimizer = new AdamOptimizer(actor.parameters(), options.Lr);
        criticOptimizer = new AdamOptimizer(critics.Parameters(), options.Lr);
        valueOptimizer = new AdamOptimizer(value.parameters(), options.Lr);
        batch = new ReplayBatch(options.BatchSize, od, ad);
        gamma = options.Gamma;
        expectile = options.Expectile;
        beta = options.Beta;
    }

    /// <summary>The factor rewards were multiplied by.</summary>
    public double RewardScale { get; }

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

    /// <summary>RewardSpan / (max − min) of the episode returns; 1 when they do not spread.</summary>
    public static double ScaleForReturns(IReadOnlyCollection<double> returns) =>
        returns.Count < 2 || returns.Max() - returns.Min() <= 0 ? 1.0 : RewardSpan / (returns.Max() - returns.Min());

    /// <summary>The transitions with z-scored observations and scaled rewards as the buffer's offline part.</summary>
    (ReplayBuffer, RunningNorm) Prepare(OfflineDataset t, double rewardScale)
    {
        var norm = new RunningNorm(t.ObsDim);
        norm.Update(t.Observations, t.Count);
        norm.Frozen = true;
        var obs = new float[t.Observations.Length];
        var next = new float[t.Observations.Length];
        norm.Normalize(t.Observations, obs, t.Count);
        norm.Normalize(t.NextObservations!, next, t.Count);
        var rewards = t.Rewards!.Select(r => (float)(r * rewardScale)).ToArray();
        var prepared = new OfflineDataset(t.Count, t.ObsDim, t.ActDim, obs, t.Actions, rewards, next, t.Terminals,
            t.Timeouts);
        return (new ReplayBuffer(t.ObsDim, t.ActDim, capacity: 1, prepared, mixingRatio: 1.0), norm);
    }

    public string Name => "iql";
    public IReadOnlyList<string> TimeColumns => TimeColumnNames;
    public IReadOnlyList<string> MetricColumns => MetricColumnNames;
    public IReadOnlyList<string> ExtraColumns => [];

    public bool TrainEpoch(int epoch, long envStepsDone, IDictionary<string, double> row)
    {
        var clock = Stopwatch.StartNew();
        var sums = new double[5];
        var done = 0;
        for (var s = 0; s < options.StepsPerEpoch; s++, done++)
            if (!Update(envStepsDone + s, sums)) return false;
        row["time/update_s"] = clock.Elapsed.TotalSeconds;
        string[] names = ["losses/value", "losses/q", "losses/actor", "charts/advantage_mean", "charts/v_mean"];
        for (var i = 0; i < names.Length; i++) row[names[i]] = sums[i] / done;
        row["charts/actor_lr"] = actorOptimizer.LearningRate;
        return AllFinite();
    }

    /// <summary>The actor's learning rate at update k: lr·(1 + cos(π·k / Steps)) / 2 (CORL's schedule).</summary>
    public static double CosineLr(double lr, long k, long steps) => lr * 0.5 * (1 + Math.Cos(Math.PI * k / steps));

    /// <summary>One batch: V, then Q and its targets, then the actor.</summary>
    bool Update(long k, double[] sums)
    {
        buffer.Sample(batch, rng);
        using var scope = NewDisposeScope();
        int n = batch.Size, od = spec.ObsDim, ad = spec.ActDim;
        var obs = tensor(batch.Obs, [n, od]);
        var act = tensor(batch.Actions, [n, ad]);
        Tensor nextV, targetQ;
        using (no_grad())
        {
            nextV = value.call(tensor(batch.NextObs, [n, od])).view(-1);
            var (tq1, tq2) = critics.TargetValues(obs, act);
            targetQ = minimum(tq1, tq2);
        }
        var v = value.call(obs).view(-1);
        var advantage = targetQ - v;
        var valueLoss = IqlLosses.ExpectileLoss(advantage, expectile);
        if (!Step(valueLoss, valueOptimizer)) return false;

        var target = IqlLosses.QTarget(tensor(batch.Rewards), tensor(batch.Terminals), nextV, gamma);
        var (q1, q2) = critics.Values(obs, act);
        var qLoss = IqlLosses.QLoss(q1, q2, target);
        if (!Step(qLoss, criticOptimizer)) return false;
        critics.UpdateTargets();

        var (logProb, _) = actor.Evaluate(obs, act);
        var actorLoss = IqlLosses.AwrLoss(advantage, logProb, beta);
        actorOptimizer.LearningRate = CosineLr(options.Lr, k, options.Steps);
        if (!Step(actorLoss, actorOptimizer)) return false;

        sums[0] += valueLoss.item<float>();
        sums[1] += qLoss.item<float>();
        sums[2] += actorLoss.item<float>();
        using (no_grad())
        {
            sums[3] += advantage.mean().item<float>();
            sums[4] += v.mean().item<float>();
        }
        return true;
    }

    static bool Step(Tensor loss, AdamOptimizer optimizer)
    {
        if (!float.IsFinite(loss.item<float>())) return false;
        optimizer.ZeroGrad();
        loss.backward();
        optimizer.Step();
        return true;
    }

    bool AllFinite()
    {
        foreach (var p in actor.parameters().Concat(critics.Parameters()).Concat(value.parameters()))
            using (var bad = p.isfinite().logical_not().any())
                if (bad.item<bool>()) return false;
        return true;
    }

    public IPolicy CreatePolicy() => new PolicyRunner(actor, obsNorm);

    public void WriteState(TrainingState state)
    {
        WriteModel(state);
        AdamState.Write(state, actorOptimizer, "adam_actor.");
        AdamState.Write(state, criticOptimizer, "adam_critic.");
        AdamState.Write(state, valueOptimizer, "adam_value.");
        state.Add("rng", rng.GetState());
    }

    /// <summary>The agent's networks and normaliser (what fine-tuning starts from).</summary>
    void WriteModel(TrainingState state)
    {
        state.AddModule("actor.", actor);
        critics.WriteState(state);
        state.AddModule("value.", value);
        state.Add("obs_rms.mean", obsNorm.Mean);
        state.Add("obs_rms.var", obsNorm.Var);
        state.Add("obs_rms.count", [obsNorm.Count]);
    }

    public void ReadState(TrainingState state, bool modelOnly)
    {
        state.CopyInto("actor.", actor);
        critics.ReadState(state);
        state.CopyInto("value.", value);
        AdamState.Read(state, actorOptimizer, "adam_actor.");
        AdamState.Read(state, criticOptimizer, "adam_critic.");
        AdamState.Read(state, valueOptimizer, "adam_value.");
        if (modelOnly) return;
        rng.SetState(state.Words("rng"));
    }

    /// <summary>
    /// The agent as a PyTorch state dict: actor.*, q1.*, q2.*, q1_target.*, q2_target.*, value.*, obs_rms.*, with
    /// metadata (format o2o.agent, algo iql, env id, dims, widths, reward scale).
    /// </summary>
    public void SaveActor(string path, string runName, long envSteps)
    {
        var meta = new JsonObject
        {
            ["format"] = "o2o.agent",
            ["algo"] = Name,
            ["env_id"] = options.EnvId,
            ["obs_dim"] = spec.ObsDim,
            ["act_dim"] = spec.ActDim,
            ["hidden"] = new JsonArray(options.Hidden.Select(h => (JsonNode)h).ToArray()),
            ["reward_scale"] = RewardScale,
            ["run_name"] = runName,
            ["updates"] = envSteps,
        };
        using var state = new TrainingState();
        WriteModel(state);
        StateDictFile.Save(path, state.Tensors, meta);
    }

    public string Describe(IReadOnlyDictionary<string, double> row)
    {
        string F(string key, string format) =>
            row.TryGetValue(key, out var v) && double.IsFinite(v)
                ? v.ToString(format, CultureInfo.InvariantCulture)
                : "-";
        return $"v {F("charts/v_mean", "F1")}  q-loss {F("losses/q", "F3")}  actor {F("losses/actor", "F2")}";
    }

    public void Dispose()
    {
        actorOptimizer.Dispose();
        criticOptimizer.Dispose();
        valueOptimizer.Dispose();
        actor.Dispose();
        critics.Dispose();
        value.Dispose();
        gamma.Dispose();
        expectile.Dispose();
        beta.Dispose();
    }
}
