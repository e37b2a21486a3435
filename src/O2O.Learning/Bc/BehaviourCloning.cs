using System.Diagnostics;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using O2O.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Bc;

/// <summary>Settings of behaviour cloning (the notebook's pretrain_bc settings plus a few).</summary>
public sealed record BcOptions
{
    public required string EnvId { get; init; }
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 1024;
    public double Lr { get; init; } = 1e-3;
    /// <summary>Hidden widths of the actor's mean network (tanh). PPO fine-tunes this same network.</summary>
    public int[] Hidden { get; init; } = [256, 256];
    public int Seed { get; init; } = 1;
    /// <summary>Fraction held out (by episode when the data has episode ends, else by row).</summary>
    public double Holdout { get; init; } = 0.05;
    /// <summary>Episodes of the final deterministic evaluation in the environment (0 skips it).</summary>
    public int EvalEpisodes { get; init; } = 10;
    /// <summary>
    /// Threads BC trains on (0: every core); from 2 on, each minibatch is split over them
    /// (<see cref="SplitBatchStep"/>). Results are reproducible for a given count but differ between counts in the
    /// last bits; the actor records the count in its metadata. The command line asks for every core; library callers
    /// get 1 unless they ask.
    /// </summary>
    public int TorchThreads { get; init; } = 1;

    public void Validate()
    {
        if (Epochs <= 0) throw new OptionError($"Epochs must be ≥ 1, got {Epochs}", nameof(Epochs));
        if (BatchSize <= 0) throw new OptionError($"BatchSize must be ≥ 1, got {BatchSize}", nameof(BatchSize));
        if (Lr <= 0) throw new OptionError($"Lr must be > 0, got {Lr}", nameof(Lr));
        if (Holdout is < 0 or >= 0.5)
            throw new OptionError($"Holdout must be in [0, 0.5), got {Holdout}", nameof(Holdout));
        if (TorchThreads < 0)
            throw new OptionError($"TorchThreads must be 0 (every core) or a positive count, got {TorchThreads}",
                nameof(TorchThreads));
        if (Hidden.Length == 0 || Hidden.Any(h => h <= 0))
            throw new OptionError("Hidden must list positive widths, e.g. 256,256", nameof(Hidden));
    }
}

/// <summary>One epoch of BC: mean negative log-likelihood on train and held-out rows.</summary>
public sealed record BcEpoch(int Epoch, double TrainNll, double HoldoutNll, double HoldoutMse, double Seconds);

/// <summary>The fitted actor, its learning curve, and (optionally) its return in the environment.</summary>
public sealed record BcResult(
    ActorBundle Actor,
    IReadOnlyList<BcEpoch> Curve,
    EvalResult? Eval,
    double SamplesPerSecond);

/// <summary>
/// Behaviour cloning by maximum likelihood of a diagonal Gaussian with state-independent log-std.
/// We fit the full Gaussian, not only the mean: the mean's optimum is the same as under MSE (the
/// variance only weights dimensions), and the fitted σ is the behaviour data's residual spread, a
/// sensible starting exploration noise for PPO (floored there). Observations are z-scored with the
/// dataset's statistics, which the actor carries.
/// </summary>
public static class BehaviourCloning
{
    // BC's shuffling stream is seeded with Seed · 31 + 7: a fixed mix; changing it changes every BC result.
    const ulong ShuffleSeedMultiplier = 31;
    const ulong ShuffleSeedOffset = 7;
    /// <summary>The final evaluation's episodes start from seed 10 000 + Seed (a fixed offset).</summary>
    const int EvalSeedOffset = 10_000;
    /// <summary>Variance floor of the observation normaliser: std ≥ 1e-3, so constant columns stay finite.</summary>
    const double MinObsVariance = 1e-6;
    /// <summary>With fewer episodes than this the holdout is drawn by row, not by episode.</summary>
    const int MinEpisodesForEpisodeHoldout = 10;

    public static BcResult Train(BcOptions o, OfflineDataset data, Action<string>? log = null)
    {
        o.Validate();
        log ??= _ => { };
        var spec = EnvRegistry.Get(o.EnvId);
        if (data.ObsDim != spec.ObsDim)
            throw new UserError($"dataset observations have {data.ObsDim} dims but {o.EnvId} has {spec.ObsDim}; " +
                $"use a dataset of {o.EnvId}");
        if (data.ActDim != spec.ActDim)
            throw new UserError(
                $"dataset actions have {data.ActDim} dims but {o.EnvId} has {spec.ActDim}; use a dataset of {o.EnvId}");
        var threads = TorchRuntime.ResolveThreads(o.TorchThreads);
        TorchRuntime.Configure(o.Seed, threads);
        var rng = new Rng((ulong)o.Seed * ShuffleSeedMultiplier + ShuffleSeedOffset);
        var (train, hold) = Split(data, o.Holdout, rng);
        if (train.Length < o.BatchSize)
            throw new OptionError($"only {train.Length} training rows for BatchSize {o.BatchSize}; " +
                $"lower BatchSize or use more data", nameof(BcOptions.BatchSize));

        var norm = DatasetNorm(data);
        var od = data.ObsDim;
        var ad = data.ActDim;
        var obsN = new float[data.Count * od];
        norm.Normalize(data.Observations, obsN, data.Count);
        var actor = new GaussianActor(od, ad, o.Hidden);
        using var opt = new AdamOptimizer(actor.parameters(), o.Lr);
        using var obsAll = tensor(obsN, [data.Count, od]);
        using var actAll = tensor(data.Actions, [data.Count, ad]);
        using var holdIx = tensor(hold.Select(i => (long)i).ToArray());
        var curve = new List<BcEpoch>();
        var clock = Stopwatch.StartNew();
        long samples = 0;
        var order = new long[train.Length];
        var batchesPerEpoch = train.Length / o.BatchSize;
        var progress = new PhaseProgress(log, "bc", (double)o.Epochs * batchesPerEpoch, "batches");
        using var split = threads >= 2 ? new SplitBatchStep(actor, threads) : null;
        for (var e = 1; e <= o.Epochs; e++)
        {
            var t0 = clock.Elapsed.TotalSeconds;
            rng.Shuffle(train);
            double sum = 0;
            var batches = 0;
            // The epoch's rows gathered once in shuffled order; each minibatch is a slice of them (a view: no
            // per-batch index tensor or copy). The same rows in the same order as indexing batch by batch.
            for (var i = 0; i < train.Length; i++) order[i] = train[i];
            using (var epochScope = NewDisposeScope())
            {
                using var ix = tensor(order);
                var obsEpoch = obsAll.index_select(0, ix);
                var actEpoch = actAll.index_select(0, ix);
                for (var s = 0; s + o.BatchSize <= train.Length; s += o.BatchSize)
                {
                    using var scope = NewDisposeScope();
                    var obsBatch = obsEpoch.narrow(0, s, o.BatchSize);
                    var actBatch = actEpoch.narrow(0, s, o.BatchSize);
                    if (split is not null) sum += split.Step(obsBatch, actBatch, opt);
                    else
                    {
                        var (lp, _) = actor.Evaluate(obsBatch, actBatch);
                        var loss = -lp.mean();
                        opt.ZeroGrad();
                        loss.backward();
                        opt.Step();
                        sum += loss.item<float>();
                    }
                    batches++;
                    samples += o.BatchSize;
                    progress.Report((e - 1) * batchesPerEpoch + batches, $"epoch {e}/{o.Epochs}");
                }
            }
            double hNll = double.NaN, hMse = double.NaN;
            if (hold.Length > 0)
                using (var scope = NewDisposeScope())
                using (no_grad())
                {
                    var obs = obsAll.index_select(0, holdIx);
                    var act = actAll.index_select(0, holdIx);
                    var (lp, _) = actor.Evaluate(obs, act);
                    hNll = -lp.mean().item<float>();
                    var err = actor.call(obs) - act;
                    hMse = (err * err).mean().item<float>();
                }
            var ep = new BcEpoch(e, sum / batches, hNll, hMse, clock.Elapsed.TotalSeconds - t0);
            curve.Add(ep);
            log($"bc epoch {e}/{o.Epochs}  train nll {ep.TrainNll:F4}  holdout nll {ep.HoldoutNll:F4}  holdout mse " +
                $"{ep.HoldoutMse:F4}  ({ep.Seconds:F1}s)");
        }
        var sps = samples / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        var bundle = new ActorBundle(o.EnvId, actor, norm, "bc");
        bundle.Extra["epochs"] = o.Epochs;
        bundle.Extra["torch_threads"] = threads;
        bundle.Extra["holdout_nll"] = curve[^1].HoldoutNll is var h && double.IsFinite(h) ? h : null;
        EvalResult? eval = null;
        if (o.EvalEpisodes > 0)
        {
            eval = Evaluation.Run(o.EnvId, () => new PolicyRunner(bundle), o.EvalEpisodes,
                seed: EvalSeedOffset + o.Seed, deterministic: true);
            bundle.Extra["eval_return_mean"] = eval.Mean;
        }
        return new BcResult(bundle, curve, eval, sps);
    }

    /// <summary>Observation normaliser from the dataset's mean and std (std floored at 1e-3), frozen.</summary>
    public static RunningNorm DatasetNorm(OfflineDataset data)
    {
        var od = data.ObsDim;
        var mean = new double[od];
        var var = new double[od];
        for (var r = 0; r < data.Count; r++)
            for (var j = 0; j < od; j++) mean[j] += data.Observations[r * od + j];
        for (var j = 0; j < od; j++) mean[j] /= data.Count;
        for (var r = 0; r < data.Count; r++)
            for (var j = 0; j < od; j++) { var d = data.Observations[r * od + j] - mean[j]; var[j] += d * d; }
        for (var j = 0; j < od; j++) var[j] = Math.Max(var[j] / data.Count, MinObsVariance);
        var norm = new RunningNorm(od, epsilon: 0) { Frozen = true };
        norm.Set(mean, var, data.Count);
        return norm;
    }

    /// <summary>Held-out rows: whole episodes when the data marks them, else random rows.</summary>
    static (int[] Train, int[] Hold) Split(OfflineDataset data, double frac, Rng rng)
    {
        if (frac <= 0) return (Enumerable.Range(0, data.Count).ToArray(), []);
        var starts = data.EpisodeStarts();
        var hold = new List<int>();
        var train = new List<int>();
        if (starts.Length >= MinEpisodesForEpisodeHoldout)
        {
            var order = Enumerable.Range(0, starts.Length).ToArray();
            rng.Shuffle(order);
            var nHold = Math.Max(1, (int)Math.Round(starts.Length * frac));
            var held = order.Take(nHold).ToHashSet();
            for (var e = 0; e < starts.Length; e++)
            {
                var end = e + 1 < starts.Length ? starts[e + 1] : data.Count;
                (held.Contains(e) ? hold : train).AddRange(Enumerable.Range(starts[e], end - starts[e]));
            }
        }
        else
        {
            var rows = Enumerable.Range(0, data.Count).ToArray();
            rng.Shuffle(rows);
            var nHold = (int)Math.Round(data.Count * frac);
            hold.AddRange(rows.Take(nHold));
            train.AddRange(rows.Skip(nHold));
        }
        return (train.ToArray(), hold.ToArray());
    }
}

/// <summary>
/// A BC step on several threads: the minibatch is cut into one contiguous slice per thread, each thread computes its
/// slice's share of the loss, −Σ log p / batch, and its gradient (every operation on that thread,
/// <see cref="FixedThreads"/>), and the gradients are added in slice order: the minibatch's gradient, the same for a
/// given thread count on every run (it differs from one thread's in the last bits: sums run in another order).
/// </summary>
internal sealed class SplitBatchStep : IDisposable
{
    readonly GaussianActor actor;
    readonly TorchSharp.Modules.Parameter[] parameters;
    readonly FixedThreads threads;
    readonly Tensor[][] grads;   // per thread, per parameter: the slice's gradient (allocated once, here)
    readonly float[] losses;
    readonly int previousThreads;

    public SplitBatchStep(GaussianActor actor, int count)
    {
        this.actor = actor;
        parameters = [.. actor.parameters()];
        previousThreads = get_num_threads();
        set_num_threads(1);
        threads = new FixedThreads(count, intraOp: 1);
        losses = new float[count];
        using var _ = no_grad();
        foreach (var p in parameters)
        {
            using var grad = p.grad;
            if (grad is not null) continue;
            using var zero = zeros_like(p);
            p.grad = zero;  // the parameter keeps its own reference
        }
        grads = [.. Enumerable.Range(0, count)
            .Select(_ => parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray())];
    }

    /// <summary>One Adam step on the minibatch; returns its loss (the mean negative log-likelihood).</summary>
    public double Step(Tensor obs, Tensor act, AdamOptimizer optimizer)
    {
        var rows = obs.shape[0];
        var n = threads.Count;
        using Scalar batch = rows;
        threads.Run(k =>
        {
            long from = rows * k / n, to = rows * (k + 1) / n;
            using var scope = NewDisposeScope();
            var (lp, _) = actor.Evaluate(obs.narrow(0, from, to - from), act.narrow(0, from, to - from));
            var loss = lp.sum().div(batch).neg();
            losses[k] = loss.item<float>();
            var g = torch.autograd.grad([loss], parameters, null, false, false, false);
            using (no_grad())
                for (var j = 0; j < parameters.Length; j++) grads[k][j].copy_(g[j]);
        });
        using (no_grad())
            for (var j = 0; j < parameters.Length; j++)
            {
                using var total = parameters[j].grad!;
                total.zero_();
                for (var k = 0; k < n; k++) total.PlusInPlace(grads[k][j]);
            }
        optimizer.Step();
        double sum = 0;
        foreach (var l in losses) sum += l;
        return sum;
    }

    public void Dispose()
    {
        threads.Dispose();
        foreach (var g in grads.SelectMany(g => g)) g.Dispose();
        set_num_threads(previousThreads);
    }
}
