using O2O.Core;
using O2O.Learning.Dsr;

namespace O2O.Learning.Ppo;

/// <summary>How the frozen DSR shapes online learning (docs/method.md, "Online PPO with the DSR").</summary>
public sealed record DsrShapingOptions
{
    /// <summary>
    /// Which support the penalty and bonus use: joint log p(s,a), conditional log p(a|s), state log p(s), or gated
    /// (conditional inside the state support, joint outside); null = the DSR's default.
    /// </summary>
    public SupportMode? Support { get; init; }
    /// <summary>Fixed β₀; null = auto (set at the first rollout from <see cref="BetaFrac"/>).</summary>
    public double? Beta { get; init; }
    /// <summary>With auto β: the first rollout's mean penalty term is this fraction of its mean env reward.</summary>
    public double BetaFrac { get; init; } = 0.1;
    /// <summary>Scale η₀ of the frontier bonus.</summary>
    public double Eta { get; init; } = 0.1;
    /// <summary>"reward": r − β·c·p; "value": critic loss + β·E[p·V(s)].</summary>
    public string Pessimism { get; init; } = "reward";
    /// <summary>"linear" to 0 over <see cref="AnnealFrac"/> of the budget, or "none".</summary>
    public string Anneal { get; init; } = "linear";
    public double AnnealFrac { get; init; } = 0.25;
    /// <summary>c, the offline data's mean |r|; null takes it from the DSR checkpoint.</summary>
    public double? RewardScale { get; init; }
    /// <summary>Measure support of visited pairs but change nothing (the naive baseline's diagnostics).</summary>
    public bool MetricsOnly { get; init; }

    /// <summary>One-line errors for settings out of range, naming the properties.</summary>
    public void Validate()
    {
        OptionError.Require(Beta is null or >= 0, $"Beta must be auto (null) or ≥ 0, got {Beta}", nameof(Beta));
        OptionError.Require(BetaFrac is >= 0 and <= 10,
            $"BetaFrac must be in [0, 10], got {BetaFrac}", nameof(BetaFrac));
        OptionError.Require(Eta >= 0, $"Eta must be ≥ 0, got {Eta}", nameof(Eta));
        OptionError.Require(Pessimism is "reward" or "value",
            $"Pessimism '{Pessimism}' must be reward or value", nameof(Pessimism));
        OptionError.Require(Anneal is "linear" or "none", $"Anneal '{Anneal}' must be linear or none", nameof(Anneal));
        OptionError.Require(AnnealFrac is > 0 and <= 1,
            $"AnnealFrac must be in (0, 1], got {AnnealFrac}", nameof(AnnealFrac));
        OptionError.Require(RewardScale is null or > 0,
            $"RewardScale must be > 0, got {RewardScale}", nameof(RewardScale));
    }
}

/// <summary>
/// The DSR in the online loop: σ(s, a) from the frozen support model gives a penalty p = 1 − σ and a
/// frontier bonus b = 4σ(1 − σ); rewards become r − β_t·c·p + η_t·c·b (or the penalty moves into the
/// critic loss). β_t and η_t anneal linearly to 0 over the first part of the budget.
/// </summary>
public sealed class DsrShaper : IRolloutShaper
{
    public static readonly string[] Columns =
    [
        "dsr/support_mean", "dsr/support_p10", "dsr/oos_frac", "dsr/penalty_mean", "dsr/bonus_mean", "dsr/beta",
        "dsr/eta",
    ];

    readonly SupportModel model;
    readonly DsrShapingOptions o;
    readonly double c;
    double? beta0;
    float[] sigma = [];
    float[] weights = [];

    public DsrShaper(SupportModel model, DsrShapingOptions options, double rewardScale)
    {
        options.Validate();
        this.model = model;
        o = options;
        c = rewardScale;
        beta0 = options.Beta;
        Mode = options.Support ?? model.Options.Support;
        model.Calibration(Mode); // fail now, with a one-line error, if the checkpoint predates the mode
    }

    /// <summary>The support mode in use.</summary>
    public SupportMode Mode { get; }

    public IReadOnlyList<string> MetricNames => Columns;

    public double[] SaveState() => beta0 is double b ? [1, b] : [0, 0];

    public void LoadState(double[] state) => beta0 = state.Length == 2 && state[0] == 1 ? state[1] : o.Beta;

    /// <summary>β₀ in effect (null until the first rollout when auto).</summary>
    public double? Beta0 => beta0;

    /// <summary>Annealing factor after <paramref name="stepsDone"/> of <paramref name="total"/> steps.</summary>
    public static double Schedule(string anneal, double annealFrac, long stepsDone, long total) =>
        anneal == "none" ? 1.0 : Math.Max(0.0, 1.0 - stepsDone / (annealFrac * total));

    /// <summary>r − β·c·(1 − σ) + η·c·4σ(1 − σ); the penalty term only with reward pessimism.</summary>
    public static double ShapedReward(double r, double sigma, double beta, double eta, double c, bool penaltyInReward)
    {
        var p = 1 - sigma;
        var b = 4 * sigma * (1 - sigma);
        return r - (penaltyInReward ? beta * c * p : 0) + eta * c * b;
    }

    /// <summary>β₀ such that the mean penalty β₀·c·mean(p) is <paramref name="frac"/> of the mean reward.
    /// </summary>
    public static double AutoBeta(double meanReward, double meanPenalty, double c, double frac) =>
        meanPenalty <= 1e-12 || c <= 0 ? 0 : frac * Math.Abs(meanReward) / (c * meanPenalty);

    public ShapingOutcome Shape(ReadOnlySpan<float> obs, ReadOnlySpan<float> actions, Span<float> rewards, int count,
        long envStepsDone, long totalSteps)
    {
        if (sigma.Length < count) { sigma = new float[count]; weights = new float[count]; }
        var s = sigma.AsSpan(0, count);
        model.Support(obs[..(count * model.ObsDim)], actions[..(count * model.ActDim)], count, Mode, s);

        double meanSigma = 0, meanP = 0, meanR = 0, oos = 0;
        for (var i = 0; i < count; i++)
        {
            meanSigma += s[i];
            meanP += 1 - s[i];
            meanR += rewards[i];
            if (s[i] < 0.5) oos++;
        }
        meanSigma /= count; meanP /= count; meanR /= count; oos /= count;
        var sorted = s.ToArray();
        Array.Sort(sorted);
        var p10 = sorted[(int)(0.1 * (count - 1))];

        beta0 ??= AutoBeta(meanR, meanP, c, o.BetaFrac);
        var f = Schedule(o.Anneal, o.AnnealFrac, envStepsDone, totalSteps);
        var beta = o.MetricsOnly ? 0 : beta0.Value * f;
        var eta = o.MetricsOnly ? 0 : o.Eta * f;
        var inReward = o.Pessimism == "reward";
        double penaltyTerm = 0, bonusTerm = 0;
        for (var i = 0; i < count; i++)
        {
            var p = 1 - s[i];
            var b = 4 * s[i] * (1 - s[i]);
            penaltyTerm += beta * c * p;
            bonusTerm += eta * c * b;
            rewards[i] = (float)ShapedReward(rewards[i], s[i], beta, eta, c, inReward);
            weights[i] = p;
        }
        var metrics = new Dictionary<string, double>
        {
            ["dsr/support_mean"] = meanSigma,
            ["dsr/support_p10"] = p10,
            ["dsr/oos_frac"] = oos,
            ["dsr/penalty_mean"] = penaltyTerm / count,
            ["dsr/bonus_mean"] = bonusTerm / count,
            ["dsr/beta"] = beta,
            ["dsr/eta"] = eta,
        };
        return new ShapingOutcome(inReward || beta == 0 ? null : weights[..count], inReward ? 0 : beta, metrics);
    }
}
