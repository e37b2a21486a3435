using System.Diagnostics;
using O2O.Core;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Sim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.Ppo;

/// <summary>
/// One rollout as the environment produced it (raw observations, executed actions, raw rewards), time-major
/// [Steps × Envs]; NextObs row k is the observation after step k (the final one when the episode ended).
/// </summary>
public sealed record RolloutBatch(int Steps, int Envs, int ObsDim, int ActDim, float[] Obs, float[] NextObs, float[] Actions, float[] Rewards, bool[] Terminated, bool[] Truncated);

/// <summary>What a stop condition sees after each epoch.</summary>
public sealed record EpochReport(int Epoch, long EnvSteps, double? EvalMean);

/// <summary>Summary of a finished (or resumed and finished) PPO run.</summary>
public sealed record PpoResult(int Epochs, long EnvSteps, double WallSeconds, double LastEvalMean, double BestEvalMean, string CsvPath, string FinalActorPath);

/// <summary>
/// Proximal policy optimisation (Schulman et al. 2017) for continuous control, in one place:
/// rollout collection on a <see cref="VecEnv"/>, value bootstrapping across time limits, GAE,
/// and the clipped-surrogate update. An optional <see cref="IRolloutShaper"/> changes rewards
/// between rollout and update (the DSR's pessimism and bonus) without touching the update.
/// </summary>
public sealed class PpoTrainer : IDisposable
{
    // The CSV's columns, in order. Shaper metrics follow.
    public static readonly string[] BaseColumns =
    [
        "epoch", "env_steps", "wall_s", "time/fps", "time/env_s", "time/act_s", "time/shape_s", "time/update_s", "time/eval_s",
        "eval/return_mean", "eval/return_std", "eval/normalized", "eval/length_mean",
        "train/return_mean", "train/length_mean", "train/episodes",
        "losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clip_frac", "losses/explained_variance",
        "charts/lr", "charts/std_mean", "charts/nonfinite_restores",
    ];

    readonly PpoOptions o;
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
    readonly Action<string> log;

    // Rollout buffers, time-major [T × N]; allocated once.
    readonly int T, N, od, ad;
    readonly float[] obsRaw, obsN, actRaw, actExec, rewards, values, nextValues, advantages, returns, logpOld;
    readonly bool[] ends, terminated;
    float[]? nextObsRaw;
    readonly float[] critPenalty;
    readonly List<(int Index, float[] FinalObsNorm)> truncations = new();
    readonly float[] actStep;

    int epoch;
    long envSteps;
    int nonfiniteRestores;
    readonly List<double> finishedReturns = new(), finishedLengths = new();

    public PpoTrainer(PpoOptions options, IRolloutShaper? shaper = null, Action<string>? log = null)
    {
        options.Validate();
        o = options;
        this.shaper = shaper;
        this.log = log ?? (_ => { });
        spec = EnvRegistry.Get(o.EnvId);
        TorchRuntime.Configure(o.Seed, o.TorchThreads);
        rng = new Rng((ulong)o.Seed * 0x9E3779B97F4A7C15UL + 1);

        ActorBundle? init = o.InitActor is null ? null : ActorBundle.Load(o.InitActor, o.EnvId, spec.ObsDim, spec.ActDim);
        try
        {
            actor = init is null ? new GaussianActor(spec.ObsDim, spec.ActDim, o.Hidden) : CopyActor(init);
            obsNorm = new RunningNorm(spec.ObsDim);
            if (init is not null) obsNorm.Set(init.ObsNorm.Mean, init.ObsNorm.Var, init.ObsNorm.Count);
            obsNorm.Frozen = (o.ObsNorm ?? (init is null ? "running" : "frozen")) == "frozen";
        }
        finally { init?.Dispose(); }
        critic = new Mlp("critic", spec.ObsDim, o.Hidden, 1, Activation.Tanh, outputGain: 1.0);
        var parameters = actor.parameters().Concat(critic.parameters()).ToList();
        optimizer = new AdamOptimizer(parameters, o.Lr, eps: 1e-5);
        rewardScaler = new RewardScaler(o.NumEnvs, o.Gamma);
        runner = new PolicyRunner(actor, obsNorm);

        N = o.NumEnvs; T = o.Horizon; od = spec.ObsDim; ad = spec.ActDim;
        var n = T * N;
        obsRaw = new float[n * od]; obsN = new float[n * od];
        actRaw = new float[n * ad]; actExec = new float[n * ad];
        rewards = new float[n]; values = new float[n]; nextValues = new float[n];
        advantages = new float[n]; returns = new float[n]; logpOld = new float[n];
        ends = new bool[n]; terminated = new bool[n]; critPenalty = new float[n];
        actStep = new float[N * ad];
        envs = new VecEnv(o.EnvId, N, o.Seed, o.EnvThreads);
        envs.Reset();
    }

    /// <summary>Sees every rollout before shaping (e.g. to keep a replay dataset); null by default.</summary>
    public Action<RolloutBatch>? Recorder { get; set; }

    GaussianActor CopyActor(ActorBundle b)
    {
        var a = new GaussianActor(spec.ObsDim, spec.ActDim, b.Actor.Mean.Hidden, b.Actor.Mean.Act);
        using (no_grad())
        {
            var src = b.Actor.state_dict();
            foreach (var (k, v) in a.state_dict()) v.copy_(src[k]);
            using Scalar floor = o.InitLogStdFloor;
            a.LogStd.clamp_(min: floor);
        }
        return a;
    }

    /// <summary>
    /// Train to the budget; with <paramref name="resume"/> continue from the last checkpoint.
    /// <paramref name="stopWhen"/> may end the run early after any epoch (e.g. once a target score is reached).
    /// </summary>
    public PpoResult Run(bool resume = false, CancellationToken ct = default, Func<EpochReport, bool>? stopWhen = null)
    {
        var columns = BaseColumns.Concat(shaper?.MetricNames ?? []).ToArray();
        var ckpt = new PpoCheckpoint(o.CheckpointPath);
        CsvLog csv;
        double wallOffset = 0, best = double.NegativeInfinity, lastEval = double.NaN;
        if (resume)
        {
            var state = ckpt.Load(o, actor, critic, optimizer, obsNorm, rewardScaler, rng, envs, shaper)
                ?? throw new UserError($"--resume: no checkpoint at '{o.CheckpointPath}'; start without --resume");
            (epoch, envSteps, wallOffset, best, lastEval, nonfiniteRestores) = state;
            runner.Refresh(actor);
            csv = CsvLog.Resume(o.Csv, columns, epoch);
            log($"resumed {o.RunName} at epoch {epoch}/{o.Epochs} ({envSteps} env steps)");
        }
        else
        {
            AtomicFile.EnsureWritableFolder(o.Csv, "log folder");
            AtomicFile.EnsureWritableFolder(o.CheckpointPath + "/x", "checkpoint folder");
            csv = CsvLog.Create(o.Csv, columns);
            AtomicFile.WriteText(Path.ChangeExtension(o.Csv, ".json"), System.Text.Json.JsonSerializer.Serialize(o, JsonOpts));
            ckpt.Save(o, actor, critic, optimizer, obsNorm, rewardScaler, rng, envs, shaper, (epoch, envSteps, 0, best, lastEval, nonfiniteRestores));
        }
        var tb = o.TensorboardDir is null ? null : torch.utils.tensorboard.SummaryWriter(o.TensorboardDir);
        var wall = Stopwatch.StartNew();
        var evalEveryEpochs = (int)Math.Max(1, (o.EvalEvery + o.StepsPerEpoch - 1) / o.StepsPerEpoch);
        var recentNonfinite = new Queue<int>();
        using (csv)
        {
            while (epoch < o.Epochs)
            {
                ct.ThrowIfCancellationRequested();
                var row = new Dictionary<string, double>();
                var lr = o.AnnealLr ? o.Lr * (1.0 - (double)epoch / o.Epochs) : o.Lr;
                finishedReturns.Clear(); finishedLengths.Clear();

                var (envSec, actSec) = Collect();
                if (Recorder is not null) Recorder(Snapshot());
                var tUpdate = Stopwatch.StartNew();
                ShapingOutcome? shaping = null;
                UpdateStats? stats;
                var shapeSec = 0.0;
                try
                {
                    if (shaper is not null)
                    {
                        shaping = shaper.Shape(obsRaw, actExec, rewards, T * N, envSteps, o.TotalSteps);
                        shapeSec = tUpdate.Elapsed.TotalSeconds;
                    }
                    ComputeTargets();
                    stats = Update(lr, actorFrozen: epoch < o.CriticWarmup, shaping);
                }
                catch (System.Runtime.InteropServices.ExternalException e)
                {
                    // A native libtorch error mid-update (e.g. a scalar freed under it by TorchSharp's
                    // finalizer) leaves the weights in an unknown state: handle it like a non-finite update.
                    log($"epoch {epoch + 1}: libtorch error during the update ({e.Message.Split('.')[0]}); restoring the last good checkpoint");
                    stats = null;
                }
                tUpdate.Stop();
                envSteps += o.StepsPerEpoch;
                epoch++;

                if (stats is null)
                {
                    // Non-finite loss or weights: go back to the last good state and move on with new data.
                    nonfiniteRestores++;
                    recentNonfinite.Enqueue(epoch);
                    while (recentNonfinite.Peek() < epoch - 5) recentNonfinite.Dequeue();
                    ckpt.LoadModelOnly(actor, critic, optimizer);
                    log($"epoch {epoch}: non-finite loss, parameters or a libtorch error; restored the last good checkpoint");
                    if (recentNonfinite.Count >= 3)
                        throw new UserError($"training diverged: non-finite values in 3 of the last 5 epochs (last at epoch {epoch}); lower --lr or check the reward shaping");
                    stats = new UpdateStats(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
                }
                runner.Refresh(actor);

                double evalSec = 0;
                if (o.EvalEpisodes > 0 && (epoch % evalEveryEpochs == 0 || epoch == o.Epochs))
                {
                    var te = Stopwatch.StartNew();
                    var ev = Evaluate(epoch);
                    evalSec = te.Elapsed.TotalSeconds;
                    lastEval = ev.Mean;
                    best = Math.Max(best, ev.Mean);
                    row["eval/return_mean"] = ev.Mean;
                    row["eval/return_std"] = ev.Std;
                    row["eval/length_mean"] = ev.MeanLength;
                    if (O2O.Data.D4rlScores.TryGetReference(o.EnvId, out _, out _)) row["eval/normalized"] = O2O.Data.D4rlScores.Normalize(o.EnvId, ev.Mean);
                }
                var trainSec = envSec + actSec + tUpdate.Elapsed.TotalSeconds; // the update's clock includes shaping
                row["epoch"] = epoch;
                row["env_steps"] = envSteps;
                row["wall_s"] = wallOffset + wall.Elapsed.TotalSeconds;
                row["time/fps"] = o.StepsPerEpoch / trainSec;
                row["time/env_s"] = envSec;
                row["time/act_s"] = actSec;
                row["time/shape_s"] = shapeSec;
                row["time/update_s"] = tUpdate.Elapsed.TotalSeconds - shapeSec;
                row["time/eval_s"] = evalSec;
                if (finishedReturns.Count > 0)
                {
                    row["train/return_mean"] = finishedReturns.Average();
                    row["train/length_mean"] = finishedLengths.Average();
                }
                row["train/episodes"] = finishedReturns.Count;
                row["losses/policy"] = stats.PolicyLoss;
                row["losses/value"] = stats.ValueLoss;
                row["losses/entropy"] = stats.Entropy;
                row["losses/approx_kl"] = stats.ApproxKl;
                row["losses/clip_frac"] = stats.ClipFrac;
                row["losses/explained_variance"] = stats.ExplainedVariance;
                row["charts/lr"] = lr;
                using (NewDisposeScope()) row["charts/std_mean"] = actor.LogStd.exp().mean().item<float>();
                row["charts/nonfinite_restores"] = nonfiniteRestores;
                if (shaping is not null) foreach (var (k, v) in shaping.Metrics) row[k] = v;

                csv.Write(row);
                if (tb is not null) foreach (var (k, v) in row) if (k is not "epoch" and not "env_steps" && double.IsFinite(v)) tb.add_scalar(k, (float)v, (int)envSteps);
                ckpt.Save(o, actor, critic, optimizer, obsNorm, rewardScaler, rng, envs, shaper, (epoch, envSteps, wallOffset + wall.Elapsed.TotalSeconds, best, lastEval, nonfiniteRestores));
                if (o.Verbose) log(ProgressLine(row));
                if (stopWhen is not null && stopWhen(new EpochReport(epoch, envSteps, row.TryGetValue("eval/return_mean", out var em) ? em : null))) break;
            }
        }
        var final = new ActorBundle(o.EnvId, actor, obsNorm, "ppo");
        final.Extra["run_name"] = o.RunName;
        final.Extra["env_steps"] = envSteps;
        final.Save(o.FinalActorPath);
        return new PpoResult(epoch, envSteps, wallOffset + wall.Elapsed.TotalSeconds, lastEval, best, o.Csv, o.FinalActorPath);
    }

    string ProgressLine(IReadOnlyDictionary<string, double> r)
    {
        string F(string k, string fmt = "F1") => r.TryGetValue(k, out var v) && double.IsFinite(v) ? v.ToString(fmt, System.Globalization.CultureInfo.InvariantCulture) : "-";
        return $"epoch {epoch}/{o.Epochs}  steps {envSteps}  fps {F("time/fps", "F0")}  eval {F("eval/return_mean")} ± {F("eval/return_std")} (norm {F("eval/normalized")})  train {F("train/return_mean")}  kl {F("losses/approx_kl", "F4")}  ev {F("losses/explained_variance", "F2")}";
    }

    /// <summary>Run T steps on all N envs with the current policy; store raw and normalised observations.</summary>
    (double EnvSec, double ActSec) Collect()
    {
        truncations.Clear();
        var envClock = new Stopwatch();
        var actClock = new Stopwatch();
        for (var t = 0; t < T; t++)
        {
            actClock.Start();
            var obs = envs.Obs;
            var rows = t * N;
            obs.AsSpan().CopyTo(obsRaw.AsSpan(rows * od, N * od));
            obsNorm.Update(obs, N);
            obsNorm.Normalize(obs, obsN.AsSpan(rows * od, N * od), N);
            runner.Act(obs, N, actStep, rng);
            actStep.AsSpan().CopyTo(actRaw.AsSpan(rows * ad, N * ad));
            for (var j = 0; j < N * ad; j++) actExec[rows * ad + j] = Math.Clamp(actStep[j], -1f, 1f);
            actClock.Stop();

            envClock.Start();
            envs.Step(actStep);
            envClock.Stop();

            for (var i = 0; i < N; i++)
            {
                var k = rows + i;
                rewards[k] = envs.Rewards[i];
                var term = envs.Terminated[i];
                var trunc = envs.Truncated[i];
                ends[k] = term || trunc;
                terminated[k] = term;
                if (Recorder is not null)
                {
                    nextObsRaw ??= new float[obsRaw.Length];
                    // The row after step k: the final observation if the episode ended, else the env's new obs.
                    (ends[k] ? envs.FinalObs : envs.Obs).AsSpan(i * od, od).CopyTo(nextObsRaw.AsSpan(k * od, od));
                }
                if (trunc && !term)
                {
                    var fin = new float[od];
                    obsNorm.Normalize(envs.FinalObs.AsSpan(i * od, od), fin, 1);
                    truncations.Add((k, fin));
                }
                if (ends[k])
                {
                    finishedReturns.Add(envs.EpisodeReturn[i]);
                    finishedLengths.Add(envs.EpisodeLength[i]);
                }
            }
        }
        return (envClock.Elapsed.TotalSeconds, actClock.Elapsed.TotalSeconds);
    }

    RolloutBatch Snapshot()
    {
        var truncated = new bool[ends.Length];
        for (var k = 0; k < ends.Length; k++) truncated[k] = ends[k] && !terminated[k];
        return new RolloutBatch(T, N, od, ad, (float[])obsRaw.Clone(), (float[])nextObsRaw!.Clone(), (float[])actExec.Clone(),
            (float[])rewards.Clone(), (bool[])terminated.Clone(), truncated);
    }

    /// <summary>Old log-probs and values in one batched pass; bootstrap values; reward scaling; GAE.</summary>
    void ComputeTargets()
    {
        var n = T * N;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var obsT = tensor(obsN, [n, od]);
        var actT = tensor(actRaw, [n, ad]);
        var (lp, _) = actor.Evaluate(obsT, actT);
        lp.data<float>().CopyTo(logpOld);
        critic.call(obsT).view(-1).data<float>().CopyTo(values);

        // Value of the state after each step: next row's value, V(final obs) after a time limit, 0 after a fall.
        var lastObs = new float[N * od];
        obsNorm.Normalize(envs.Obs, lastObs, N);
        var lastV = critic.call(tensor(lastObs, [N, od])).view(-1).data<float>().ToArray();
        for (var k = 0; k < n; k++) nextValues[k] = k + N < n ? values[k + N] : lastV[k - (n - N)];
        for (var k = 0; k < n; k++) if (ends[k]) nextValues[k] = 0;
        if (truncations.Count > 0)
        {
            var fin = new float[truncations.Count * od];
            for (var j = 0; j < truncations.Count; j++) truncations[j].FinalObsNorm.CopyTo(fin, j * od);
            var vFin = critic.call(tensor(fin, [truncations.Count, od])).view(-1).data<float>().ToArray();
            for (var j = 0; j < truncations.Count; j++) nextValues[truncations[j].Index] = vFin[j];
        }

        if (o.ScaleRewards)
            for (var t = 0; t < T; t++) rewardScaler.Scale(rewards.AsSpan(t * N, N), ends.AsSpan(t * N, N));
        Gae.Compute(T, N, rewards, values, nextValues, ends, o.Gamma, o.GaeLambda, advantages, returns);
    }

    sealed record UpdateStats(double PolicyLoss, double ValueLoss, double Entropy, double ApproxKl, double ClipFrac, double ExplainedVariance);

    /// <summary>Clipped-surrogate PPO update; null when a loss or parameter became non-finite.</summary>
    UpdateStats? Update(double lr, bool actorFrozen, ShapingOutcome? shaping)
    {
        optimizer.LearningRate = lr;
        var n = T * N;
        var hasPenalty = shaping?.CriticPenalty is not null && shaping.CriticPenaltyCoef != 0;
        if (hasPenalty) shaping!.CriticPenalty!.AsSpan(0, n).CopyTo(critPenalty);
        var idx = new long[n];
        for (var i = 0; i < n; i++) idx[i] = i;
        double pl = 0, vl = 0, ent = 0, kl = 0, cf = 0;
        var batches = 0;
        var parameters = actor.parameters().Concat(critic.parameters()).ToList();

        using var all = NewDisposeScope();
        var obsT = tensor(obsN, [n, od]);
        var actT = tensor(actRaw, [n, ad]);
        var lpT = tensor(logpOld);
        var advT = tensor(advantages);
        var retT = tensor(returns);
        var valT = tensor(values);
        var penT = tensor(critPenalty);
        // Explicit scalars, alive until the end of the update: TorchSharp's implicit double → Scalar
        // conversions are freed by the finalizer, which can run while libtorch still reads them.
        using Scalar one = 1.0, half = 0.5, eps = 1e-8, clipLo = 1 - o.Clip, clipHi = 1 + o.Clip, negClip = -o.Clip, posClip = o.Clip,
            vfCoef = o.VfCoef, entCoef = o.EntCoef, penCoef = shaping?.CriticPenaltyCoef ?? 0.0;
        var stop = false;
        for (var it = 0; it < o.TrainIters && !stop; it++)
        {
            rng.Shuffle(idx);
            using var perm = tensor(idx);
            for (var start = 0; start + o.MinibatchSize <= n; start += o.MinibatchSize)
            {
                using var mb = NewDisposeScope();
                var ix = perm.narrow(0, start, o.MinibatchSize);
                var obs = obsT.index_select(0, ix);
                var (lp, entropy) = actor.Evaluate(obs, actT.index_select(0, ix));
                var logRatio = lp - lpT.index_select(0, ix);
                var ratio = logRatio.exp();
                var adv = advT.index_select(0, ix);
                if (o.NormAdv) adv = (adv - adv.mean()) / adv.std().add(eps, one);
                var pg = max(-adv * ratio, -adv * ratio.clamp(clipLo, clipHi)).mean();

                var v = critic.call(obs).view(-1);
                var ret = retT.index_select(0, ix);
                Tensor vLoss;
                if (o.ClipValue)
                {
                    var vOld = valT.index_select(0, ix);
                    var vClipped = vOld.add((v - vOld).clamp(negClip, posClip), one);
                    var e1 = v - ret;
                    var e2 = vClipped - ret;
                    vLoss = max(e1 * e1, e2 * e2).mean().mul(half);
                }
                else
                {
                    var e1 = v - ret;
                    vLoss = (e1 * e1).mean().mul(half);
                }
                var entMean = entropy.mean();
                var loss = actorFrozen ? vLoss.mul(vfCoef) : (pg - entMean.mul(entCoef)).add(vLoss.mul(vfCoef), one);
                if (hasPenalty) loss = loss.add((penT.index_select(0, ix) * v).mean().mul(penCoef), one);

                var lossValue = loss.item<float>();
                if (!float.IsFinite(lossValue)) return null;
                optimizer.ZeroGrad();
                loss.backward();
                AdamOptimizer.ClipGradNorm(parameters, o.MaxGradNorm);
                optimizer.Step();

                using (no_grad())
                {
                    kl += (ratio.sub(one) - logRatio).mean().item<float>();
                    cf += ratio.sub(one).abs().gt(posClip).to_type(ScalarType.Float32).mean().item<float>();
                }
                pl += pg.item<float>(); vl += vLoss.item<float>(); ent += entMean.item<float>();
                batches++;
            }
            if (o.TargetKl is double target && batches > 0 && kl / batches > target) stop = true;
        }
        foreach (var p in parameters)
            using (var bad = p.isfinite().logical_not().any())
                if (bad.item<bool>()) return null;
        var ev = ExplainedVariance(values, returns);
        return new UpdateStats(pl / batches, vl / batches, ent / batches, kl / batches, cf / batches, ev);
    }

    internal static double ExplainedVariance(ReadOnlySpan<float> pred, ReadOnlySpan<float> target)
    {
        double my = 0, md = 0;
        for (var i = 0; i < target.Length; i++) { my += target[i]; md += target[i] - pred[i]; }
        my /= target.Length; md /= target.Length;
        double vy = 0, vd = 0;
        for (var i = 0; i < target.Length; i++)
        {
            vy += (target[i] - my) * (target[i] - my);
            var d = target[i] - pred[i] - md;
            vd += d * d;
        }
        return vy == 0 ? double.NaN : 1 - vd / vy;
    }

    EvalResult Evaluate(int atEpoch) =>
        Evaluation.Run(o.EnvId, () => new PolicyRunner(actor, obsNorm), o.EvalEpisodes, seed: 1_000_003 * (o.Seed + 1) + atEpoch * 101, deterministic: true, threads: o.EnvThreads);

    static readonly System.Text.Json.JsonSerializerOptions JsonOpts = new() { WriteIndented = true };

    public void Dispose()
    {
        envs.Dispose();
        optimizer.Dispose();
        actor.Dispose();
        critic.Dispose();
    }
}
