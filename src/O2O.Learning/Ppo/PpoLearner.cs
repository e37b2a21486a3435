using System.Diagnostics;
using System.Globalization;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Learning.Training;
using O2O.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Ppo;

/// <summary>
/// Proximal policy optimisation (Schulman et al. 2017) for continuous control, one epoch at a time, read top to
/// bottom like CleanRL's loop: collect a rollout on a <see cref="VecEnv"/> → let the shaper change its rewards
/// (the DSR's pessimism and bonus) → values, bootstrapping across time limits, GAE → clipped-surrogate update.
/// The <see cref="RunHarness"/> does the rest (evaluation, logs, checkpoints, resume, rollback).
/// </summary>
public sealed class PpoLearner : ILearner
{
    public static readonly string[] TimeColumnNames = ["time/env_s", "time/act_s", "time/shape_s", "time/update_s"];

    public static readonly string[] MetricColumnNames =
    [
        "train/return_mean", "train/length_mean", "train/episodes",
        "losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clip_frac",
        "losses/explained_variance", "charts/lr", "charts/std_mean",
    ];

    readonly PpoOptions options;
    readonly IRolloutShaper? shaper;
    readonly EnvSpec spec;
    readonly VecEnv envs;
    readonly GaussianActor actor;
    readonly Mlp critic;
    readonly AdamOptimizer optimizer;
    readonly RunningNorm obsNorm;
    readonly RewardScaler rewardScaler;
    readonly Rng rng;
    readonly PolicyRunner runner;
    readonly RolloutBuffer rollout;
    readonly float[] actStep;
    readonly List<double> finishedReturns = [], finishedLengths = [];

    /// <summary>Networks, optimiser and environments; libtorch is seeded here, and this order fixes the run.</summary>
    public PpoLearner(PpoOptions options, IRolloutShaper? shaper = null)
    {
        options.Validate();
        this.options = options;
        this.shaper = shaper;
        spec = EnvRegistry.Get(options.EnvId);
        TorchRuntime.Configure(options.Seed, options.TorchThreads);
        rng = new Rng((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 1);
        (actor, obsNorm) = CreateActor();
        critic = new Mlp("critic", spec.ObsDim, options.Hidden, 1, Activation.Tanh, outputGain: 1.0);
        // Two parameter groups, actor then critic (the order of Parameters() and of the checkpoint's moments).
        optimizer = new AdamOptimizer(
            [actor.parameters(), critic.parameters()], [options.EffectiveActorLr, options.Lr], eps: AdamEpsilon);
        rewardScaler = new RewardScaler(options.NumEnvs, options.Gamma);
        runner = new PolicyRunner(actor, obsNorm);
        rollout = new RolloutBuffer(options.Horizon, options.NumEnvs, spec.ObsDim, spec.ActDim);
        actStep = new float[options.NumEnvs * spec.ActDim];
        envs = new VecEnv(options.EnvId, options.NumEnvs, options.Seed, options.EnvThreads);
        envs.Reset();
    }

    /// <summary>Adam's ε, CleanRL's 1e-5 for PPO.</summary>
    const double AdamEpsilon = 1e-5;

    public string Name => "ppo";
    public IReadOnlyList<string> TimeColumns => TimeColumnNames;
    public IReadOnlyList<string> MetricColumns => MetricColumnNames;
    public IReadOnlyList<string> ExtraColumns => shaper?.MetricNames ?? [];

    /// <summary>Sees every rollout before shaping (e.g. to keep a replay dataset); null by default.</summary>
    public Action<RolloutBatch>? Recorder { get; set; }

    List<TorchSharp.Modules.Parameter> Parameters() => actor.parameters().Concat(critic.parameters()).ToList();

    /// <summary>A fresh actor, or a copy of the warm-start actor with its log-std floored and its normaliser.</summary>
    (GaussianActor, RunningNorm) CreateActor()
    {
        var norm = new RunningNorm(spec.ObsDim);
        if (options.InitActor is null)
        {
            norm.Frozen = options.ObsNorm == "frozen";
            var initLogStd = Math.Min(0.0, options.LogStdMax ?? 0.0);
            return (new GaussianActor(spec.ObsDim, spec.ActDim, options.Hidden, initLogStd: initLogStd), norm);
        }
        using var init = ActorBundle.Load(options.InitActor, options.EnvId, spec.ObsDim, spec.ActDim);
        var copy = new GaussianActor(spec.ObsDim, spec.ActDim, init.Actor.Mean.Hidden, init.Actor.Mean.Act);
        using (no_grad())
        {
            var src = init.Actor.state_dict();
            foreach (var (k, v) in copy.state_dict()) v.copy_(src[k]);
            using Scalar floor = options.InitLogStdFloor;
            copy.LogStd.clamp_(min: floor);
            BoundLogStd(copy);
        }
        norm.Set(init.ObsNorm.Mean, init.ObsNorm.Var, init.ObsNorm.Count);
        norm.Frozen = (options.ObsNorm ?? "frozen") == "frozen";
        return (copy, norm);
    }

    /// <summary>
    /// Fit the critic to the Monte-Carlo returns of <see cref="PpoOptions.CriticPretrainData"/> before the first
    /// epoch (<see cref="CriticPretraining"/>), priming the reward scaler on the same data when ScaleRewards. Its
    /// own Adam and RNG stream: the online optimiser, RNG and environments start as without it. The result lives in
    /// the critic and the scaler, both in the checkpoint, so a resumed run does not call this again.
    /// </summary>
    public CriticPretrainResult PretrainCritic(Action<string> log, CancellationToken ct = default)
    {
        var path = options.CriticPretrainData
            ?? throw new InvalidOperationException("PretrainCritic needs CriticPretrainData");
        var clock = Stopwatch.StartNew();
        var t = CriticPretraining.LoadTransitions(path, spec);
        double? rewardStd = null;
        if (options.ScaleRewards)
        {
            rewardScaler.Stats.Update(CriticPretraining.DiscountedSums(t, options.Gamma), t.Count);
            rewardStd = rewardScaler.Std;
        }
        var scale = 1 / (rewardStd ?? 1.0);
        var targets = CriticPretraining.Targets(t, options.Gamma, scale);
        var obs = new float[t.Observations.Length];
        obsNorm.Normalize(t.Observations, obs, t.Count);
        log(string.Create(CultureInfo.InvariantCulture, $"critic pre-training on {t.Count} transitions of '{path}': "
            + $"targets = discounted returns × {scale:G4} (mean {targets.Average():G4}), "
            + $"{options.CriticPretrainSteps} steps of {options.CriticPretrainBatchSize}, lr {options.Lr:G3}"));
        var fitRng = new Rng((ulong)options.Seed * 0x9E3779B97F4A7C15UL + 3);
        var settings = new CriticPretraining.FitSettings(
            options.CriticPretrainSteps, options.CriticPretrainBatchSize, options.Lr, AdamEpsilon);
        var (before, after, ev) = CriticPretraining.Fit(critic, obs, targets, settings, fitRng, log, ct);
        var result = new CriticPretrainResult(t.Count, options.CriticPretrainSteps, rewardStd, scale,
            targets.Average(), before, after, double.IsFinite(ev) ? ev : null, clock.Elapsed.TotalSeconds);
        log(string.Create(CultureInfo.InvariantCulture, $"critic pre-trained: loss {before:G4} → {after:G4} over "
            + $"all rows, explained variance {ev:F3}, {result.Seconds:F0}s"));
        return result;
    }

    /// <summary>Projects the log-std back under <see cref="PpoOptions.LogStdMax"/> (no-op when unbounded).</summary>
    void BoundLogStd(GaussianActor a)
    {
        if (options.LogStdMax is not double max) return;
        using var _ = no_grad();
        using Scalar bound = max;
        a.LogStd.clamp_(max: bound);
    }

    public bool TrainEpoch(int epoch, long envStepsDone, IDictionary<string, double> row)
    {
        runner.Refresh(actor);
        var lr = Annealed(options.Lr, epoch);
        var actorLr = Annealed(options.EffectiveActorLr, epoch);
        var (envSec, actSec) = Collect();
        Recorder?.Invoke(rollout.Snapshot());

        var clock = Stopwatch.StartNew();
        var shaping = shaper?.Shape(rollout.ObsRaw, rollout.ActionsExecuted, rollout.Rewards, rollout.Count,
            envStepsDone, options.TotalSteps);
        var shapeSec = shaping is null ? 0 : clock.Elapsed.TotalSeconds;
        ComputeTargets();
        var stats = Update(actorLr, lr, actorFrozen: epoch < options.CriticWarmup, shaping);

        row["time/env_s"] = envSec;
        row["time/act_s"] = actSec;
        row["time/shape_s"] = shapeSec;
        row["time/update_s"] = clock.Elapsed.TotalSeconds - shapeSec;
        if (finishedReturns.Count > 0)
        {
            row["train/return_mean"] = finishedReturns.Average();
            row["train/length_mean"] = finishedLengths.Average();
        }
        row["train/episodes"] = finishedReturns.Count;
        stats?.WriteTo(row);
        row["charts/lr"] = lr;
        using (NewDisposeScope()) row["charts/std_mean"] = actor.LogStd.exp().mean().item<float>();
        if (shaping is not null) foreach (var (k, v) in shaping.Metrics) row[k] = v;
        return stats is not null;
    }

    /// <summary>A learning rate at <paramref name="epoch"/>: linearly annealed to 0 over the run when AnnealLr.
    /// </summary>
    double Annealed(double rate, int epoch) =>
        options.AnnealLr ? rate * (1.0 - (double)epoch / options.Epochs) : rate;

    /// <summary>Run Horizon steps on all envs with the current policy; store raw and normalised observations.</summary>
    (double EnvSec, double ActSec) Collect()
    {
        finishedReturns.Clear();
        finishedLengths.Clear();
        rollout.Truncations.Clear();
        int n = rollout.Envs, od = rollout.ObsDim, ad = rollout.ActDim;
        var envClock = new Stopwatch();
        var actClock = new Stopwatch();
        for (var t = 0; t < rollout.Horizon; t++)
        {
            var rows = t * n;
            actClock.Start();
            var obs = envs.Obs;
            obs.AsSpan().CopyTo(rollout.ObsRaw.AsSpan(rows * od, n * od));
            obsNorm.Update(obs, n);
            obsNorm.Normalize(obs, rollout.ObsNormalized.AsSpan(rows * od, n * od), n);
            runner.Act(obs, n, actStep, rng);
            actStep.AsSpan().CopyTo(rollout.ActionsRaw.AsSpan(rows * ad, n * ad));
            for (var j = 0; j < n * ad; j++) rollout.ActionsExecuted[rows * ad + j] = Math.Clamp(actStep[j], -1f, 1f);
            actClock.Stop();

            envClock.Start();
            envs.Step(actStep);
            envClock.Stop();
            for (var i = 0; i < n; i++) Record(rows + i, i);
        }
        return (envClock.Elapsed.TotalSeconds, actClock.Elapsed.TotalSeconds);
    }

    /// <summary>Store env <paramref name="i"/>'s outcome of the last step as sample <paramref name="k"/>.</summary>
    void Record(int k, int i)
    {
        var od = rollout.ObsDim;
        rollout.Rewards[k] = envs.Rewards[i];
        var terminated = envs.Terminated[i];
        var truncated = envs.Truncated[i];
        var ended = terminated || truncated;
        rollout.Ends[k] = ended;
        rollout.Terminated[k] = terminated;
        if (Recorder is not null)
        {
            // The row after step k: the final observation if the episode ended, else the env's new obs.
            (ended ? envs.FinalObs : envs.Obs).AsSpan(i * od, od).CopyTo(rollout.EnsureNextObs().AsSpan(k * od, od));
        }
        if (truncated && !terminated)
        {
            var fin = new float[od];
            obsNorm.Normalize(envs.FinalObs.AsSpan(i * od, od), fin, 1);
            rollout.Truncations.Add((k, fin));
        }
        if (ended)
        {
            finishedReturns.Add(envs.EpisodeReturn[i]);
            finishedLengths.Add(envs.EpisodeLength[i]);
        }
    }

    /// <summary>Old log-probs and values in one batched pass; bootstrap values; reward scaling; GAE.</summary>
    void ComputeTargets()
    {
        int n = rollout.Count, envCount = rollout.Envs, od = rollout.ObsDim;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var obsT = tensor(rollout.ObsNormalized, [n, od]);
        var (logProb, _) = actor.Evaluate(obsT, tensor(rollout.ActionsRaw, [n, rollout.ActDim]));
        logProb.data<float>().CopyTo(rollout.LogProbOld);
        critic.call(obsT).view(-1).data<float>().CopyTo(rollout.Values);

        // Value of the state after each step: next row's value, V(final obs) after a time limit, 0 after a fall.
        var lastObs = new float[envCount * od];
        obsNorm.Normalize(envs.Obs, lastObs, envCount);
        var lastV = critic.call(tensor(lastObs, [envCount, od])).view(-1).data<float>().ToArray();
        for (var k = 0; k < n; k++)
            rollout.NextValues[k] = rollout.Ends[k] ? 0
                : k + envCount < n ? rollout.Values[k + envCount] : lastV[k - (n - envCount)];
        var truncations = rollout.Truncations;
        if (truncations.Count > 0)
        {
            var fin = new float[truncations.Count * od];
            for (var j = 0; j < truncations.Count; j++) truncations[j].FinalObsNorm.CopyTo(fin, j * od);
            var vFin = critic.call(tensor(fin, [truncations.Count, od])).view(-1).data<float>().ToArray();
            for (var j = 0; j < truncations.Count; j++) rollout.NextValues[truncations[j].Index] = vFin[j];
        }

        if (options.ScaleRewards)
            for (var t = 0; t < rollout.Horizon; t++)
                rewardScaler.Scale(rollout.Rewards.AsSpan(t * envCount, envCount),
                    rollout.Ends.AsSpan(t * envCount, envCount));
        Gae.Compute(rollout.Horizon, envCount, rollout.Rewards, rollout.Values, rollout.NextValues, rollout.Ends,
            options.Gamma, options.GaeLambda, rollout.Advantages, rollout.Returns);
    }

    /// <summary>What one update reports (means over its minibatches).</summary>
    sealed record UpdateStats(
        double Policy, double Value, double Entropy, double ApproxKl, double ClipFrac, double ExplainedVariance)
    {
        public void WriteTo(IDictionary<string, double> row)
        {
            row["losses/policy"] = Policy;
            row["losses/value"] = Value;
            row["losses/entropy"] = Entropy;
            row["losses/approx_kl"] = ApproxKl;
            row["losses/clip_frac"] = ClipFrac;
            row["losses/explained_variance"] = ExplainedVariance;
        }
    }

    /// <summary>The rollout as tensors for the update, in one dispose scope owned by the caller.</summary>
    sealed record UpdateBatch(
        Tensor Obs, Tensor Actions, Tensor LogProbOld, Tensor Advantages, Tensor Returns, Tensor Values,
        Tensor? Penalty);

    /// <summary>Clipped-surrogate update, TrainIters passes; null when a loss or parameter became non-finite.</summary>
    UpdateStats? Update(double actorLr, double criticLr, bool actorFrozen, ShapingOutcome? shaping)
    {
        optimizer.SetGroupLearningRate(0, actorLr);
        optimizer.SetGroupLearningRate(1, criticLr);
        int n = rollout.Count, mb = options.MinibatchSize;
        var hasPenalty = shaping?.CriticPenalty is not null && shaping.CriticPenaltyCoef != 0;
        if (hasPenalty) shaping!.CriticPenalty!.AsSpan(0, n).CopyTo(rollout.CriticPenalty);
        var idx = new long[n];
        for (var i = 0; i < n; i++) idx[i] = i;
        var sums = new double[5]; // policy, value, entropy, approx-KL, clip fraction
        var batches = 0;
        var parameters = Parameters();

        using var all = NewDisposeScope();
        var batch = new UpdateBatch(
            tensor(rollout.ObsNormalized, [n, rollout.ObsDim]), tensor(rollout.ActionsRaw, [n, rollout.ActDim]),
            tensor(rollout.LogProbOld), tensor(rollout.Advantages), tensor(rollout.Returns), tensor(rollout.Values),
            hasPenalty ? tensor(rollout.CriticPenalty) : null);
        using var k = new PpoCoefficients(
            options.Clip, options.VfCoef, options.EntCoef, shaping?.CriticPenaltyCoef ?? 0.0);
        for (var it = 0; it < options.TrainIters; it++)
        {
            rng.Shuffle(idx);
            using var perm = tensor(idx);
            for (var start = 0; start + mb <= n; start += mb)
            {
                if (!Minibatch(batch, perm, start, actorFrozen, k, parameters, sums)) return null;
                batches++;
            }
            if (options.TargetKl is double target && batches > 0 && sums[3] / batches > target) break;
        }
        if (!GradientStep.AllFinite(parameters)) return null;
        var ev = PpoLosses.ExplainedVariance(rollout.Values, rollout.Returns);
        return new UpdateStats(
            sums[0] / batches, sums[1] / batches, sums[2] / batches, sums[3] / batches, sums[4] / batches, ev);
    }

    /// <summary>One gradient step on the minibatch at <paramref name="start"/> of the permutation; false when the
    /// loss is not finite.</summary>
    bool Minibatch(UpdateBatch b, Tensor perm, int start, bool actorFrozen, PpoCoefficients k,
        List<TorchSharp.Modules.Parameter> parameters, double[] sums)
    {
        using var scope = NewDisposeScope();
        var ix = perm.narrow(0, start, options.MinibatchSize);
        var obs = b.Obs.index_select(0, ix);
        var (logProb, entropy) = actor.Evaluate(obs, b.Actions.index_select(0, ix));
        var logRatio = logProb - b.LogProbOld.index_select(0, ix);
        var ratio = logRatio.exp();
        var adv = b.Advantages.index_select(0, ix);
        if (options.NormAdv) adv = PpoLosses.NormalizeAdvantages(adv, k);
        var policyLoss = PpoLosses.ClippedSurrogate(adv, ratio, k);
        var v = critic.call(obs).view(-1);
        var oldValues = options.ClipValue ? b.Values.index_select(0, ix) : null;
        var valueLoss = PpoLosses.ValueLoss(v, b.Returns.index_select(0, ix), oldValues, k);
        var entropyMean = entropy.mean();
        var penalty = b.Penalty is null ? null : b.Penalty.index_select(0, ix) * v;
        var loss = PpoLosses.Total(policyLoss, valueLoss, entropyMean, actorFrozen, k, penalty);

        if (!float.IsFinite(loss.item<float>())) return false;
        optimizer.ZeroGrad();
        loss.backward();
        AdamOptimizer.ClipGradNorm(parameters, options.MaxGradNorm);
        optimizer.Step();
        BoundLogStd(actor);

        using (no_grad())
        {
            sums[3] += PpoLosses.ApproxKl(ratio, logRatio, k).item<float>();
            sums[4] += PpoLosses.ClipFraction(ratio, k).item<float>();
        }
        sums[0] += policyLoss.item<float>();
        sums[1] += valueLoss.item<float>();
        sums[2] += entropyMean.item<float>();
        return true;
    }

    public IPolicy CreatePolicy() => new PolicyRunner(actor, obsNorm);

    public void WriteState(TrainingState state)
    {
        state.AddModule("actor.", actor);
        state.AddModule("critic.", critic);
        state.Add("obs_rms.mean", obsNorm.Mean);
        state.Add("obs_rms.var", obsNorm.Var);
        state.Add("obs_rms.count", [obsNorm.Count]);
        state.Add("ret_rms.mean", rewardScaler.Stats.Mean);
        state.Add("ret_rms.var", rewardScaler.Stats.Var);
        state.Add("ret_rms.count", [rewardScaler.Stats.Count]);
        state.Add("ret_acc", rewardScaler.Returns);
        state.Add("rng", rng.GetState());
        var (reals, ints) = envs.GetState();
        state.Add("envs.reals", reals);
        state.Add("envs.ints", ints);
        state.Add("shaper.state", shaper?.SaveState() ?? []);
        AdamState.Write(state, optimizer);
    }

    public void ReadState(TrainingState state, bool modelOnly)
    {
        state.CopyInto("actor.", actor);
        state.CopyInto("critic.", critic);
        AdamState.Read(state, optimizer);
        if (modelOnly) return;
        obsNorm.Set(state.Doubles("obs_rms.mean"), state.Doubles("obs_rms.var"), state.Doubles("obs_rms.count")[0]);
        rewardScaler.Stats.Set(
            state.Doubles("ret_rms.mean"), state.Doubles("ret_rms.var"), state.Doubles("ret_rms.count")[0]);
        state.Doubles("ret_acc").CopyTo(rewardScaler.Returns);
        rng.SetState(state.Words("rng"));
        envs.SetState(state.Doubles("envs.reals"), state.Longs("envs.ints"));
        if (shaper is not null && state.Contains("shaper.state")) shaper.LoadState(state.Doubles("shaper.state"));
    }

    public void SaveActor(string path, string runName, long envSteps)
    {
        var bundle = new ActorBundle(options.EnvId, actor, obsNorm, Name);
        bundle.Extra["run_name"] = runName;
        bundle.Extra["env_steps"] = envSteps;
        bundle.Save(path);
    }

    public string Describe(IReadOnlyDictionary<string, double> row)
    {
        string F(string key, string format) => RunHarness.Cell(row, key, format);
        return $"train {F("train/return_mean", "F1")}  kl {F("losses/approx_kl", "F4")}  "
            + $"ev {F("losses/explained_variance", "F2")}";
    }

    public void Dispose()
    {
        envs.Dispose();
        optimizer.Dispose();
        actor.Dispose();
        critic.Dispose();
    }
}
