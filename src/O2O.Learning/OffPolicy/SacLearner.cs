using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using O2O.Sim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Soft actor-critic (Haarnoja et al. 2018) as CleanRL's sac_continuous_action.py, one environment step and one
/// gradient update at a time: act (uniformly at random for the first LearningStarts steps) → store the transition
/// (a time limit is not a termination) → sample a batch → twin-critic update towards the soft Bellman target of
/// the Polyak-averaged target critics → actor update → temperature update → target update.
/// With a DSR (<see cref="OffPolicySupport"/>) each stored pair gets its support σ, each sampled batch's rewards
/// are shaped with the current β_t and η_t, and with value pessimism the critic loss gains
/// β_t·E[(1 − σ(s, a'))·Q(s, a')].
/// The <see cref="RunHarness"/> does the rest (evaluation, logs, checkpoints, resume, rollback).
/// </summary>
public sealed class SacLearner : ILearner
{
    public static readonly string[] TimeColumnNames = ["time/env_s", "time/act_s", "time/update_s"];

    public static readonly string[] MetricColumnNames =
    [
        "train/return_mean", "train/length_mean", "train/episodes", "losses/critic", "losses/actor",
        "losses/temperature", "charts/alpha", "charts/q_mean", "charts/logp_mean", "charts/updates",
    ];

    readonly SacOptions options;
    readonly EnvSpec spec;
    readonly VecEnv env;
    readonly SquashedGaussianActor actor;
    readonly TwinCritic critics;
    readonly Parameter logAlpha;
    readonly AdamOptimizer actorOptimizer, criticOptimizer, alphaOptimizer;
    readonly ReplayBuffer buffer;
    readonly ReplayBatch batch;
    readonly SquashedPolicy policy;
    readonly OffPolicySupport? dsr;
    readonly Rng rng;
    readonly float[] observation, action, noise, policyActions;
    readonly Scalar gamma, targetEntropy;
    static readonly Scalar One = 1.0;
    readonly List<double> finishedReturns = [], finishedLengths = [];

    public SacLearner(SacOptions options)
    {
        options.Validate();
        this.options = options;
        spec = EnvRegistry.Get(options.EnvId);
        // Loaded before the seed is set: building the DSR's networks draws from libtorch's generator.
        dsr = OffPolicySupport.Create(options.DsrPath, options.Shaping, spec, 1.0, options.TotalSteps);
        TorchRuntime.Configure(options.Seed, options.TorchThreads);
        rng = new Rng((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 3);
        int od = spec.ObsDim, ad = spec.ActDim;
        actor = new SquashedGaussianActor(od, ad, options.Hidden);
        critics = new TwinCritic(od, ad, options.Hidden, options.Tau);
        using (Scalar start = Math.Log(options.Alpha ?? 1.0)) logAlpha = nn.Parameter(full(1, start));
        actorOptimizer = new AdamOptimizer(actor.parameters(), options.Lr);
        criticOptimizer = new AdamOptimizer(critics.Parameters(), options.Lr);
        alphaOptimizer = new AdamOptimizer([logAlpha], options.Lr);
        buffer = new ReplayBuffer(od, ad, options.BufferSize);
        batch = new ReplayBatch(options.BatchSize, od, ad);
        policy = new SquashedPolicy(actor);
        observation = new float[od];
        action = new float[ad];
        noise = new float[options.BatchSize * ad];
        policyActions = dsr is { ValuePessimism: true } ? new float[options.BatchSize * ad] : [];
        gamma = options.Gamma;
        targetEntropy = options.TargetEntropy ?? -ad;
        env = new VecEnv(options.EnvId, 1, options.Seed, threads: 1);
        env.Reset();
    }

    public string Name => "sac";
    public IReadOnlyList<string> TimeColumns =>
        dsr is null ? TimeColumnNames : [.. TimeColumnNames, OffPolicySupport.TimeColumn];
    public IReadOnlyList<string> MetricColumns => MetricColumnNames;
    public IReadOnlyList<string> ExtraColumns => dsr is null ? [] : OffPolicySupport.Columns;

    bool AutoTemperature => options.Alpha is null;

    public bool TrainEpoch(int epoch, long envStepsDone, IDictionary<string, double> row)
    {
        finishedReturns.Clear();
        finishedLengths.Clear();
        var stats = new UpdateStats();
        var envClock = new Stopwatch();
        var actClock = new Stopwatch();
        var updateClock = new Stopwatch();
        var dsrInUpdates = TimeSpan.Zero;
        var finite = true;
        for (var s = 0; s < options.StepsPerEpoch && finite; s++)
        {
            actClock.Start();
            env.Obs.AsSpan().CopyTo(observation);
            Act(envStepsDone + s);
            actClock.Stop();
            envClock.Start();
            env.Step(action);
            envClock.Stop();
            Store();
            if (envStepsDone + s < options.LearningStarts) continue;
            var dsrBefore = dsr?.Elapsed ?? TimeSpan.Zero;
            updateClock.Start();
            finite = Update(stats, envStepsDone + s);
            updateClock.Stop();
            dsrInUpdates += (dsr?.Elapsed ?? TimeSpan.Zero) - dsrBefore;
        }
        row["time/env_s"] = envClock.Elapsed.TotalSeconds;
        row["time/act_s"] = actClock.Elapsed.TotalSeconds;
        row["time/update_s"] = (updateClock.Elapsed - dsrInUpdates).TotalSeconds;
        if (finishedReturns.Count > 0)
        {
            row["train/return_mean"] = finishedReturns.Average();
            row["train/length_mean"] = finishedLengths.Average();
        }
        row["train/episodes"] = finishedReturns.Count;
        stats.WriteTo(row, Alpha());
        dsr?.WriteColumns(row);
        return finite && AllFinite();
    }

    /// <summary>Uniform random actions before LearningStarts, then a sample of the current policy.</summary>
    void Act(long step)
    {
        if (step < options.LearningStarts)
        {
            for (var j = 0; j < action.Length; j++) action[j] = (float)(2 * rng.NextDouble() - 1);
            return;
        }
        policy.Act(observation, 1, action, rng);
    }

    /// <summary>
    /// The last step as a transition, with the DSR's σ of the pair; after an episode end the next observation is the
    /// final one.
    /// </summary>
    void Store()
    {
        var ended = env.Terminated[0] || env.Truncated[0];
        var sigma = dsr?.Score(observation, action) ?? 1f;
        buffer.Add(observation, action, env.Rewards[0], ended ? env.FinalObs : env.Obs, env.Terminated[0], sigma);
        if (!ended) return;
        finishedReturns.Add(env.EpisodeReturn[0]);
        finishedLengths.Add(env.EpisodeLength[0]);
    }

    double Alpha()
    {
        using var _ = no_grad();
        using var a = logAlpha.exp();
        return a.item<float>();
    }

    /// <summary>
    /// One gradient step of critics, actor and temperature, then the target update; <paramref name="step"/> is the
    /// env steps done before this one (the DSR's annealing clock).
    /// </summary>
    bool Update(UpdateStats stats, long step)
    {
        buffer.Sample(batch, rng);
        dsr?.ShapeRewards(batch, step);
        using var scope = NewDisposeScope();
        int n = batch.Size, od = spec.ObsDim, ad = spec.ActDim;
        var obs = tensor(batch.Obs, [n, od]);
        var act = tensor(batch.Actions, [n, ad]);
        var next = tensor(batch.NextObs, [n, od]);
        var alpha = logAlpha.exp().detach();

        Tensor target;
        using (no_grad())
        {
            var (nextAction, nextLogProb) = actor.Sample(next, Noise());
            var (nextQ1, nextQ2) = critics.TargetValues(next, nextAction);
            target = SacLosses.CriticTarget(tensor(batch.Rewards), tensor(batch.Terminals), nextQ1, nextQ2,
                nextLogProb, alpha, gamma);
        }
        var (q1Value, q2Value) = critics.Values(obs, act);
        var criticLoss = SacLosses.CriticLoss(q1Value, q2Value, target);
        // The DSR's value term joins the step; losses/critic stays the regression loss (the term is dsr/penalty_mean).
        var criticStep = dsr is { CriticBeta: > 0 } ? criticLoss.add(SupportTerm(obs), One) : criticLoss;
        if (!GradientStep.TryStep(criticStep, criticOptimizer)) return false;

        var (piAction, logProb) = actor.Sample(obs, Noise());
        var (q1Pi, q2Pi) = critics.Values(obs, piAction);
        var actorLoss = SacLosses.ActorLoss(logProb, q1Pi, q2Pi, alpha);
        if (!GradientStep.TryStep(actorLoss, actorOptimizer)) return false;

        double temperatureLoss = 0;
        if (AutoTemperature)
        {
            var loss = SacLosses.TemperatureLoss(logAlpha, logProb, targetEntropy);
            if (!GradientStep.TryStep(loss, alphaOptimizer)) return false;
            temperatureLoss = loss.item<float>();
        }
        critics.UpdateTargets();
        policy.Refresh(actor);
        stats.Add(criticLoss.item<float>(), actorLoss.item<float>(), temperatureLoss, q1Value.mean().item<float>(),
            logProb.mean().item<float>());
        return true;
    }

    /// <summary>
    /// Value pessimism: β_t·Σ_k mean((1 − σ(s, a'))·Q_k(s, a')) over a' ~ π(·|s) at the batch's states (raw in
    /// SAC's buffer), σ without gradient and a' fixed: it pushes each critic down where the data's support is low.
    /// </summary>
    Tensor SupportTerm(Tensor obs)
    {
        Tensor piAction;
        using (no_grad()) piAction = actor.Sample(obs, Noise()).Action;
        piAction.data<float>().CopyTo(policyActions);
        var penalty = dsr!.PolicyPenalty(batch.Obs, policyActions, batch.Size);
        var (q1, q2) = critics.Values(obs, piAction);
        return dsr.CriticTerm(penalty, q1, q2, weight: 1);
    }

    /// <summary>Standard-normal noise for a batch of actions, from the learner's RNG (checkpointed).</summary>
    Tensor Noise()
    {
        for (var i = 0; i < noise.Length; i++) noise[i] = (float)rng.NextGaussian();
        return tensor(noise, [batch.Size, spec.ActDim]);
    }

    bool AllFinite() => GradientStep.AllFinite(actor.parameters().Concat(critics.Parameters()).Append(logAlpha));

    /// <summary>Means over an epoch's updates.</summary>
    sealed class UpdateStats
    {
        double critic, actorLoss, temperature, q, logp;
        int count;

        public void Add(double criticLoss, double actorValue, double temperatureLoss, double qMean, double logpMean)
        {
            critic += criticLoss;
            actorLoss += actorValue;
            temperature += temperatureLoss;
            q += qMean;
            logp += logpMean;
            count++;
        }

        public void WriteTo(IDictionary<string, double> row, double alpha)
        {
            row["charts/alpha"] = alpha;
            row["charts/updates"] = count;
            if (count == 0) return;
            row["losses/critic"] = critic / count;
            row["losses/actor"] = actorLoss / count;
            row["losses/temperature"] = temperature / count;
            row["charts/q_mean"] = q / count;
            row["charts/logp_mean"] = logp / count;
        }
    }

    public IPolicy CreatePolicy() => new SquashedPolicy(actor);

    public void WriteState(TrainingState state)
    {
        state.AddModule("actor.", actor);
        critics.WriteState(state);
        state.AddTensor("log_alpha", logAlpha);
        AdamState.Write(state, actorOptimizer, "adam_actor.");
        AdamState.Write(state, criticOptimizer, "adam_critic.");
        AdamState.Write(state, alphaOptimizer, "adam_alpha.");
        state.Add("rng", rng.GetState());
        var (reals, ints) = env.GetState();
        state.Add("envs.reals", reals);
        state.Add("envs.ints", ints);
        buffer.WriteState(state);
        dsr?.WriteState(state);
    }

    public void ReadState(TrainingState state, bool modelOnly)
    {
        state.CopyInto("actor.", actor);
        critics.ReadState(state);
        using (no_grad()) logAlpha.copy_(state.Get("log_alpha"));
        AdamState.Read(state, actorOptimizer, "adam_actor.");
        AdamState.Read(state, criticOptimizer, "adam_critic.");
        AdamState.Read(state, alphaOptimizer, "adam_alpha.");
        policy.Refresh(actor);
        if (modelOnly) return;
        rng.SetState(state.Words("rng"));
        env.SetState(state.Doubles("envs.reals"), state.Longs("envs.ints"));
        buffer.ReadState(state);
        dsr?.ReadState(state);
    }

    /// <summary>The actor as a PyTorch state dict (net.fc0 …, net.out) with metadata; format o2o.sac-actor.</summary>
    public void SaveActor(string path, string runName, long envSteps)
    {
        var meta = new JsonObject
        {
            ["format"] = "o2o.sac-actor",
            ["env_id"] = options.EnvId,
            ["obs_dim"] = spec.ObsDim,
            ["act_dim"] = spec.ActDim,
            ["hidden"] = new JsonArray(options.Hidden.Select(h => (JsonNode)h).ToArray()),
            ["run_name"] = runName,
            ["env_steps"] = envSteps,
        };
        using var state = new TrainingState();
        state.AddModule("", actor);
        StateDictFile.Save(path, state.Tensors, meta);
    }

    public string Describe(IReadOnlyDictionary<string, double> row)
    {
        string F(string key, string format) => RunHarness.Cell(row, key, format);
        return $"train {F("train/return_mean", "F1")}  q {F("charts/q_mean", "F1")}  α {F("charts/alpha", "F3")}";
    }

    public void Dispose()
    {
        env.Dispose();
        actorOptimizer.Dispose();
        criticOptimizer.Dispose();
        alphaOptimizer.Dispose();
        actor.Dispose();
        critics.Dispose();
        logAlpha.Dispose();
        gamma.Dispose();
        targetEntropy.Dispose();
        dsr?.Dispose();
    }
}
