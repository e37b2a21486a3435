using System.Diagnostics;
using System.Text.Json.Nodes;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using O2O.Sim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Conservative Q-learning (Kumar et al. 2020) and Cal-QL (Nakamoto et al. 2023) as CORL's cql.py and cal_ql.py,
/// one batch at a time: SAC's twin critics towards r + γ·min Q'(s', a') (no entropy term unless BackupEntropy),
/// plus the conservative term α·Σ_k [τ·logsumexp over sampled actions of Q_k − Q_k(s, a_data)] (Cal-QL: the
/// policy actions' Q values raised to the data's Monte-Carlo return first), then SAC's actor and temperature, then
/// the Polyak targets. Offline (no InitAgent) it learns from the data alone; an "epoch" of the
/// <see cref="RunHarness"/> is StepsPerEpoch updates and env_steps counts updates. Online (InitAgent) it continues
/// the agent with SAC in the environment, one update per env step, with the conservative term kept
/// (KeepConservative: Cal-QL's fine-tuning) or removed (the Off2On setting where fine-tuning is known to dip), the
/// offline data kept in the buffer or dropped. Observations are z-scored with the offline data's statistics (kept
/// in the agent) and rewards scaled as offline, online too. Online, a frozen DSR (DsrPath) scores each stored pair on
/// its raw observation and shapes every sampled batch (<see cref="OffPolicySupport"/>), or, with value pessimism,
/// adds β_t·Σ_k mean((1 − σ(s, a'))·Q_k(s, a')) over a' ~ π(·|s) to the critic loss.
/// </summary>
public sealed class CqlLearner : ILearner
{
    static readonly string[] LossColumns =
    [
        "losses/critic", "losses/conservative", "losses/actor", "losses/temperature", "charts/alpha",
        "charts/q_mean", "charts/q_target_mean", "charts/logp_mean",
    ];

    static readonly string[] EpisodeColumns = ["train/return_mean", "train/length_mean", "train/episodes"];

    static readonly Scalar One = 1.0;

    readonly CqlOptions options;
    readonly EnvSpec spec;
    readonly bool calibrated;
    readonly SquashedGaussianActor actor;
    readonly TwinCritic critics;
    readonly Parameter logAlpha;
    readonly AdamOptimizer actorOptimizer, criticOptimizer, alphaOptimizer;
    readonly RunningNorm obsNorm;
    readonly ReplayBuffer buffer;
    readonly ReplayBatch batch;
    readonly Rng rng;
    readonly Scalar gamma, targetEntropy, weight;
    readonly VecEnv? env;
    readonly OffPolicySupport? dsr;
    readonly SquashedPolicy policy;
    readonly float[] rawObs = [], action = [], normObs = [], normNext = [];
    readonly int[] hidden;
    readonly Dictionary<int, float[]> draws = [];
    float[]? rawStates, policyActions;
    readonly List<double> finishedReturns = [], finishedLengths = [];

    /// <summary>
    /// Offline: learn from <paramref name="data"/> (D4RL rows; next observations rebuilt as D4RL does). Online
    /// (InitAgent set): continue that CQL or Cal-QL agent with SAC, with the data in the buffer when OfflineData is
    /// keep.
    /// </summary>
    public CqlLearner(CqlOptions options, OfflineDataset? data)
    {
        options.Validate();
        this.options = options;
        spec = EnvRegistry.Get(options.EnvId);
        int od = spec.ObsDim, ad = spec.ActDim;
        var keep = !options.Online || options.OfflineData == "keep";
        if (keep) OfflineTransitions.Check(data, spec, options.Algo);
        using var agent = options.Online ? AgentFile.Load(options.InitAgent!, spec.Id, od, ad, "cql", "calql") : null;
        calibrated = agent is null ? options.Calibrated : (string?)agent.Meta["algo"] == "calql";
        // Loaded before the seed is set: building the DSR's networks draws from libtorch's generator.
        dsr = agent is null ? null
            : OffPolicySupport.Create(options.DsrPath, options.Shaping, spec, agent.RewardScale, options.Steps);
        TorchRuntime.Configure(options.Seed, options.TorchThreads);
        rng = new Rng((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 7);
        RewardScale = agent?.RewardScale ?? (options.NormalizeReward
            ? OfflineTransitions.ScaleForReturns(OfflineTransitions.EpisodeReturns(data!)) : 1.0);
        obsNorm = agent is null
            ? OfflineTransitions.DataNorm(data!.Observations, data.Count)
            : OfflineTransitions.AgentNorm(agent.State, od);
        var transitions = keep ? data!.ToQLearningTransitions() : null;
        var offline = transitions is null ? null : OfflineTransitions.Prepare(transitions, obsNorm, RewardScale);
        var returns = offline is not null && calibrated
            ? OfflineTransitions.MonteCarloReturns(offline, options.Gamma) : null;
        // σ of the kept offline rows, once and batched, on the raw observations the DSR was trained on.
        var support = transitions is null || dsr is null ? null
            : dsr.ScoreOffline(transitions.Observations, transitions.Actions, transitions.Count);
        buffer = options.Online
            ? new ReplayBuffer(od, ad, options.BufferSize, offline, options.MixingRatio, returns, support)
            : new ReplayBuffer(od, ad, capacity: 1, offline, mixingRatio: 1.0, returns);
        hidden = agent?.Hidden ?? options.Hidden;
        actor = new SquashedGaussianActor(od, ad, hidden);
        critics = new TwinCritic(od, ad, hidden, options.Tau);
        using (Scalar zero = 0.0) logAlpha = nn.Parameter(full(1, zero));
        if (agent is not null) LoadModel(agent.State);
        actorOptimizer = new AdamOptimizer(actor.parameters(), options.EffectiveActorLr);
        criticOptimizer = new AdamOptimizer(critics.Parameters(), options.Lr);
        alphaOptimizer = new AdamOptimizer([logAlpha], options.EffectiveActorLr);
        batch = new ReplayBatch(options.BatchSize, od, ad);
        gamma = options.Gamma;
        targetEntropy = options.TargetEntropy ?? -ad;
        weight = options.ConservativeWeight;
        policy = new SquashedPolicy(actor, obsNorm);
        if (!options.Online) return;
        rawObs = new float[od];
        action = new float[ad];
        normObs = new float[od];
        normNext = new float[od];
        env = new VecEnv(options.EnvId, 1, options.Seed, threads: 1);
        env.Reset();
    }

    /// <summary>The factor rewards were multiplied by.</summary>
    public double RewardScale { get; }

    public string Name => options.Online ? "sac" : options.Algo;
    public IReadOnlyList<string> TimeColumns => options.Online
        ? ["time/env_s", "time/update_s", .. dsr is null ? [] : new[] { OffPolicySupport.TimeColumn }]
        : ["time/update_s"];
    public IReadOnlyList<string> MetricColumns => [.. options.Online ? EpisodeColumns : [], .. LossColumns];
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
        var dsrStart = DsrElapsed;
        TimeSpan dsrInEnv = TimeSpan.Zero;
        for (var s = 0; s < options.StepsPerEpoch; s++)
        {
            if (env is not null)
            {
                var before = DsrElapsed;
                envClock.Start();
                Interact();
                envClock.Stop();
                dsrInEnv += DsrElapsed - before;
            }
            if (envStepsDone + s < options.WarmupSteps) continue;
            updateClock.Start();
            var finite = Update(envStepsDone + s, sums);
            updateClock.Stop();
            updates++;
            if (!finite) return false;
        }
        var dsrTime = DsrElapsed - dsrStart;
        row["time/update_s"] = (updateClock.Elapsed - (dsrTime - dsrInEnv)).TotalSeconds;
        dsr?.WriteColumns(row);
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
        row["charts/alpha"] = Alpha();
        return AllFinite();
    }

    /// <summary>
    /// One env step with a sample of the policy, stored as the offline data is (z-scored, scaled), with the DSR's σ
    /// of the raw observation and the action.
    /// </summary>
    void Interact()
    {
        var e = env!;
        e.Obs.AsSpan().CopyTo(rawObs);
        policy.Act(rawObs, 1, action, rng);
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

    double Alpha()
    {
        using var _ = no_grad();
        using var a = logAlpha.exp();
        return a.item<float>();
    }

    /// <summary>
    /// One batch at env step <paramref name="k"/>: the DSR's shaping of its rewards, critics (with the conservative
    /// term and the DSR's value term), actor, temperature, then the targets.
    /// </summary>
    bool Update(long k, double[] sums)
    {
        buffer.Sample(batch, rng);
        dsr?.ShapeRewards(batch, k);
        using var scope = NewDisposeScope();
        int n = batch.Size, od = spec.ObsDim, ad = spec.ActDim;
        var obs = tensor(batch.Obs, [n, od]);
        var act = tensor(batch.Actions, [n, ad]);
        var next = tensor(batch.NextObs, [n, od]);
        var alpha = logAlpha.exp().detach();

        Tensor target;
        using (no_grad())
        {
            var (nextAction, nextLogProb) = actor.Sample(next, Gaussian(n));
            var (nextQ1, nextQ2) = critics.TargetValues(next, nextAction);
            var backup = options.BackupEntropy ? alpha : zeros_like(alpha);
            target = SacLosses.CriticTarget(tensor(batch.Rewards), tensor(batch.Terminals), nextQ1, nextQ2,
                nextLogProb, backup, gamma);
        }
        var (q1, q2) = critics.Values(obs, act);
        var criticLoss = SacLosses.CriticLoss(q1, q2, target);
        var gap = options.Conservative ? Conservative(obs, next, q1, q2) : null;
        var loss = gap is null ? criticLoss : criticLoss.add(gap, weight);
        // The DSR's value term joins the step; losses/critic stays the regression loss (the term is dsr/penalty_mean).
        if (dsr is { CriticBeta: > 0 }) loss = loss.add(SupportTerm(obs), One);
        if (!GradientStep.TryStep(loss, criticOptimizer)) return false;

        var (piAction, logProb) = actor.Sample(obs, Gaussian(n));
        var (q1Pi, q2Pi) = critics.Values(obs, piAction);
        var actorLoss = SacLosses.ActorLoss(logProb, q1Pi, q2Pi, alpha);
        if (!GradientStep.TryStep(actorLoss, actorOptimizer)) return false;
        var temperatureLoss = SacLosses.TemperatureLoss(logAlpha, logProb, targetEntropy);
        if (!GradientStep.TryStep(temperatureLoss, alphaOptimizer)) return false;
        critics.UpdateTargets();
        if (env is not null) policy.Refresh(actor); // offline nothing acts with it (evaluation makes its own)

        sums[0] += criticLoss.item<float>();
        sums[1] += gap?.item<float>() ?? 0;
        sums[2] += actorLoss.item<float>();
        sums[3] += temperatureLoss.item<float>();
        sums[5] += q1.mean().item<float>();
        sums[6] += target.mean().item<float>();
        sums[7] += logProb.mean().item<float>();
        return true;
    }

    /// <summary>
    /// The conservative gaps of both critics summed: N uniform actions, N policy actions at s and N at s' per state
    /// (no gradient into the actor), their Q values at s in one pass per critic.
    /// </summary>
    Tensor Conservative(Tensor obs, Tensor next, Tensor q1, Tensor q2)
    {
        int n = batch.Size, k = options.SampledActions, ad = spec.ActDim;
        var obsRep = obs.repeat_interleave(k, 0);
        Tensor current, logCurrent, nextActions, logNext;
        using (no_grad())
        {
            (current, logCurrent) = actor.Sample(obsRep, Gaussian(n * k));
            (nextActions, logNext) = actor.Sample(next.repeat_interleave(k, 0), Gaussian(n * k));
        }
        var actions = cat([Uniform(n * k), nextActions, current], 0);
        var (all1, all2) = critics.Values(cat([obsRep, obsRep, obsRep], 0), actions);
        var bound = calibrated ? tensor(batch.Returns) : null;
        Tensor Gap(Tensor all, Tensor qData)
        {
            var parts = all.view(3, n, k);
            return CqlLosses.ConservativeGap(parts[0], parts[1], parts[2], logNext.view(n, k),
                logCurrent.view(n, k), qData, bound, ad, options.CqlTemperature);
        }
        return Gap(all1, q1).add(Gap(all2, q2), One);
    }

    /// <summary>
    /// Value pessimism: β_t·Σ_k mean((1 − σ(s, a'))·Q_k(s, a')) over a' ~ π(·|s) (SAC's squashed sample, no
    /// gradient into the actor), σ of the raw (denormalised) states.
    /// </summary>
    Tensor SupportTerm(Tensor obs)
    {
        int n = batch.Size, od = spec.ObsDim;
        Tensor piAction;
        using (no_grad()) (piAction, _) = actor.Sample(obs, Gaussian(n));
        rawStates ??= new float[n * od];
        policyActions ??= new float[n * spec.ActDim];
        piAction.data<float>().CopyTo(policyActions);
        OfflineTransitions.Denormalize(obsNorm, batch.Obs, rawStates, n);
        var penalty = dsr!.PolicyPenalty(rawStates, policyActions, n);
        var (q1, q2) = critics.Values(obs, piAction);
        return dsr.CriticTerm(penalty, q1, q2, weight: 1.0);
    }

    /// <summary>Standard-normal noise for <paramref name="rows"/> actions, from the learner's RNG.</summary>
    Tensor Gaussian(int rows)
    {
        var d = Draws(rows);
        for (var i = 0; i < d.Length; i++) d[i] = (float)rng.NextGaussian();
        return tensor(d, [rows, spec.ActDim]);
    }

    /// <summary>Uniform actions in [−1, 1) for <paramref name="rows"/> rows, from the learner's RNG.</summary>
    Tensor Uniform(int rows)
    {
        var d = Draws(rows);
        for (var i = 0; i < d.Length; i++) d[i] = (float)(2 * rng.NextDouble() - 1);
        return tensor(d, [rows, spec.ActDim]);
    }

    /// <summary>A scratch array for rows × ActDim draws, one per size (tensor() copies it).</summary>
    float[] Draws(int rows)
    {
        if (!draws.TryGetValue(rows, out var d)) draws[rows] = d = new float[rows * spec.ActDim];
        return d;
    }

    bool AllFinite() => GradientStep.AllFinite(actor.parameters().Concat(critics.Parameters()).Append(logAlpha));

    public IPolicy CreatePolicy() => new SquashedPolicy(actor, obsNorm);

    public void WriteState(TrainingState state)
    {
        WriteModel(state);
        AdamState.Write(state, actorOptimizer, "adam_actor.");
        AdamState.Write(state, criticOptimizer, "adam_critic.");
        AdamState.Write(state, alphaOptimizer, "adam_alpha.");
        state.Add("rng", rng.GetState());
        dsr?.WriteState(state);
        if (env is null) return;
        var (reals, ints) = env.GetState();
        state.Add("envs.reals", reals);
        state.Add("envs.ints", ints);
        buffer.WriteState(state);
    }

    /// <summary>The agent's networks, temperature and normaliser (what fine-tuning starts from).</summary>
    void WriteModel(TrainingState state)
    {
        state.AddModule("actor.", actor);
        critics.WriteState(state);
        state.AddTensor("log_alpha", logAlpha);
        OfflineTransitions.WriteNorm(state, obsNorm);
    }

    void LoadModel(TrainingState state)
    {
        state.CopyInto("actor.", actor);
        critics.ReadState(state);
        using (no_grad()) logAlpha.copy_(state.Get("log_alpha"));
    }

    public void ReadState(TrainingState state, bool modelOnly)
    {
        LoadModel(state);
        AdamState.Read(state, actorOptimizer, "adam_actor.");
        AdamState.Read(state, criticOptimizer, "adam_critic.");
        AdamState.Read(state, alphaOptimizer, "adam_alpha.");
        policy.Refresh(actor);
        if (modelOnly) return;
        rng.SetState(state.Words("rng"));
        dsr?.ReadState(state);
        if (env is null) return;
        env.SetState(state.Doubles("envs.reals"), state.Longs("envs.ints"));
        buffer.ReadState(state);
    }

    /// <summary>
    /// The agent as a PyTorch state dict: actor.*, q1.*, q2.*, q1_target.*, q2_target.*, log_alpha, obs_rms.*,
    /// with metadata (format o2o.agent, algo cql or calql, env id, dims, widths, reward scale).
    /// </summary>
    public void SaveActor(string path, string runName, long envSteps)
    {
        using var state = new TrainingState();
        WriteModel(state);
        var extra = new JsonObject
        {
            ["reward_scale"] = RewardScale,
            ["conservative_weight"] = options.ConservativeWeight,
            ["run_name"] = runName,
            ["steps"] = envSteps,
        };
        AgentFile.Save(path, state, calibrated ? "calql" : "cql", options.EnvId, spec.ObsDim, spec.ActDim,
            hidden, extra);
    }

    public string Describe(IReadOnlyDictionary<string, double> row)
    {
        string F(string key, string format) => RunHarness.Cell(row, key, format);
        return $"q {F("charts/q_mean", "F1")}  gap {F("losses/conservative", "F2")}  α {F("charts/alpha", "F3")}";
    }

    public void Dispose()
    {
        env?.Dispose();
        dsr?.Dispose();
        actorOptimizer.Dispose();
        criticOptimizer.Dispose();
        alphaOptimizer.Dispose();
        actor.Dispose();
        critics.Dispose();
        logAlpha.Dispose();
        gamma.Dispose();
        targetEntropy.Dispose();
        weight.Dispose();
    }
}
