using System.Text.Json.Serialization;
using O2O.Core;

namespace O2O.Learning.Dsr;

/// <summary>Which model family scores support: a normalising flow or a contrastive energy network.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DsrKind>))]
public enum DsrKind
{
    /// <summary>RealNVP affine-coupling flows, maximum likelihood; score log p.</summary>
    Flow,
    /// <summary>Energy networks trained with InfoNCE against synthetic negatives; score −E.</summary>
    Energy,
}

/// <summary>What the support score measures.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SupportMode>))]
public enum SupportMode
{
    /// <summary>g = log p(s, a): punishes unusual actions and unusual states.</summary>
    Joint,
    /// <summary>g = log p(s, a) − log p(s) = log p(a | s): punishes odd actions where the data has been.</summary>
    Conditional,
    /// <summary>g = log p(s): state novelty only.</summary>
    State,
    /// <summary>
    /// g = log p(s, a) − max(log p(s), q_s), q_s = the state score's calibrated boundary tau: exactly conditional
    /// while the state is inside the data's state support, and joint (shifted by q_s) once it leaves it, so unusual
    /// actions are judged per state where the data has been and novel states still lower the support.
    /// </summary>
    Gated,
}

/// <summary>
/// Which raw score is calibrated into sigma; the alternatives to log p exist because log p can fall like a wall.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<DsrScore>))]
public enum DsrScore
{
    /// <summary>The model's log-density (flow) or −E (energy).</summary>
    LogP,
    /// <summary>
    /// Flow only: −‖z‖²/2 in the base space (log p without the log-det term), which grows quadratically, not
    /// explosively.
    /// </summary>
    Radius,
    /// <summary>
    /// log p with the calibration temperature multiplied by <see cref="DsrOptions.Temper"/>: sigma stays 0.5 at tau but
    /// falls t times more slowly.
    /// </summary>
    Tempered,
}

/// <summary>DsrKind.Parse: word → kind, with a one-line error listing the valid words.</summary>
public static class DsrKindParsing
{
    extension(DsrKind)
    {
        /// <summary>
        /// Parse 'flow' or 'energy' (case-insensitive); an error names <see cref="DsrOptions.Kind"/>.
        /// </summary>
        public static DsrKind Parse(string text) =>
            DsrParsing.ParseWord<DsrKind>(text, nameof(DsrOptions.Kind), DsrParsing.KindWords);
    }
}

/// <summary>SupportMode.Parse: word → mode, with a one-line error listing the valid words.</summary>
public static class SupportModeParsing
{
    extension(SupportMode)
    {
        /// <summary>
        /// Parse 'joint', 'conditional', 'state' or 'gated' (case-insensitive); an error names the options'
        /// Support property (<see cref="DsrOptions.Support"/>, and the online shaping's).
        /// </summary>
        public static SupportMode Parse(string text) =>
            DsrParsing.ParseWord<SupportMode>(text, nameof(DsrOptions.Support), SupportMode.Words);

        /// <summary>The words of the modes, in enum order.</summary>
        public static string[] Words => ["joint", "conditional", "state", "gated"];
    }
}

/// <summary>DsrScore.Parse: word → score, with a one-line error listing the valid words.</summary>
public static class DsrScoreParsing
{
    extension(DsrScore)
    {
        /// <summary>
        /// Parse 'logp', 'radius' or 'tempered' (case-insensitive); an error names <see cref="DsrOptions.Score"/>.
        /// </summary>
        public static DsrScore Parse(string text) =>
            DsrParsing.ParseWord<DsrScore>(text, nameof(DsrOptions.Score), DsrParsing.ScoreWords);
    }
}

/// <summary>
/// The words of the DSR enums: lower-case names, used in logs, in the diagnostics JSON and by front ends.
/// </summary>
public static class DsrParsing
{
    internal static readonly string[] KindWords = ["flow", "energy"];
    internal static readonly string[] ScoreWords = ["logp", "radius", "tempered"];

    /// <summary>
    /// The word's value; an unknown word is an <see cref="OptionError"/> naming <paramref name="property"/>.
    /// </summary>
    internal static T ParseWord<T>(string? text, string property, string[] valid) where T : struct, Enum
    {
        var word = (text ?? "").Trim();
        for (var i = 0; i < valid.Length; i++)
            if (string.Equals(word, valid[i], StringComparison.OrdinalIgnoreCase))
                return Enum.GetValues<T>()[i];
        throw new OptionError($"{property} '{text}' is not valid; expected one of: {string.Join(", ", valid)}",
            property);
    }

    /// <summary>The word of a value (the inverse of Parse).</summary>
    public static string Word(this DsrKind k) => k.ToString().ToLowerInvariant();

    /// <summary>The word of a value (the inverse of Parse).</summary>
    public static string Word(this SupportMode m) => m.ToString().ToLowerInvariant();

    /// <summary>The word of a value (the inverse of Parse).</summary>
    public static string Word(this DsrScore s) => s.ToString().ToLowerInvariant();
}

/// <summary>Hyper-parameters of DSR training; defaults follow docs/method.md.</summary>
public sealed record DsrOptions
{
    /// <summary>Model family: flow (default) or energy.</summary>
    public DsrKind Kind { get; init; } = DsrKind.Flow;

    /// <summary>
    /// The support mode the online phase uses unless told otherwise (every mode is calibrated and saved). Gated by
    /// default: on real Hopper data it separates unusual actions exactly as well as conditional, detects novel states
    /// as well as joint, and its support curve falls in both actions and states; online (5 PPO seeds × 3 DSRs) it
    /// scored the same as conditional (docs/results.md §4 and §5).
    /// </summary>
    public SupportMode Support { get; init; } = SupportMode.Gated;

    /// <summary>Passes over the training split.</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Minibatch size (pairs per Adam step).</summary>
    public int BatchSize { get; init; } = 2048;

    /// <summary>Adam learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>
    /// Fraction of transitions held out, by whole episodes, for calibration and diagnostics; never trained on.
    /// </summary>
    public double Holdout { get; init; } = 0.05;

    /// <summary>Boundary quantile: tau = q_rho of held-out scores, where sigma = 0.5. Must lie in (0, 0.5).</summary>
    public double Rho { get; init; } = 0.05;

    /// <summary>
    /// Seed of libtorch's generator and of the split; 1 by default, like every other seed of the project.
    /// </summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Width of the hidden layers of every conditioner / energy network; null = the kind's default,
    /// <see cref="DefaultHidden"/>. Training stores the resolved width, so a checkpoint never depends on a default.
    /// </summary>
    public int? Hidden { get; init; }

    /// <summary>
    /// Default widths: 64 for a flow's conditioners — on medium-like Hopper data (3 seeds) as good as 128 in every
    /// AUROC, at half the query time and 3× the training speed (docs/results.md §4, docs/benchmarks.md "DSR") —
    /// and 128 for energy networks.
    /// </summary>
    public static int DefaultHidden(DsrKind kind) => kind == DsrKind.Flow ? 64 : 128;

    /// <summary>The width in effect: <see cref="Hidden"/> or the kind's default.</summary>
    [JsonIgnore]
    public int HiddenWidth => Hidden ?? DefaultHidden(Kind);

    /// <summary>Number of affine coupling layers per flow.</summary>
    public int CouplingLayers { get; init; } = 8;

    /// <summary>Bound on each coupling's log-scale: s = b·tanh(raw/b), so one layer scales by at most e^b.</summary>
    public double LogScaleBound { get; init; } = 2.0;

    /// <summary>
    /// Std of Gaussian dequantisation noise added to actions while training (actions clipped at ±1 are point masses).
    /// </summary>
    public double ActionNoise { get; init; } = 0.05;

    /// <summary>
    /// Std of noise added to z-scored states while training (constant state dimensions would otherwise be point
    /// masses).
    /// </summary>
    public double StateNoise { get; init; } = 0.01;

    /// <summary>Which raw score sigma is calibrated on: logp (default), radius (flow only) or tempered.</summary>
    public DsrScore Score { get; init; } = DsrScore.LogP;

    /// <summary>
    /// Temperature factor t of the tempered score (sigma at the held-out median is logistic(ln 19 / t)).
    /// </summary>
    public double Temper { get; init; } = 4.0;

    /// <summary>
    /// Negatives per positive pair in the energy model's InfoNCE loss (split among the negative families).
    /// </summary>
    public int EnergyNegatives { get; init; } = 16;

    /// <summary>
    /// Maximum held-out pairs used for the diagnostics (support curve, AUROC); a random subset when larger.
    /// </summary>
    public int DiagnosticsMaxPairs { get; init; } = 4096;

    /// <summary>
    /// Threads training runs on: 0 keeps the process's libtorch setting (the command line sets every core). A flow
    /// trains its two networks concurrently from 2 threads on, every operation single-threaded, so its model is the
    /// same on any count; the energy model uses libtorch's intra-op threads. A trained model's options hold the
    /// count it ran with, so the checkpoint records it.
    /// </summary>
    public int TorchThreads { get; init; }

    /// <summary>
    /// Throw an <see cref="OptionError"/> naming the first invalid property (as spelled here), with its value and
    /// the valid range.
    /// </summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
            throw Invalid(nameof(Kind),
                $"Kind {(int)Kind} is not valid; expected one of: {Words(DsrParsing.KindWords)}");
        if (!Enum.IsDefined(Support))
            throw Invalid(nameof(Support),
                $"Support {(int)Support} is not valid; expected one of: {Words(SupportMode.Words)}");
        if (!Enum.IsDefined(Score))
            throw Invalid(nameof(Score),
                $"Score {(int)Score} is not valid; expected one of: {Words(DsrParsing.ScoreWords)}");
        if (Epochs < 1) throw Invalid(nameof(Epochs), $"Epochs must be at least 1, got {Epochs}");
        if (BatchSize < 2) throw Invalid(nameof(BatchSize), $"BatchSize must be at least 2, got {BatchSize}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw Invalid(nameof(LearningRate), $"LearningRate must be a positive number, got {LearningRate}");
        if (!(Holdout > 0 && Holdout < 0.5))
            throw Invalid(nameof(Holdout), $"Holdout must be in (0, 0.5), got {Holdout}");
        if (!(Rho > 0 && Rho < 0.5))
            throw Invalid(nameof(Rho),
                $"Rho must be in (0, 0.5), got {Rho} (tau = q_rho must sit below the median)");
        if (Hidden is < 2) throw Invalid(nameof(Hidden), $"Hidden must be at least 2, got {Hidden}");
        if (CouplingLayers < 2)
            throw Invalid(nameof(CouplingLayers),
                $"CouplingLayers must be at least 2, got {CouplingLayers} (each dimension must be transformed)");
        if (!(LogScaleBound > 0) || double.IsInfinity(LogScaleBound))
            throw Invalid(nameof(LogScaleBound), $"LogScaleBound must be a positive number, got {LogScaleBound}");
        if (!(ActionNoise >= 0) || double.IsInfinity(ActionNoise))
            throw Invalid(nameof(ActionNoise), $"ActionNoise must be zero or a positive number, got {ActionNoise}");
        if (!(StateNoise >= 0) || double.IsInfinity(StateNoise))
            throw Invalid(nameof(StateNoise), $"StateNoise must be zero or a positive number, got {StateNoise}");
        if (!(Temper >= 1) || double.IsInfinity(Temper))
            throw Invalid(nameof(Temper), $"Temper must be at least 1, got {Temper}");
        if (EnergyNegatives < 4)
            throw Invalid(nameof(EnergyNegatives),
                $"EnergyNegatives must be at least 4 (one per negative family), got {EnergyNegatives}");
        if (TorchThreads < 0)
            throw Invalid(nameof(TorchThreads), $"TorchThreads must be 0 or a positive count, got {TorchThreads}");
        if (DiagnosticsMaxPairs < 100)
            throw Invalid(nameof(DiagnosticsMaxPairs),
                $"DiagnosticsMaxPairs must be at least 100, got {DiagnosticsMaxPairs}");
        if (Kind == DsrKind.Energy && Score == DsrScore.Radius)
            throw new OptionError("Score radius needs Kind flow (an energy model has no base space); "
                + "use Score logp or tempered, or Kind flow", nameof(Score), nameof(Kind));
    }

    static string Words(string[] words) => string.Join(", ", words);

    static OptionError Invalid(string property, FormattableString message) =>
        new(FormattableString.Invariant(message), property);
}
