using System.Globalization;
using System.Text.Json;
using O2O.Learning.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// Mean sigma of held-out pairs as actions and states are pushed away from the data, for one mode and score.
/// </summary>
public sealed record SupportCurve
{
    /// <summary>Support mode word (joint, conditional, state, gated).</summary>
    public required string Mode { get; init; }
    /// <summary>Score word (logp, radius, tempered).</summary>
    public required string Score { get; init; }
    /// <summary>Std s of the Gaussian action perturbation N(0, s²) (perturbed actions clipped to ±1).</summary>
    public required double[] ActionScales { get; init; }
    /// <summary>Mean sigma at each action scale.</summary>
    public required double[] ActionMeanSigma { get; init; }
    /// <summary>State perturbation in dataset standard deviations per dimension.</summary>
    public required double[] StateScales { get; init; }
    /// <summary>Mean sigma at each state scale.</summary>
    public required double[] StateMeanSigma { get; init; }
    /// <summary>Largest fall of mean sigma between neighbouring scales on either curve (near 1 = a wall).</summary>
    public required double MaxStepDrop { get; init; }
    /// <summary>
    /// Some non-zero perturbation gives a mean sigma in [0.2, 0.8]: the score has a gradient to follow.
    /// </summary>
    public required bool Graded { get; init; }
}

/// <summary>Calibration and separation quality of one support mode under the model's score.</summary>
public sealed record ModeDiagnostics
{
    /// <summary>Support mode word.</summary>
    public required string Mode { get; init; }
    /// <summary>tau = q_rho of held-out raw scores.</summary>
    public required double Tau { get; init; }
    /// <summary>Calibration temperature T (times the temper factor for the tempered score).</summary>
    public required double Temperature { get; init; }
    /// <summary>Held-out raw-score quantiles at <see cref="SupportCalibration.Levels"/>.</summary>
    public required double[] ScoreQuantiles { get; init; }
    /// <summary>Mean sigma of held-out pairs.</summary>
    public required double MeanSigma { get; init; }
    /// <summary>Held-out sigma quantiles at <see cref="DsrDiagnostics.SigmaQuantileLevels"/>.</summary>
    public required double[] SigmaQuantiles { get; init; }
    /// <summary>AUROC, held-out pairs vs the same states with uniform random actions.</summary>
    public required double AurocUniformActions { get; init; }
    /// <summary>AUROC, held-out pairs vs the same states with actions + N(0, 0.3²) clipped to ±1.</summary>
    public required double AurocNoisyActions { get; init; }
    /// <summary>AUROC, held-out pairs vs the OOD set (null when none was given).</summary>
    public double? AurocOod { get; init; }
    /// <summary>
    /// Counts of held-out sigma in <see cref="DsrDiagnostics.HistogramBins"/> equal bins over [0, 1].
    /// </summary>
    public required int[] SigmaHistogramHeldOut { get; init; }
    /// <summary>Counts of sigma of the same states with uniform random actions, same bins.</summary>
    public required int[] SigmaHistogramUniformActions { get; init; }
}

/// <summary>Quality report of a trained DSR, printed while training and saved as X_dsr.json beside X_dsr.pt.</summary>
public sealed record DsrDiagnostics
{
    /// <summary>Sigma quantile levels reported per mode.</summary>
    public static readonly double[] SigmaQuantileLevels = [0.05, 0.25, 0.5, 0.75, 0.95];
    /// <summary>Action perturbation scales of the support curve.</summary>
    public static readonly double[] ActionScales = [0, 0.05, 0.1, 0.2, 0.5, 1];
    /// <summary>
    /// State perturbation scales (dataset std, every dimension at once) of the support curve: docs/method.md's set
    /// plus 2 and 4. Fine scales matter: on real data the states lie near a thin manifold, and 0.5 std in all dims
    /// is already far off it.
    /// </summary>
    public static readonly double[] StateScales = [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 4];

    /// <summary>Number of equal bins over [0, 1] of the sigma histograms.</summary>
    public const int HistogramBins = 20;

    /// <summary>Std of the "noisy actions" negatives: between the data's spread and uniform actions.</summary>
    internal const double NoisyActionStd = 0.3;
    /// <summary>
    /// A curve is graded when some perturbation's mean sigma lies in this band: neither inside nor off.
    /// </summary>
    internal const double GradedLow = 0.2, GradedHigh = 0.8;
    /// <summary>
    /// Offsets of the options' seed for the held-out subset and for the perturbations, so that neither repeats the
    /// draws of the split or of training.
    /// </summary>
    internal const int SubsetSeedOffset = 17, PerturbationSeedOffset = 1234;
    const string NoisySet = "noise0.3"; // the set of NoisyActionStd; its name is also the console's label

    /// <summary>Environment id.</summary>
    public required string EnvId { get; init; }
    /// <summary>Model kind word.</summary>
    public required string Kind { get; init; }
    /// <summary>The score sigma uses by default.</summary>
    public required string Score { get; init; }
    /// <summary>Boundary quantile level.</summary>
    public required double Rho { get; init; }
    /// <summary>Training pairs.</summary>
    public required int TrainPairs { get; init; }
    /// <summary>Held-out pairs (calibration set).</summary>
    public required int HeldOutPairs { get; init; }
    /// <summary>Held-out pairs used for curves and AUROCs (a seeded subset when the split is large).</summary>
    public required int DiagnosticPairs { get; init; }
    /// <summary>Mean held-out log p(s, a) in nats, states z-scored (flow only).</summary>
    public double? HeldOutLogLikJoint { get; init; }
    /// <summary>Mean held-out log p(s) in nats, states z-scored (flow only).</summary>
    public double? HeldOutLogLikState { get; init; }
    /// <summary>
    /// Mean |reward| of the offline data (the online shaping's scale c); null when the data had no rewards.
    /// </summary>
    public double? RewardAbsMean { get; init; }
    /// <summary>libtorch threads the model was trained on (results are reproducible for a given count).</summary>
    public int? TorchThreads { get; init; }
    /// <summary>Name of the OOD set, if any.</summary>
    public string? OodName { get; init; }
    /// <summary>How AUROCs are computed.</summary>
    public string AurocNote { get; init; } =
        "Mann-Whitney on the raw score (sigma is monotone in it; float sigma saturates to ties far outside)";
    /// <summary>Per-mode calibration and separation, under the default score.</summary>
    public required ModeDiagnostics[] Modes { get; init; }
    /// <summary>Support curves for every mode and every applicable score.</summary>
    public required SupportCurve[] Curves { get; init; }
    /// <summary>"mode/score" pairs whose curve is graded.</summary>
    public required string[] GradedScores { get; init; }

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parse JSON written by <see cref="ToJson"/>.</summary>
    public static DsrDiagnostics FromJson(string json) =>
        JsonSerializer.Deserialize<DsrDiagnostics>(json, JsonOptions)
        ?? throw new JsonException("empty diagnostics");

    /// <summary>Human-readable lines for the console.</summary>
    public IEnumerable<string> SummaryLines()
    {
        var inv = CultureInfo.InvariantCulture;
        if (HeldOutLogLikJoint is double j)
            yield return string.Create(inv,
                $"dsr held-out log-likelihood: joint {j:F3}, state {HeldOutLogLikState:F3} nats");
        foreach (var m in Modes)
        {
            var oodPart = m.AurocOod is double ood ? string.Create(inv, $" {OodName} {ood:F3}") : "";
            yield return string.Create(inv,
                $"dsr {m.Mode,-11} tau {m.Tau:G5} T {m.Temperature:G4} | held-out sigma mean {m.MeanSigma:F3}"
                + $" q05 {m.SigmaQuantiles[0]:F3} q50 {m.SigmaQuantiles[2]:F3}"
                + $" | AUROC uniform {m.AurocUniformActions:F3} {NoisySet} {m.AurocNoisyActions:F3}{oodPart}");
        }
        string Row(double[] values) => string.Join(" ", values.Select(v => v.ToString("F2", inv)));
        foreach (var cv in Curves)
            yield return $"dsr curve {cv.Mode}/{cv.Score}: action [{Row(cv.ActionMeanSigma)}] "
                + $"state [{Row(cv.StateMeanSigma)}]{(cv.Graded ? " graded" : " step")}";
        yield return RewardAbsMean is double r
            ? string.Create(inv, $"dsr reward_abs_mean {r:G6} (online shaping scale c = mean |r|)")
            : "dsr reward_abs_mean null: the dataset has no rewards, so the online phase needs an explicit "
              + "reward scale";
        var graded = GradedScores.Length == 0 ? "none" : string.Join(", ", GradedScores);
        yield return $"dsr graded scores: {graded} (default score: {Score})";
    }

    /// <summary>
    /// Compute the report on held-out pairs (raw states and actions) of a calibrated model. Uses libtorch's global
    /// generator for the perturbations.
    /// </summary>
    public static DsrDiagnostics Compute(SupportModel model, float[] heldStates, float[] heldActions, int trainPairs,
        DsrOodSet? ood = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        int ds = model.ObsDim, da = model.ActDim;
        var nAll = DsrTrainer.ValidateData(heldStates, heldActions, ds, da, "held-out data");
        if (ood is not null) DsrTrainer.ValidateOod(ood, ds, da);
        var options = model.Options;
        var rows = Enumerable.Range(0, nAll).ToArray();
        if (nAll > options.DiagnosticsMaxPairs)
        {
            new Random(options.Seed + SubsetSeedOffset).Shuffle(rows);
            rows = rows[..options.DiagnosticsMaxPairs];
            Array.Sort(rows);
        }
        var n = rows.Length;
        var sArr = DsrTrainer.Gather(heldStates, rows, ds);
        var aArr = DsrTrainer.Gather(heldActions, rows, da);

        var scores = model.Kind == DsrKind.Flow
            ? new[] { DsrScore.LogP, DsrScore.Radius, DsrScore.Tempered }
            : [DsrScore.LogP, DsrScore.Tempered];
        var modes = Enum.GetValues<SupportMode>();
        // raw[set][(mode, score)] = per-pair raw scores
        var sets = new List<(string Name, Dictionary<(SupportMode, DsrScore), float[]> Raw)>();
        double? llJ = null, llS = null;

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            manual_seed(options.Seed + PerturbationSeedOffset);
            var states = tensor(sArr, [n, ds]);
            var actions = tensor(aArr, [n, da]);
            var std = tensor(model.StateStdValues);
            void Add(string name, Tensor st, Tensor at)
            {
                using var inner = NewDisposeScope();
                using var parts = model.Parts(model.Normalize(st), at, true, true);
                var dict = new Dictionary<(SupportMode, DsrScore), float[]>();
                foreach (var m in modes)
                    foreach (var sc in scores)
                        dict[(m, sc)] = model.CombineFor(parts, m, sc).data<float>().ToArray();
                if (name == "base" && parts.JointR2 is not null)
                {
                    llJ = parts.JointLogP!.mean().item<float>();
                    llS = parts.StateLogP!.mean().item<float>();
                }
                sets.Add((name, dict));
            }
            Add("base", states, actions);
            // Lasting scalars only (TensorOps): these tensors are made for every DSR trained.
            Add("uniform", states, rand(n, da).mul(TensorOps.Two).sub(TensorOps.One));
            Tensor Jitter(Tensor x, double scale, long dim, Tensor? perDim = null)
            {
                using Scalar s = scale;
                var noise = randn(n, dim).mul(s);
                return x.Plus(perDim is null ? noise : noise * perDim);
            }
            Tensor JitterActions(double scale) =>
                Jitter(actions, scale, da).clamp(TensorOps.MinusOne, TensorOps.One);
            Add(NoisySet, states, JitterActions(NoisyActionStd));
            foreach (var sc in ActionScales) Add($"a{sc}", states, JitterActions(sc));
            foreach (var sc in StateScales) Add($"s{sc}", Jitter(states, sc, ds, std), actions);
            if (ood is not null)
            {
                var m = ood.States.Length / ds;
                Add("ood", tensor(ood.States, [m, ds]), tensor(ood.Actions, [m, da]));
            }
        }

        float[] Raw(string set, SupportMode m, DsrScore s) => sets.First(x => x.Name == set).Raw[(m, s)];
        double MeanSigma(float[] g, SupportCalibration c, double t) => g.Average(v => c.Sigma(v, t));

        var modeReports = new List<ModeDiagnostics>();
        foreach (var m in modes)
        {
            var sc = options.Score;
            var cal = model.Calibration(m, sc);
            var t = model.TemperOf(sc);
            var baseRaw = Raw("base", m, sc);
            var sig = baseRaw.Select(v => cal.Sigma(v, t)).OrderBy(v => v).ToArray();
            modeReports.Add(new ModeDiagnostics
            {
                Mode = m.Word(),
                Tau = cal.Tau,
                Temperature = cal.Temperature * t,
                ScoreQuantiles = cal.Quantiles,
                MeanSigma = sig.Average(),
                SigmaQuantiles = SigmaQuantileLevels.Select(p => SupportCalibration.Quantile(sig, p)).ToArray(),
                AurocUniformActions = Auroc.Compute(baseRaw, Raw("uniform", m, sc)),
                AurocNoisyActions = Auroc.Compute(baseRaw, Raw(NoisySet, m, sc)),
                AurocOod = ood is null ? null : Auroc.Compute(baseRaw, Raw("ood", m, sc)),
                SigmaHistogramHeldOut = Histogram(sig),
                SigmaHistogramUniformActions = Histogram(Raw("uniform", m, sc).Select(v => cal.Sigma(v, t))),
            });
        }

        static int[] Histogram(IEnumerable<double> sigmas)
        {
            var counts = new int[HistogramBins];
            foreach (var v in sigmas) counts[Math.Clamp((int)(v * HistogramBins), 0, HistogramBins - 1)]++;
            return counts;
        }

        var curves = new List<SupportCurve>();
        foreach (var m in modes)
            foreach (var sc in scores)
            {
                var cal = model.Calibration(m, sc);
                var t = model.TemperOf(sc);
                var ac = ActionScales.Select(s => MeanSigma(Raw($"a{s}", m, sc), cal, t)).ToArray();
                var st = StateScales.Select(s => MeanSigma(Raw($"s{s}", m, sc), cal, t)).ToArray();
                double maxDrop = 0;
                for (var i = 1; i < ac.Length; i++) maxDrop = Math.Max(maxDrop, ac[i - 1] - ac[i]);
                for (var i = 1; i < st.Length; i++) maxDrop = Math.Max(maxDrop, st[i - 1] - st[i]);
                var graded = ac.Skip(1).Concat(st.Skip(1)).Any(v => v >= GradedLow && v <= GradedHigh);
                curves.Add(new SupportCurve
                {
                    Mode = m.Word(), Score = sc.Word(),
                    ActionScales = ActionScales, ActionMeanSigma = ac,
                    StateScales = StateScales, StateMeanSigma = st,
                    MaxStepDrop = maxDrop, Graded = graded,
                });
            }

        return new DsrDiagnostics
        {
            EnvId = model.EnvId,
            Kind = model.Kind.Word(),
            Score = options.Score.Word(),
            Rho = options.Rho,
            TrainPairs = trainPairs,
            HeldOutPairs = nAll,
            DiagnosticPairs = n,
            HeldOutLogLikJoint = llJ,
            HeldOutLogLikState = llS,
            OodName = ood?.Name,
            Modes = modeReports.ToArray(),
            Curves = curves.ToArray(),
            GradedScores = curves.Where(c => c.Graded).Select(c => $"{c.Mode}/{c.Score}").ToArray(),
        };
    }
}
