using System.Diagnostics;
using O2O.Core;
using O2O.Learning.Dsr;
using O2O.Learning.Ppo;
using O2O.Learning.Training;
using O2O.Sim;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// The frozen DSR inside any off-policy learner (SAC, IQL fine-tuning, CQL; docs/method.md, "The DSR in the
/// off-policy learners"): σ(s, a) ∈ [0, 1], penalty p = 1 − σ, frontier bonus b = 4σ(1 − σ), reward scale c,
/// and β_t, η_t annealed over the online budget by <see cref="DsrShaper.Schedule"/> exactly as for PPO. σ is scored
/// once per stored pair; β_t and η_t are applied when a batch is sampled, so a row stored early is shaped with
/// today's coefficients. A learner uses it in this order:
/// <list type="number">
/// <item>construct it (or <see cref="Create"/> it from a DSR path) with c in the learner's own reward units;</item>
/// <item>offline rows kept in the buffer: <see cref="ScoreOffline"/> once, passed as the ReplayBuffer's
/// offlineSupport;</item>
/// <item>every stored online transition: <see cref="Score"/> of the RAW observation and the executed action, passed
/// to ReplayBuffer.Add;</item>
/// <item>every sampled batch, before its targets: <see cref="ShapeRewards"/> (sets an automatic β₀ at the first
/// batch, then rewrites the batch's rewards in place);</item>
/// <item>value pessimism, when <see cref="CriticBeta"/> &gt; 0: actions a' ~ π(·|s) for the batch's states,
/// <see cref="PolicyPenalty"/> of the RAW states and a', and <see cref="CriticTerm"/> of the critics' Q(s, a')
/// added to the critic loss;</item>
/// <item>each epoch: <see cref="TimeColumn"/> among the learner's time columns, <see cref="Columns"/> as its extra
/// columns, <see cref="WriteColumns"/> into the row; <see cref="Elapsed"/> is the DSR's share of any clock;</item>
/// <item><see cref="WriteState"/> / <see cref="ReadState"/> in the learner's checkpoint (β₀).</item>
/// </list>
/// </summary>
public sealed class OffPolicySupport : IDisposable
{
    /// <summary>The DSR's time in the epoch: scoring at insertion, shaping, and the policy actions' σ.</summary>
    public const string TimeColumn = "time/dsr_s";

    /// <summary>The dsr/* columns, the same as PPO's.</summary>
    public static IReadOnlyList<string> Columns => DsrShaper.Columns;

    static readonly Scalar One = 1.0;

    readonly SupportModel model;
    readonly bool ownsModel;
    readonly DsrShapingOptions o;
    readonly long totalSteps;
    readonly Stopwatch clock = new();
    readonly List<float> visited = [];
    readonly float[] one = new float[1];
    float[] policySigma = [];
    double? beta0;
    double beta, eta, penaltySum, bonusSum, criticTermSum, epochStart;
    long shapedRows;
    int criticTerms;
    bool shaped;

    /// <param name="model">The frozen DSR, for the learner's environment.</param>
    /// <param name="options">Shaping settings, as PPO's.</param>
    /// <param name="rewardScale">c in the units of the rewards the learner stores (IQL: times its reward scale).
    /// </param>
    /// <param name="totalSteps">The online budget over which β and η anneal.</param>
    /// <param name="ownsModel">Dispose the model with this object.</param>
    public OffPolicySupport(SupportModel model, DsrShapingOptions options, double rewardScale, long totalSteps,
        bool ownsModel = false)
    {
        options.Validate();
        if (!(rewardScale > 0)) throw new ArgumentOutOfRangeException(nameof(rewardScale), "c must be > 0");
        this.model = model;
        this.ownsModel = ownsModel;
        o = options;
        RewardScale = rewardScale;
        this.totalSteps = totalSteps;
        beta0 = options.Beta;
        Mode = options.Support ?? model.Options.Support;
        model.Calibration(Mode); // fail now, with a one-line error, if the checkpoint predates the mode
    }

    /// <summary>
    /// The support of the DSR at <paramref name="dsrPath"/> for <paramref name="spec"/> (one-line errors for another
    /// env, other dims or a file that is no DSR), with c = options.RewardScale, else the checkpoint's mean |r|, times
    /// <paramref name="learnerRewardScale"/>; null without a path.
    /// </summary>
    public static OffPolicySupport? Create(string? dsrPath, DsrShapingOptions options, EnvSpec spec,
        double learnerRewardScale, long totalSteps)
    {
        if (dsrPath is null) return null;
        options.Validate();
        var model = SupportModel.Load(dsrPath, spec.Id, spec.ObsDim, spec.ActDim);
        try
        {
            var c = options.RewardScale ?? model.RewardAbsMean ?? throw new OptionError(
                $"the DSR '{dsrPath}' does not record the offline mean |reward| (its data had no rewards); "
                + "set RewardScale", nameof(DsrShapingOptions.RewardScale));
            return new OffPolicySupport(model, options, c * learnerRewardScale, totalSteps, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The support mode in use.</summary>
    public SupportMode Mode { get; }

    /// <summary>c, in the learner's reward units.</summary>
    public double RewardScale { get; }

    /// <summary>True when Pessimism is "value": the penalty goes into the critic loss, not the reward.</summary>
    public bool ValuePessimism => o.Pessimism == "value";

    /// <summary>β₀ in effect (null until the first shaped batch when automatic).</summary>
    public double? Beta0 => beta0;

    /// <summary>
    /// β_t of the critic term for the batch last shaped: 0 with reward pessimism, with MetricsOnly, or once annealed.
    /// </summary>
    public double CriticBeta => ValuePessimism ? beta : 0;

    /// <summary>The DSR's time since the start (all its calls), for the learner's clocks.</summary>
    public TimeSpan Elapsed => clock.Elapsed;

    /// <summary>σ of one pair at insertion (RAW observation, executed action), counted in the epoch's columns.
    /// </summary>
    public float Score(ReadOnlySpan<float> rawObservation, ReadOnlySpan<float> action)
    {
        clock.Start();
        model.Support(rawObservation, action, 1, Mode, one);
        clock.Stop();
        visited.Add(one[0]);
        return one[0];
    }

    /// <summary>σ of <paramref name="n"/> offline pairs (RAW observations), scored in batches; not logged.</summary>
    public float[] ScoreOffline(ReadOnlySpan<float> rawObservations, ReadOnlySpan<float> actions, int n)
    {
        var sigma = new float[n];
        model.Support(rawObservations[..(n * model.ObsDim)], actions[..(n * model.ActDim)], n, Mode, sigma);
        return sigma;
    }

    /// <summary>
    /// Rewrite the batch's rewards in place as r − β_t·c·(1 − σ) + η_t·c·4σ(1 − σ) (the penalty only
    /// with reward pessimism), with β_t and η_t after <paramref name="stepsDone"/> env steps of the budget. An
    /// automatic β₀ is set at the first batch from its rewards and σ (<see cref="DsrShaper.AutoBeta"/>).
    /// </summary>
    public void ShapeRewards(ReplayBatch batch, long stepsDone)
    {
        clock.Start();
        var n = batch.Size;
        var r = batch.Rewards.AsSpan(0, n);
        var s = batch.Support.AsSpan(0, n);
        if (beta0 is null)
        {
            double meanR = 0, meanP = 0;
            for (var i = 0; i < n; i++) { meanR += r[i]; meanP += 1 - s[i]; }
            beta0 = DsrShaper.AutoBeta(meanR / n, meanP / n, RewardScale, o.BetaFrac);
        }
        var f = DsrShaper.Schedule(o.Anneal, o.AnnealFrac, stepsDone, totalSteps);
        beta = o.MetricsOnly ? 0 : beta0.Value * f;
        eta = o.MetricsOnly ? 0 : o.Eta * f;
        var inReward = !ValuePessimism;
        var c = RewardScale;
        double penalty = 0, bonus = 0;
        for (var i = 0; i < n; i++)
        {
            penalty += beta * c * (1 - s[i]);
            bonus += eta * c * 4 * s[i] * (1 - s[i]);
        }
        // Coefficients of 0 leave every reward as it is (β = η = 0 gives the plain learner's numbers).
        if (eta != 0 || (inReward && beta != 0))
            for (var i = 0; i < n; i++) r[i] = (float)DsrShaper.ShapedReward(r[i], s[i], beta, eta, c, inReward);
        if (inReward) penaltySum += penalty;
        bonusSum += bonus;
        shapedRows += n;
        shaped = true;
        clock.Stop();
    }

    /// <summary>
    /// p' = 1 − σ(s, a') of <paramref name="n"/> policy actions at RAW states, as a tensor [n] without gradient.
    /// </summary>
    public Tensor PolicyPenalty(ReadOnlySpan<float> rawStates, ReadOnlySpan<float> actions, int n)
    {
        clock.Start();
        if (policySigma.Length != n) policySigma = new float[n]; // once: batches keep their size
        model.Support(rawStates[..(n * model.ObsDim)], actions[..(n * model.ActDim)], n, Mode, policySigma);
        for (var i = 0; i < n; i++) policySigma[i] = 1f - policySigma[i];
        var t = tensor(policySigma);
        clock.Stop();
        return t;
    }

    /// <summary>β·mean(p'·Q(s, a')): conservatism that grows where the data's support is low.</summary>
    public static Tensor ValuePenalty(Tensor penalty, Tensor q, Scalar beta)
    {
        using var scope = NewDisposeScope();
        return (penalty * q).mean().mul(beta).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The critic term w·β_t·(mean(p'·Q₁(s, a')) + mean(p'·Q₂(s, a'))), w the weight the learner's loss gives
    /// each critic's regression (SAC 1, IQL ½); its value is logged as dsr/penalty_mean.
    /// </summary>
    public Tensor CriticTerm(Tensor penalty, Tensor q1, Tensor q2, double weight)
    {
        using var scope = NewDisposeScope();
        using Scalar coef = weight * CriticBeta;
        var term = ValuePenalty(penalty, q1, coef).add(ValuePenalty(penalty, q2, coef), One);
        criticTermSum += term.item<float>();
        criticTerms++;
        return term.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The epoch's dsr/* columns and time/dsr_s: σ of the pairs stored this epoch (mean, 10th percentile, share
    /// below 0.5), the mean penalty term (reward pessimism: β_t·c·p over sampled rows; value pessimism: the critic
    /// term per update) and bonus term over sampled rows, β_t and η_t of the last batch (empty before the first).
    /// </summary>
    public void WriteColumns(IDictionary<string, double> row)
    {
        var now = clock.Elapsed.TotalSeconds;
        row[TimeColumn] = now - epochStart;
        epochStart = now;
        if (visited.Count > 0)
        {
            var sorted = visited.ToArray();
            Array.Sort(sorted);
            row["dsr/support_mean"] = sorted.Average(v => (double)v);
            row["dsr/support_p10"] = sorted[(int)(0.1 * (sorted.Length - 1))];
            row["dsr/oos_frac"] = sorted.Count(v => v < 0.5f) / (double)sorted.Length;
        }
        if (shaped)
        {
            row["dsr/penalty_mean"] = ValuePessimism
                ? criticTerms == 0 ? 0 : criticTermSum / criticTerms
                : shapedRows == 0 ? 0 : penaltySum / shapedRows;
            row["dsr/bonus_mean"] = shapedRows == 0 ? 0 : bonusSum / shapedRows;
            row["dsr/beta"] = beta;
            row["dsr/eta"] = eta;
        }
        visited.Clear();
        penaltySum = bonusSum = criticTermSum = 0;
        shapedRows = 0;
        criticTerms = 0;
    }

    /// <summary>β₀ (automatic or given), so that a resumed run keeps it.</summary>
    public void WriteState(TrainingState state) => state.Add("dsr.beta0", beta0 is double b ? [1, b] : [0, 0]);

    public void ReadState(TrainingState state)
    {
        if (!state.Contains("dsr.beta0")) return;
        var s = state.Doubles("dsr.beta0");
        beta0 = s.Length == 2 && s[0] == 1 ? s[1] : o.Beta;
    }

    public void Dispose()
    {
        if (ownsModel) model.Dispose();
    }
}
