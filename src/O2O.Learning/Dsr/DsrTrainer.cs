using System.Globalization;
using O2O.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// An extra dataset of (s, a) pairs, e.g. the random-policy data of the same env, for the OOD AUROC.
/// </summary>
public sealed record DsrOodSet(float[] States, float[] Actions, int ObsDim, int ActDim, string Name = "ood");

/// <summary>
/// Trains a Data Support Representation on offline (s, a) pairs: checks the data, splits it by episode, then
/// trains (<see cref="FlowTraining"/> or <see cref="EnergyTraining"/>), calibrates (<see cref="DsrCalibrator"/>)
/// and diagnoses (<see cref="DsrDiagnostics"/>).
/// </summary>
public static class DsrTrainer
{
    /// <summary>Fewest held-out pairs that give a usable rho-quantile and AUROCs.</summary>
    public const int MinHeldOut = 40;

    /// <summary>Floor of the per-dimension state std used for z-scoring: keeps constant dimensions finite.</summary>
    internal const double MinStateStd = 1e-3;

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Train the joint and state models of <paramref name="options"/>.Kind on the data (states N × obsDim and
    /// actions N × actDim, row-major; <paramref name="episodeStarts"/> the first row of each episode), calibrate
    /// every mode on a held-out split of whole episodes, compute diagnostics and return the frozen model.
    /// Uses libtorch's global generator seeded with options.Seed, on options.TorchThreads threads (0: the caller's
    /// setting); the model's options record the count used.
    /// <paramref name="rewards"/> (one per pair, optional) only sets <see cref="SupportModel.RewardAbsMean"/>, the
    /// online shaping's scale c = mean |r|; without them it stays null.
    /// </summary>
    public static SupportModel Train(DsrOptions options, float[] states, float[] actions, int obsDim, int actDim,
        int[] episodeStarts, string envId, Action<string>? log = null, DsrOodSet? ood = null,
        float[]? rewards = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        options = options with { Hidden = options.HiddenWidth }; // the checkpoint records the width, not "default"
        var n = ValidateData(states, actions, obsDim, actDim, "offline data");
        if (string.IsNullOrWhiteSpace(envId))
            throw new UserError("the environment id is empty; name the environment the data came from, e.g. Hopper-v4");
        if (ood is not null) ValidateOod(ood, obsDim, actDim);
        var rewardAbsMean = RewardAbsMean(rewards, n);
        var (trainIdx, heldIdx) = SplitByEpisode(n, episodeStarts, options.Holdout, options.Seed);

        Runtime.TorchRuntime.Configure(options.Seed, options.TorchThreads);
        options = options with { TorchThreads = torch.get_num_threads() };
        var trainS = Gather(states, trainIdx, obsDim);
        var trainA = Gather(actions, trainIdx, actDim);
        var heldS = Gather(states, heldIdx, obsDim);
        var heldA = Gather(actions, heldIdx, actDim);
        var (mean, std) = MeanStd(trainS, obsDim);

        var couplings = options.Kind == DsrKind.Flow ? $", {options.CouplingLayers} couplings" : "";
        log?.Invoke(string.Create(Inv,
            $"dsr: {options.Kind.Word()} (hidden {options.HiddenWidth}{couplings}) on {envId}, {n} pairs "
            + $"({trainIdx.Length} train, {heldIdx.Length} held out by episode), obs {obsDim}, act {actDim}, "
            + $"{options.TorchThreads} libtorch thread(s)"));
        var model = new SupportModel(options, envId, obsDim, actDim, mean, std) { RewardAbsMean = rewardAbsMean };
        try
        {
            using (var scope = NewDisposeScope())
            {
                var zTrain = model.Normalize(torch.tensor(trainS, [trainIdx.Length, obsDim]));
                var aTrain = torch.tensor(trainA, [trainIdx.Length, actDim]);
                var zHeld = model.Normalize(torch.tensor(heldS, [heldIdx.Length, obsDim]));
                var aHeld = torch.tensor(heldA, [heldIdx.Length, actDim]);
                if (options.Kind == DsrKind.Flow) FlowTraining.Train(model, options, zTrain, aTrain, zHeld, aHeld, log);
                else EnergyTraining.Train(model, options, zTrain, aTrain, zHeld, aHeld, log);
            }
            DsrCalibrator.Calibrate(model, heldS, heldA, heldIdx.Length);
            model.Diagnostics = DsrDiagnostics.Compute(model, heldS, heldA, trainIdx.Length, ood)
                with { RewardAbsMean = rewardAbsMean, TorchThreads = options.TorchThreads };
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

    /// <summary>
    /// Mean |r| over all rows, or null without rewards; non-finite rewards or a count mismatch are a
    /// <see cref="UserError"/>.
    /// </summary>
    internal static double? RewardAbsMean(float[]? rewards, int n)
    {
        if (rewards is null) return null;
        if (rewards.Length != n)
            throw new UserError(
                $"offline data: {n} pairs but {rewards.Length} rewards; the arrays must describe the same pairs");
        double sum = 0;
        for (var i = 0; i < rewards.Length; i++)
        {
            if (!float.IsFinite(rewards[i]))
                throw new UserError($"offline data: rewards contain {rewards[i]} at row {i}; remove or repair "
                    + "non-finite values before training the DSR");
            sum += Math.Abs(rewards[i]);
        }
        return n == 0 ? null : sum / n;
    }

    /// <summary>Number of pairs of row-major states and actions; a bad shape or value is a UserError.</summary>
    internal static int ValidateData(float[] states, float[] actions, int obsDim, int actDim, string what)
    {
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(actions);
        if (obsDim < 1 || actDim < 1)
            throw new UserError($"{what}: obs dim {obsDim} and action dim {actDim} must both be at least 1");
        if (states.Length % obsDim != 0)
            throw new UserError($"{what}: {states.Length} state values is not a multiple of obs dim {obsDim}");
        var n = states.Length / obsDim;
        if (actions.Length != n * actDim)
            throw new UserError($"{what}: {n} states but {actions.Length / (double)actDim} actions (action dim "
                + $"{actDim}); the arrays must describe the same pairs");
        CheckFinite(states, obsDim, what, "states");
        CheckFinite(actions, actDim, what, "actions");
        return n;
    }

    static void CheckFinite(float[] values, int dim, string what, string name)
    {
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new UserError($"{what}: {name} contain {values[i]} at row {i / dim}, column {i % dim}; "
                    + "remove or repair non-finite values before training the DSR");
    }

    internal static void ValidateOod(DsrOodSet ood, int obsDim, int actDim)
    {
        if (ood.ObsDim != obsDim || ood.ActDim != actDim)
            throw new UserError($"OOD set '{ood.Name}' has obs dim {ood.ObsDim} and action dim {ood.ActDim}, but "
                + $"the DSR data has obs dim {obsDim} and action dim {actDim}; pass data of the same env");
        var n = ValidateData(ood.States, ood.Actions, ood.ObsDim, ood.ActDim, $"OOD set '{ood.Name}'");
        if (n == 0) throw new UserError($"OOD set '{ood.Name}' is empty");
    }

    /// <summary>
    /// Held-out rows are whole episodes, picked in a seeded random order until the fraction is reached.
    /// </summary>
    internal static (int[] Train, int[] Held) SplitByEpisode(int n, int[] episodeStarts, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(episodeStarts);
        if (episodeStarts.Length == 0 || episodeStarts[0] != 0)
            throw new UserError("episode starts must begin with row 0; the dataset's episode boundaries are missing");
        for (var i = 1; i < episodeStarts.Length; i++)
            if (episodeStarts[i] <= episodeStarts[i - 1] || episodeStarts[i] >= n)
                throw new UserError(
                    $"episode starts must increase strictly and lie below {n}; entry {i} is {episodeStarts[i]}");
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
                $"dataset too small for a {fraction:P0} held-out split by episode: {n} pairs in {episodes} "
                + $"episode(s) give {heldCount} held-out and {trainCount} training pairs; need at least {MinHeldOut} "
                + $"held out and more training than held-out pairs (use more data, or more and shorter episodes)"));
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

    /// <summary>The given rows of a row-major array, in the given order.</summary>
    internal static float[] Gather(float[] data, int[] rows, int dim)
    {
        var result = new float[rows.Length * dim];
        for (var i = 0; i < rows.Length; i++) Array.Copy(data, rows[i] * dim, result, i * dim, dim);
        return result;
    }

    /// <summary>Per-dimension mean and population std, std floored at <see cref="MinStateStd"/>.</summary>
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
        return (mean.Select(m => (float)m).ToArray(),
            sq.Select(s => (float)Math.Max(Math.Sqrt(s / n), MinStateStd)).ToArray());
    }
}
