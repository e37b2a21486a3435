using System.Diagnostics;
using System.Globalization;
using O2O.Core;
using TorchSharp;
using O2O.Learning.Nn;
using static O2O.Learning.Nn.TensorOps;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>An extra dataset of (s, a) pairs, e.g. the random-policy data of the same env, for the OOD AUROC.</summary>
public sealed record DsrOodSet(float[] States, float[] Actions, int ObsDim, int ActDim, string Name = "ood");

/// <summary>Trains a Data Support Representation on offline (s, a) pairs: models, calibration and diagnostics.</summary>
public static class DsrTrainer
{
    /// <summary>Fewest held-out pairs that give a usable rho-quantile and AUROCs.</summary>
    public const int MinHeldOut = 40;

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Train the joint and state models of <paramref name="options"/>.Kind on the data (states N × obsDim and
    /// actions N × actDim, row-major; <paramref name="episodeStarts"/> the first row of each episode), calibrate
    /// every mode on a held-out split of whole episodes, compute diagnostics and return the frozen model.
    /// Uses libtorch's global generator seeded with options.Seed; the caller chooses the thread count.
    /// <paramref name="rewards"/> (one per pair, optional) only sets <see cref="SupportModel.RewardAbsMean"/>, the
    /// online shaping's scale c = mean |r|; without them it stays null.
    /// </summary>
    public static SupportModel Train(DsrOptions options, float[] states, float[] actions, int obsDim, int actDim,
        int[] episodeStarts, string envId, Action<string>? log = null, DsrOodSet? ood = null, float[]? rewards = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        options = options with { Hidden = options.HiddenWidth }; // the checkpoint records the width, not "default"
        var n = ValidateData(states, actions, obsDim, actDim, "offline data");
        if (string.IsNullOrWhiteSpace(envId)) throw new UserError("--env_id is empty; name the environment the data came from, e.g. Hopper-v4");
        if (ood is not null) ValidateOod(ood, obsDim, actDim);
        var rewardAbsMean = RewardAbsMean(rewards, n);
        var (trainIdx, heldIdx) = SplitByEpisode(n, episodeStarts, options.Holdout, options.Seed);

        Runtime.TorchRuntime.EnsureLoaded();
        torch.manual_seed(options.Seed);
        var trainS = Gather(states, trainIdx, obsDim);
        var trainA = Gather(actions, trainIdx, actDim);
        var heldS = Gather(states, heldIdx, obsDim);
        var heldA = Gather(actions, heldIdx, actDim);
        var (mean, std) = MeanStd(trainS, obsDim);

        log?.Invoke(string.Create(Inv, $"dsr: {options.Kind.Word()} (hidden {options.HiddenWidth}{(options.Kind == DsrKind.Flow ? $", {options.CouplingLayers} couplings" : "")}) on {envId}, {n} pairs ({trainIdx.Length} train, {heldIdx.Length} held out by episode), obs {obsDim}, act {actDim}"));
        var model = new SupportModel(options, envId, obsDim, actDim, mean, std) { RewardAbsMean = rewardAbsMean };
        try
        {
            using (var scope = NewDisposeScope())
            {
                var zTrain = model.Normalize(torch.tensor(trainS, [trainIdx.Length, obsDim]));
                var aTrain = torch.tensor(trainA, [trainIdx.Length, actDim]);
                var zHeld = model.Normalize(torch.tensor(heldS, [heldIdx.Length, obsDim]));
                var aHeld = torch.tensor(heldA, [heldIdx.Length, actDim]);
                if (options.Kind == DsrKind.Flow) TrainFlows(model, options, zTrain, aTrain, zHeld, aHeld, log);
                else TrainEnergies(model, options, zTrain, aTrain, zHeld, aHeld, log);
            }
            Calibrate(model, heldS, heldA, heldIdx.Length);
            model.Diagnostics = DsrDiagnostics.Compute(model, heldS, heldA, trainIdx.Length, ood) with { RewardAbsMean = rewardAbsMean };
            if (log is not null) foreach (var line in model.Diagnostics.SummaryLines()) log(line);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    // ---- validation and split ----

    /// <summary>Mean |r| over all rows, or null without rewards; non-finite rewards or a count mismatch are a <see cref="UserError"/>.</summary>
    internal static double? RewardAbsMean(float[]? rewards, int n)
    {
        if (rewards is null) return null;
        if (rewards.Length != n) throw new UserError($"offline data: {n} pairs but {rewards.Length} rewards; the arrays must describe the same pairs");
        double sum = 0;
        for (var i = 0; i < rewards.Length; i++)
        {
            if (!float.IsFinite(rewards[i]))
                throw new UserError($"offline data: rewards contain {rewards[i]} at row {i}; remove or repair non-finite values before training the DSR");
            sum += Math.Abs(rewards[i]);
        }
        return n == 0 ? null : sum / n;
    }

    internal static int ValidateData(float[] states, float[] actions, int obsDim, int actDim, string what)
    {
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(actions);
        if (obsDim < 1 || actDim < 1) throw new UserError($"{what}: obs dim {obsDim} and action dim {actDim} must both be at least 1");
        if (states.Length % obsDim != 0) throw new UserError($"{what}: {states.Length} state values is not a multiple of obs dim {obsDim}");
        var n = states.Length / obsDim;
        if (actions.Length != n * actDim)
            throw new UserError($"{what}: {n} states but {actions.Length / (double)actDim} actions (action dim {actDim}); the arrays must describe the same pairs");
        CheckFinite(states, obsDim, what, "states");
        CheckFinite(actions, actDim, what, "actions");
        return n;
    }

    static void CheckFinite(float[] values, int dim, string what, string name)
    {
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new UserError($"{what}: {name} contain {values[i]} at row {i / dim}, column {i % dim}; remove or repair non-finite values before training the DSR");
    }

    internal static void ValidateOod(DsrOodSet ood, int obsDim, int actDim)
    {
        if (ood.ObsDim != obsDim || ood.ActDim != actDim)
            throw new UserError($"OOD set '{ood.Name}' has obs dim {ood.ObsDim} and action dim {ood.ActDim}, but the DSR data has obs dim {obsDim} and action dim {actDim}; pass data of the same env");
        var n = ValidateData(ood.States, ood.Actions, ood.ObsDim, ood.ActDim, $"OOD set '{ood.Name}'");
        if (n == 0) throw new UserError($"OOD set '{ood.Name}' is empty");
    }

    /// <summary>Held-out rows are whole episodes, picked in a seeded random order until the fraction is reached.</summary>
    internal static (int[] Train, int[] Held) SplitByEpisode(int n, int[] episodeStarts, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(episodeStarts);
        if (episodeStarts.Length == 0 || episodeStarts[0] != 0)
            throw new UserError("episode starts must begin with row 0; the dataset's episode boundaries are missing");
        for (var i = 1; i < episodeStarts.Length; i++)
            if (episodeStarts[i] <= episodeStarts[i - 1] || episodeStarts[i] >= n)
                throw new UserError($"episode starts must increase strictly and lie below {n}; entry {i} is {episodeStarts[i]}");
        var episodes = episodeStarts.Length;
        var target = (int)Math.Ceiling(fraction * n);
        var order = Enumerable.Range(0, episodes).ToArray();
        new Random(seed).Shuffle(order);
        var held = new bool[episodes];
        var heldCount = 0;
        foreach (var e in order)
        {
            if (heldCount >= target) break;
            held[e] = true;
            heldCount += EpisodeLength(e, episodeStarts, n);
        }
        var trainCount = n - heldCount;
        if (episodes < 2 || heldCount < MinHeldOut || trainCount < heldCount)
            throw new UserError(string.Create(Inv,
                $"dataset too small for a {fraction:P0} held-out split by episode: {n} pairs in {episodes} episode(s) give {heldCount} held-out and {trainCount} training pairs; need at least {MinHeldOut} held out and more training than held-out pairs (use more data, or more and shorter episodes)"));
        var trainIdx = new int[trainCount];
        var heldIdx = new int[heldCount];
        int ti = 0, hi = 0;
        for (var e = 0; e < episodes; e++)
        {
            var start = episodeStarts[e];
            var len = EpisodeLength(e, episodeStarts, n);
            for (var r = start; r < start + len; r++)
                if (held[e]) heldIdx[hi++] = r; else trainIdx[ti++] = r;
        }
        return (trainIdx, heldIdx);
    }

    static int EpisodeLength(int e, int[] starts, int n) => (e + 1 < starts.Length ? starts[e + 1] : n) - starts[e];

    internal static float[] Gather(float[] data, int[] rows, int dim)
    {
        var result = new float[rows.Length * dim];
        for (var i = 0; i < rows.Length; i++) Array.Copy(data, rows[i] * dim, result, i * dim, dim);
        return result;
    }

    /// <summary>Per-dimension mean and population std, std floored at 1e-3.</summary>
    internal static (float[] Mean, float[] Std) MeanStd(float[] x, int dim)
    {
        var n = x.Length / dim;
        var mean = new double[dim];
        var sq = new double[dim];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < dim; j++) mean[j] += x[i * dim + j];
        for (var j = 0; j < dim; j++) mean[j] /= n;
        for (var i = 0; i < n; i++)
            for (var j = 0; j < dim; j++) { var d = x[i * dim + j] - mean[j]; sq[j] += d * d; }
        return (mean.Select(m => (float)m).ToArray(), sq.Select(s => (float)Math.Max(Math.Sqrt(s / n), 1e-3)).ToArray());
    }

    // ---- flows ----

    static void TrainFlows(SupportModel model, DsrOptions o, Tensor zTrain, Tensor aTrain, Tensor zHeld, Tensor aHeld, Action<string>? log)
    {
        var jointFlow = (RealNvpFlow)model.JointNet;
        var stateFlow = (RealNvpFlow)model.StateNet;
        var parameters = model.TrainableParameters().ToArray();
        using var opt = new Nn.AdamOptimizer(parameters, o.LearningRate);
        var n = zTrain.shape[0];
        var batch = (int)Math.Min(o.BatchSize, n);
        for (var epoch = 1; epoch <= o.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            double sumJ = 0, sumS = 0;
            long seen = 0;
            using var perm = randperm(n);
            // Explicit scalars: implicit ones are freed by the finalizer, possibly while libtorch reads them.
            using Scalar stateNoise = o.StateNoise, actionNoise = o.ActionNoise;
            for (long start = 0; start + batch <= n; start += batch)
            {
                using var scope = NewDisposeScope();
                var idx = perm.narrow(0, start, batch);
                var zs = zTrain.index_select(0, idx);
                var a = aTrain.index_select(0, idx);
                if (o.StateNoise > 0) zs = zs.Plus(randn_like(zs).mul(stateNoise));
                if (o.ActionNoise > 0) a = a.Plus(randn_like(a).mul(actionNoise));
                var lpJ = jointFlow.forward(cat([zs, a], 1)).mean();
                var lpS = stateFlow.forward(zs).mean();
                var loss = -lpJ.Plus(lpS);
                opt.ZeroGrad();
                loss.backward();
                Nn.AdamOptimizer.ClipGradNorm(parameters, 100.0);
                opt.Step();
                sumJ += lpJ.item<float>() * batch;
                sumS += lpS.item<float>() * batch;
                seen += batch;
            }
            var (hj, hs) = HeldOutLogLik(jointFlow, stateFlow, zHeld, aHeld);
            log?.Invoke(string.Create(Inv,
                $"dsr epoch {epoch}/{o.Epochs}: train ll joint {sumJ / seen:F3} state {sumS / seen:F3} | held-out ll joint {hj:F3} state {hs:F3} (nats per pair, z-scored states) {sw.Elapsed.TotalSeconds:F2}s"));
            if (!double.IsFinite(sumJ) || !double.IsFinite(sumS))
                throw new InvalidOperationException("DSR flow training diverged (non-finite log-likelihood); lower --lr");
        }
    }

    /// <summary>Maximum likelihood on raw D-dimensional points (random minibatches with replacement); for tests and tools.</summary>
    internal static void FitFlow(RealNvpFlow flow, Tensor data, int steps, int batch, double lr)
    {
        var parameters = flow.parameters().ToArray();
        using var opt = optim.Adam(parameters, lr);
        var n = data.shape[0];
        var schedule = optim.lr_scheduler.CosineAnnealingLR(opt, steps);
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var x = data.index_select(0, randint(0, n, [batch]));
            var loss = -flow.forward(x).mean();
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(parameters, 100.0);
            opt.step();
            schedule.step();
        }
    }

    internal static (double Joint, double State) HeldOutLogLik(RealNvpFlow jointFlow, RealNvpFlow stateFlow, Tensor zHeld, Tensor aHeld)
    {
        using var _ = no_grad();
        double sj = 0, ss = 0;
        var n = zHeld.shape[0];
        for (long start = 0; start < n; start += 8192)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(8192, n - start);
            var zs = zHeld.narrow(0, start, len);
            var a = aHeld.narrow(0, start, len);
            sj += jointFlow.forward(cat([zs, a], 1)).sum().item<float>();
            ss += stateFlow.forward(zs).sum().item<float>();
        }
        return (sj / n, ss / n);
    }

    // ---- energies ----

    static void TrainEnergies(SupportModel model, DsrOptions o, Tensor zTrain, Tensor aTrain, Tensor zHeld, Tensor aHeld, Action<string>? log)
    {
        var parameters = model.TrainableParameters().ToArray();
        using var opt = new Nn.AdamOptimizer(parameters, o.LearningRate);
        var n = zTrain.shape[0];
        var batch = (int)Math.Min(o.BatchSize, n);
        for (var epoch = 1; epoch <= o.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            double sumLoss = 0;
            long steps = 0;
            using var perm = randperm(n);
            for (long start = 0; start + batch <= n; start += batch)
            {
                using var scope = NewDisposeScope();
                var idx = perm.narrow(0, start, batch);
                var r = EnergyBatch(model, o, zTrain.index_select(0, idx), aTrain.index_select(0, idx));
                opt.ZeroGrad();
                r.Loss.backward();
                Nn.AdamOptimizer.ClipGradNorm(parameters, 100.0);
                opt.Step();
                sumLoss += r.Loss.item<float>();
                steps++;
            }
            var (hl, accJ, accS) = EnergyHeldOut(model, o, zHeld, aHeld);
            log?.Invoke(string.Create(Inv,
                $"dsr epoch {epoch}/{o.Epochs}: train loss {sumLoss / Math.Max(1, steps):F4} | held-out loss {hl:F4}, ranking accuracy joint {accJ:F3} state {accS:F3} {sw.Elapsed.TotalSeconds:F2}s"));
            if (!double.IsFinite(sumLoss)) throw new InvalidOperationException("DSR energy training diverged (non-finite loss); lower --lr");
        }
    }

    // Static scalars: TorchSharp frees implicitly converted scalars in the finalizer, possibly mid-call.
    static readonly Scalar RegCoef = 1e-4;

    internal readonly record struct EnergyResult(Tensor Loss, Tensor AccuracyJoint, Tensor AccuracyState);

    /// <summary>
    /// InfoNCE: each data pair against K negatives — uniform actions in the box, Gaussian action perturbations
    /// (0.1, 0.3, 1; clipped to the box), mismatched actions of other pairs, states perturbed by 0.5, 1, 2 std —
    /// and each state against K/2 perturbed states (0.25 … 2 std) for the state model.
    /// </summary>
    internal static EnergyResult EnergyBatch(SupportModel model, DsrOptions o, Tensor zs, Tensor a)
    {
        using var scope = NewDisposeScope();
        long b = zs.shape[0], ds = zs.shape[1], da = a.shape[1];
        var k = o.EnergyNegatives;
        int kU = k / 4, kG = k / 4, kM = k / 4, kS = k - 3 * (k / 4);
        var uni = rand(b, kU, da).mul(Two).sub(One);
        var gScales = tensor(Enumerable.Range(0, kG).Select(i => new[] { 0.1f, 0.3f, 1f }[i % 3]).ToArray()).view(1, kG, 1);
        var gauss = a.unsqueeze(1).Plus(randn(b, kG, da) * gScales).clamp(MinusOne, One);
        var mis = a.index_select(0, randint(0, b, [b * kM])).view(b, kM, da);
        var actNeg = cat([uni, gauss, mis], 1);
        var kA = kU + kG + kM;
        var negActionPairs = cat([zs.unsqueeze(1).expand(b, kA, ds), actNeg], 2);
        var sScales = tensor(Enumerable.Range(0, kS).Select(i => new[] { 0.5f, 1f, 2f }[i % 3]).ToArray()).view(1, kS, 1);
        var negStatePairs = cat([zs.unsqueeze(1).Plus(randn(b, kS, ds) * sScales), a.unsqueeze(1).expand(b, kS, da)], 2);
        var pos = cat([zs, a], 1).unsqueeze(1);
        var all = cat([pos, negActionPairs, negStatePairs], 1);
        var eJ = model.JointNet.forward(all.view(-1, ds + da)).view(b, 1 + k);
        var logitsJ = -eJ;
        var target = zeros(b, dtype: ScalarType.Int64);
        var lossJ = nn.functional.cross_entropy(logitsJ, target);

        var ks = Math.Max(2, k / 2);
        var sSc = tensor(Enumerable.Range(0, ks).Select(i => new[] { 0.25f, 0.5f, 1f, 2f }[i % 4]).ToArray()).view(1, ks, 1);
        var allS = cat([zs.unsqueeze(1), zs.unsqueeze(1).Plus(randn(b, ks, ds) * sSc)], 1);
        var eS = model.StateNet.forward(allS.view(-1, ds)).view(b, 1 + ks);
        var logitsS = -eS;
        var lossS = nn.functional.cross_entropy(logitsS, target);
        // A small pull of data energies towards 0 keeps the tanh-bounded part away from saturation (InfoNCE is shift-invariant).
        var ej0 = eJ.select(1, 0);
        var es0 = eS.select(1, 0);
        var reg = (ej0 * ej0).mean().Plus((es0 * es0).mean()).mul(RegCoef);
        var loss = lossJ.Plus(lossS).Plus(reg);
        var accJ = (logitsJ.narrow(1, 0, 1) > logitsJ.narrow(1, 1, k)).to_type(ScalarType.Float32).mean();
        var accS = (logitsS.narrow(1, 0, 1) > logitsS.narrow(1, 1, ks)).to_type(ScalarType.Float32).mean();
        return new EnergyResult(loss.MoveToOuterDisposeScope(), accJ.MoveToOuterDisposeScope(), accS.MoveToOuterDisposeScope());
    }

    /// <summary>Held-out InfoNCE loss and pairwise ranking accuracy (data pair scored above a negative).</summary>
    internal static (double Loss, double AccJoint, double AccState) EnergyHeldOut(SupportModel model, DsrOptions o, Tensor zHeld, Tensor aHeld)
    {
        using var _ = no_grad();
        double loss = 0, accJ = 0, accS = 0;
        var n = zHeld.shape[0];
        var chunk = 2048L;
        for (long start = 0; start < n; start += chunk)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(chunk, n - start);
            var r = EnergyBatch(model, o, zHeld.narrow(0, start, len), aHeld.narrow(0, start, len));
            loss += r.Loss.item<float>() * len;
            accJ += r.AccuracyJoint.item<float>() * len;
            accS += r.AccuracyState.item<float>() * len;
        }
        return (loss / n, accJ / n, accS / n);
    }

    // ---- calibration ----

    /// <summary>Calibrate every mode (and, for flows, the radius score) on the noiseless held-out scores.</summary>
    internal static void Calibrate(SupportModel model, float[] heldS, float[] heldA, int n)
    {
        var radiusToo = model.Kind == DsrKind.Flow;
        var g = new float[n];
        foreach (var mode in Enum.GetValues<SupportMode>())
        {
            foreach (var radius in radiusToo ? new[] { false, true } : [false])
            {
                model.RawScore(heldS, heldA, n, mode, g, radius ? DsrScore.Radius : DsrScore.LogP);
                model.SetCalibration(mode, radius, SupportCalibration.FromScores(g, model.Options.Rho));
            }
        }
    }
}
