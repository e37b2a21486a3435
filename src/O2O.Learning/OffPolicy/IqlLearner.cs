using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using O2O.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Implicit Q-learning (Kostrikov et al. 2022) as CORL's iql.py, one batch at a time: V by expectile regression onto
/// the target critics at the buffer's actions → twin Q towards r + γ·V(s') → Polyak targets → the actor by
/// advantage-weighted regression on the buffer's actions. Offline (no InitAgent) it learns from the data alone, its
/// actor's learning rate on a cosine schedule over the run; an "epoch" of the <see cref="RunHarness"/> is then
/// StepsPerEpoch updates and the env_steps column counts updates. Online (InitAgent) it continues an offline agent
/// in the environment with one update per env step (CORL's fine-tuning), the offline data kept in the buffer or
/// dropped; the actor's learning rate is reset to Lr, because the offline cosine schedule ends near zero and would
/// freeze the actor online. Observations are z-scored with the offline data's statistics, which the agent keeps,
/// and rewards scaled as offline. Online, a DSR (<see cref="OffPolicySupport"/>) scores every stored pair and every
/// kept offline row on raw observations and shapes each sampled batch (reward pessimism), or adds its support-scaled
/// term to the Q loss at actions of the Gaussian actor (value pessimism); c is the DSR's times the reward scale.
/// The actor is a Gaussian with a state-independent log-std over an untransformed mean (actions are clipped by the
/// environment), so it is the same kind of actor as BC's and PPO's; CORL squashes the mean with tanh.
/// </summary>
public sealed class IqlLearner : ILearner
{
    static readonly string[] LossColumns =
        ["losses/value", "losses/q", "losses/actor", "charts/advantage_mean", "charts/v_mean"];

    static readonly string[] EpisodeColumns = ["train/return_mean", "train/length_mean", "train/episodes"];

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
    readonly VecEnv? env;
    readonly PolicyRunner? policy;
    readonly OffPolicySupport? dsr;
    readonly float[] rawObs = [], action = [], normObs = [], normNext = [];
    readonly float[] rawStates = [], policyActions = [], policyNoise = [];
    static readonly Scalar ActionLow = -1.0, ActionHigh = 1.0, One = 1.0;
    readonly List<double> finishedReturns = [], finishedLengths = [];

    /// <summary>
    /// Offline: learn from <paramref name="data"/> (D4RL rows; next observations are rebuilt as D4RL does). Online
    /// (InitAgent set): continue that agent, with <paramref name="data"/> in the buffer when OfflineData is keep.
    /// </summary>
    public IqlLearner(IqlOptions options, OfflineDataset? data)
    {
        options.Validate();
        this.options = options;
        spec = EnvRegistry.Get(options.EnvId);
        int od = spec.ObsDim, ad = spec.ActDim;
        var keep = !options.Online || options.OfflineData == "keep";
        if (keep) OfflineTransitions.Check(data, spec, "IQL");
        using var agent = options.Online ? AgentFile.Load(options.InitAgent!, spec.Id, od, ad, Name) : null;
        // Loaded before the seed is set: building the DSR's networks draws from libtorch's generator.
        dsr = agent is null ? null
            : OffPolicySupport.Create(options.DsrPath, options.Shaping, spec, agent.RewardScale, options.Steps);
        TorchRuntime.Configure(options.Seed, options.TorchThreads);
        rng = new Rng((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 5);
        RewardScale = agent?.RewardScale ?? (options.NormalizeReward
            ? OfflineTransitions.ScaleForReturns(OfflineTransitions.EpisodeReturns(data!)) : 1.0);
        obsNorm = agent is null
            ? OfflineTransitions.DataNorm(data!.Observations, data.Count)
            : OfflineTransitions.AgentNorm(agent.State, od);
        var transitions = keep ? data!.ToQLearningTransitions() : null;
        var offline = transitions is null ? null : OfflineTransitions.Prepare(transitions, obsNorm, RewardScale);
        // σ of the kept offline rows, once and batched, on the raw observations the DSR was trained on.
        var offlineSupport = transitions is null || dsr is null ? null
            : dsr.ScoreOffline(transitions.Observations, transitions.Actions, transitions.Count);
        buffer = options.Online
            ? new ReplayBuffer(od, ad, options.BufferSize, offline, options.MixingRatio, offlineSupport: offlineSupport)
            : new ReplayBuffer(od, ad, capacity: 1, offline, mixingRatio: 1.0);
        var hidden = agent?.Hidden ?? options.Hidden;
        actor = new GaussianActor(od, ad, hidden, Activation.Relu);
        critics = new TwinCritic(od, ad, hidden, options.Tau);
        value = new Mlp("v", od, hidden, 1, Activation.Relu, outputGain: 1.0);
        if (agent is not null) LoadModel(agent.State);
        actorOptimizer = new AdamOptimizer(actor.parameters(), options.Lr);
        criticOptimizer = new AdamOptimizer(critics.Parameters(), options.Lr);
        valueOptimizer = new AdamOptimizer(value.parameters(), options.Lr);
        batch = new ReplayBatch(options.BatchSize, od, ad);
        gamma = options.Gamma;
        expectile = options.Expectile;
        beta = options.Beta;
        if (!options.Online) return;
        rawObs = new float[od];
        action = new float[ad];
        normObs = new float[od];
        normNext = new float[od];
        if (dsr is { ValuePessimism: true })
        {
            rawStates = new float[options.BatchSize * od];
            policyActions = new float[options.BatchSize * ad];
            policyNoise = new float[options.BatchSize * ad];
        }
        policy = new PolicyRunner(actor, obsNorm);
        env = new VecEnv(options.EnvId, 1, options.Seed, threads: 1);
        env.Reset();
    }

    /// <summary>The factor rewards were multiplied by.</summary>
    public double RewardScale { get; }

    public string Name => "iql";
    public IReadOnlyList<string> TimeColumns =>
        options.Online ? ["time/env_s", "time/update_s", .. dsr is null ? [] : new[] { OffPolicySupport.TimeColumn }]
            : ["time/update_s"];
    public IReadOnlyList<string> MetricColumns =>
        [.. options.Online ? EpisodeColumns : [], .. LossColumns, "charts/actor_lr"];
    public IReadOnlyList<string> ExtraColumns => dsr is null ? [] : OffPolicySupport.Columns;

    TimeSpan DsrElapsed => dsr?.Elapsed ?? TimeSpan.Zero;

    public bool TrainEpoch(int epoch, long envStepsDone, IDictionary<string, double> row)
    {
        finishedReturns.Clear();
        finishedLengths.Clear();
        var updateClock = new Stopwatch();
        var envClock = new Stopwatch();
        var sums = new double[LossColumns.Length];
        var updates = 0;
        TimeSpan dsrInEnv = TimeSpan.Zero, dsrInUpdates = TimeSpan.Zero;
        for (var s = 0; s < options.StepsPerEpoch; s++)
        {
            var before = DsrElapsed;
            if (env is not null)
            {
                envClock.Start();
                Interact();
                envClock.Stop();
            }
            dsrInEnv += DsrElapsed - before;
            before = DsrElapsed;
            if (envStepsDone + s < options.WarmupSteps) continue;
            updateClock.Start();
            var finite = Update(envStepsDone + s, sums);
            updateClock.Stop();
            updates++;
            dsrInUpdates += DsrElapsed - before;
            if (!finite) return false;
        }
        row["time/update_s"] = (updateClock.Elapsed - dsrInUpdates).TotalSeconds;
        if (env is not null)
        {
            row["time/env_s"] = (envClock.Elapsed - dsrInEnv).TotalSeconds;
            if (finishedReturns.Count > 0)
            {
                row["train/return_mean"] = finishedReturns.Average();
                row["train/length_mean"] = finishedLengths.Average();
            }
            row["train/episodes"] = finishedReturns.Count;
        }
        if (updates > 0)
            for (var i = 0; i < LossColumns.Length; i++) row[LossColumns[i]] = sums[i] / updates;
        row["charts/actor_lr"] = actorOptimizer.LearningRate;
        dsr?.WriteColumns(row);
        return AllFinite();
    }

    /// <summary>
    /// One env step with a sample of the policy, stored as the offline data is (z-scored, scaled), with the DSR's σ of
    /// the raw observation and the executed action.
    /// </summary>
    void Interact()
    {
        var e = env!;
        e.Obs.AsSpan().CopyTo(rawObs);
        policy!.Refresh(actor);
        policy.Act(rawObs, 1, action, rng);
        for (var j = 0; j < action.Length; j++) action[j] = Math.Clamp(action[j], -1f, 1f);
        e.Step(action);
        var ended = e.Terminated[0] || e.Truncated[0];
        obsNorm.Normalize(rawObs, normObs, 1);
        obsNorm.Normalize(ended ? e.FinalObs : e.Obs, normNext, 1);
        var sigma = dsr?.Score(rawObs, action) ?? 1f;
        buffer.Add(normObs, action, (float)(e.Rewards[0] * RewardScale), normNext, e.Terminated[0], sigma);
        if (!ended) return;
        finishedReturns.Add(e.EpisodeReturn[0]);
        finishedLengths.Add(e.EpisodeLength[0]);
    }

    /// <summary>The actor's learning rate at update k: lr·(1 + cos(π·k / Steps)) / 2 (CORL's schedule).</summary>
    public static double CosineLr(double lr, long k, long steps) => lr * 0.5 * (1 + Math.Cos(Math.PI * k / steps));

    /// <summary>One batch: V, then Q and its targets, then the actor. Online, k is the env steps done before this one.
    /// </summary>
    bool Update(long k, double[] sums)
    {
        buffer.Sample(batch, rng);
        dsr?.ShapeRewards(batch, k);
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
        if (!GradientStep.TryStep(valueLoss, valueOptimizer)) return false;

        var target = IqlLosses.QTarget(tensor(batch.Rewards), tensor(batch.Terminals), nextV, gamma);
        var (q1, q2) = critics.Values(obs, act);
        var qLoss = IqlLosses.QLoss(q1, q2, target);
        // The DSR's value term joins the step; losses/q stays the regression loss (the term is dsr/penalty_mean).
        var qStep = dsr is { CriticBeta: > 0 } ? qLoss.add(SupportTerm(obs), One) : qLoss;
        if (!GradientStep.TryStep(qStep, criticOptimizer)) return false;
        critics.UpdateTargets();

        var (logProb, _) = actor.Evaluate(obs, act);
        var actorLoss = IqlLosses.AwrLoss(advantage, logProb, beta);
        actorOptimizer.LearningRate = options.Online ? options.Lr : CosineLr(options.Lr, k, options.Steps);
        if (!GradientStep.TryStep(actorLoss, actorOptimizer)) return false;

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

    /// <summary>
    /// Value pessimism: ½·β_t·Σ_k mean((1 − σ(s, a'))·Q_k(s, a')) (½ as in the Q loss) over a' ~ π(·|s),
    /// the Gaussian actor's sample clipped to the action box as the environment would, σ of the raw (denormalised)
    /// states.
    /// </summary>
    Tensor SupportTerm(Tensor obs)
    {
        int n = batch.Size, od = spec.ObsDim, ad = spec.ActDim;
        for (var i = 0; i < policyNoise.Length; i++) policyNoise[i] = (float)rng.NextGaussian();
        Tensor piAction;
        using (no_grad())
        {
            var sample = actor.call(obs).add(actor.LogStd.exp() * tensor(policyNoise, [n, ad]), One);
            piAction = sample.clamp(ActionLow, ActionHigh);
        }
        piAction.data<float>().CopyTo(policyActions);
        OfflineTransitions.Denormalize(obsNorm, batch.Obs, rawStates, n);
        var penalty = dsr!.PolicyPenalty(rawStates, policyActions, n);
        var (q1, q2) = critics.Values(obs, piAction);
        return dsr.CriticTerm(penalty, q1, q2, weight: 0.5);
    }

    bool AllFinite() =>
        GradientStep.AllFinite(actor.parameters().Concat(critics.Parameters()).Concat(value.parameters()));

    public IPolicy CreatePolicy() => new PolicyRunner(actor, obsNorm);

    public void WriteState(TrainingState state)
    {
        WriteModel(state);
        AdamState.Write(state, actorOptimizer, "adam_actor.");
        AdamState.Write(state, criticOptimizer, "adam_critic.");
        AdamState.Write(state, valueOptimizer, "adam_value.");
        state.Add("rng", rng.GetState());
        if (env is null) return;
        var (reals, ints) = env.GetState();
        state.Add("envs.reals", reals);
        state.Add("envs.ints", ints);
        buffer.WriteState(state);
        dsr?.WriteState(state);
    }

    /// <summary>The agent's networks and normaliser (what fine-tuning starts from).</summary>
    void WriteModel(TrainingState state)
    {
        state.AddModule("actor.", actor);
        critics.WriteState(state);
        state.AddModule("value.", value);
        OfflineTransitions.WriteNorm(state, obsNorm);
    }

    void LoadModel(TrainingState state)
    {
        state.CopyInto("actor.", actor);
        critics.ReadState(state);
        state.CopyInto("value.", value);
    }

    public void ReadState(TrainingState state, bool modelOnly)
    {
        LoadModel(state);
        AdamState.Read(state, actorOptimizer, "adam_actor.");
        AdamState.Read(state, criticOptimizer, "adam_critic.");
        AdamState.Read(state, valueOptimizer, "adam_value.");
        if (modelOnly) return;
        rng.SetState(state.Words("rng"));
        if (env is null) return;
        env.SetState(state.Doubles("envs.reals"), state.Longs("envs.ints"));
        buffer.ReadState(state);
        dsr?.ReadState(state);
    }

    /// <summary>
    /// The agent as a PyTorch state dict: actor.*, q1.*, q2.*, q1_target.*, q2_target.*, value.*, obs_rms.*, with
    /// metadata (format o2o.agent, algo iql, env id, dims, widths, reward scale).
    /// </summary>
    public void SaveActor(string path, string runName, long envSteps)
    {
        using var state = new TrainingState();
        WriteModel(state);
        var extra = new JsonObject { ["reward_scale"] = RewardScale, ["run_name"] = runName, ["steps"] = envSteps };
        AgentFile.Save(path, state, Name, options.EnvId, spec.ObsDim, spec.ActDim, actor.Mean.Hidden, extra);
    }

    public string Describe(IReadOnlyDictionary<string, double> row)
    {
        string F(string key, string format) => RunHarness.Cell(row, key, format);
        return $"v {F("charts/v_mean", "F1")}  q-loss {F("losses/q", "F3")}  actor {F("losses/actor", "F2")}";
    }

    public void Dispose()
    {
        env?.Dispose();
        actorOptimizer.Dispose();
        criticOptimizer.Dispose();
        valueOptimizer.Dispose();
        actor.Dispose();
        critics.Dispose();
        value.Dispose();
        gamma.Dispose();
        expectile.Dispose();
        beta.Dispose();
        dsr?.Dispose();
    }
}
