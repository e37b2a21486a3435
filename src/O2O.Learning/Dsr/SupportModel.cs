using O2O.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// A trained, frozen Data Support Representation: joint model of (s, a) and state model of s, input normalisation
/// and per-mode calibration. Scores support, penalty 1 − sigma and frontier bonus 4 sigma (1 − sigma).
/// The file format lives in <see cref="DsrCheckpoint"/>.
/// </summary>
public sealed class SupportModel : IDisposable
{
    /// <summary>
    /// Default of <see cref="ChunkRows"/>: bounds one pass's activations to 1024 × width floats (512 KB per layer at
    /// width 128). The chunk size moves a 4096-pair query's time by about ±6 % (bench/O2O.Bench `dsr-probes`,
    /// docs/benchmarks.md "DSR").
    /// </summary>
    internal const int DefaultChunkRows = 1024;
    /// <summary>Rows per network pass; settable for the bench's chunking probe only.</summary>
    internal int ChunkRows { get; set; } = DefaultChunkRows;
    /// <summary>z-scored inputs are clamped here so far-away points cannot overflow float32 in the networks.</summary>
    internal const float InputClamp = 1e4f;
    /// <summary>Raw scores are guarded into [−1e9, 1e9]; NaN counts as the floor.</summary>
    internal const float ScoreFloor = -1e9f;
    /// <summary>Upper guard of raw scores (see <see cref="ScoreFloor"/>).</summary>
    internal const float ScoreCeiling = 1e9f;
    /// <summary>The state flow's mask seed is the joint flow's + 1, so the two flows' random masks differ.</summary>
    internal const int StateMaskSeedOffset = 1;

    private readonly nn.Module<Tensor, Tensor> joint;
    private readonly nn.Module<Tensor, Tensor> state;
    private readonly Tensor stateMean;
    private readonly Tensor stateStd;
    private readonly Dictionary<(SupportMode Mode, bool Radius), SupportCalibration> calibrations = new();
    private bool disposed;

    /// <summary>Environment the data came from, e.g. "Hopper-v4".</summary>
    public string EnvId { get; }
    /// <summary>State dimension.</summary>
    public int ObsDim { get; }
    /// <summary>Action dimension.</summary>
    public int ActDim { get; }
    /// <summary>Model family.</summary>
    public DsrKind Kind => Options.Kind;
    /// <summary>The support mode recommended for the online phase (<see cref="DsrOptions.Support"/>).</summary>
    public SupportMode DefaultMode => Options.Support;
    /// <summary>The options the model was trained with (its default score among them).</summary>
    public DsrOptions Options { get; }
    /// <summary>
    /// Mean |reward| of the offline data (all rows), the online shaping's scale c; null when the dataset had no
    /// rewards (the notebook's states/actions NPZ), in which case the online phase needs an explicit reward scale.
    /// Saved in the checkpoint's metadata as reward_abs_mean.
    /// </summary>
    public double? RewardAbsMean { get; internal set; }
    /// <summary>Quality report computed at the end of training (null for a loaded model unless set).</summary>
    public DsrDiagnostics? Diagnostics { get; internal set; }

    internal SupportModel(DsrOptions options, string envId, int obsDim, int actDim, float[] mean, float[] std)
    {
        Options = options;
        EnvId = envId;
        ObsDim = obsDim;
        ActDim = actDim;
        stateMean = tensor(mean);
        stateStd = tensor(std);
        var width = options.HiddenWidth;
        if (options.Kind == DsrKind.Flow)
        {
            joint = new RealNvpFlow("joint", obsDim + actDim, width, options.CouplingLayers, options.LogScaleBound,
                options.Seed);
            state = new RealNvpFlow("state", obsDim, width, options.CouplingLayers, options.LogScaleBound,
                options.Seed + StateMaskSeedOffset);
        }
        else
        {
            joint = new EnergyNet("joint", obsDim + actDim, width);
            state = new EnergyNet("state", obsDim, width);
        }
    }

    /// <summary>Dataset std per state dimension (floored at 1e-3), as used for z-scoring.</summary>
    internal float[] StateStdValues => stateStd.data<float>().ToArray();
    internal Tensor StateMean => stateMean;
    internal Tensor StateStd => stateStd;

    internal nn.Module<Tensor, Tensor> JointNet => joint;
    internal nn.Module<Tensor, Tensor> StateNet => state;
    internal IEnumerable<TorchSharp.Modules.Parameter> TrainableParameters() =>
        joint.parameters().Concat(state.parameters());

    /// <summary>Calibrations by mode and score family (radius, or logp which tempered shares).</summary>
    internal IReadOnlyDictionary<(SupportMode Mode, bool Radius), SupportCalibration> AllCalibrations => calibrations;

    internal void SetCalibration(SupportMode mode, bool radius, SupportCalibration calibration) =>
        calibrations[(mode, radius)] = calibration;

    /// <summary>The calibration sigma uses for a mode and score (the model's default score when null).</summary>
    public SupportCalibration Calibration(SupportMode mode, DsrScore? score = null)
    {
        var s = ResolveScore(score);
        return calibrations.TryGetValue((mode, s == DsrScore.Radius), out var c)
            ? c
            : throw new UserError($"this DSR checkpoint has no calibration for support mode {mode.Word()} (score "
                + $"{s.Word()}); it predates that mode: train it again with this version or use another support mode");
    }

    internal DsrScore ResolveScore(DsrScore? score)
    {
        var s = score ?? Options.Score;
        if (s == DsrScore.Radius && Kind != DsrKind.Flow)
            throw new UserError(
                "score radius needs a flow DSR (an energy model has no base space); use logp or tempered");
        return s;
    }

    internal double TemperOf(DsrScore s) => s == DsrScore.Tempered ? Options.Temper : 1.0;

    // ---- tensor-level scoring (used by training, calibration and diagnostics) ----

    /// <summary>Raw states (n × obsDim) → z-scores, clamped.</summary>
    internal Tensor Normalize(Tensor states)
    {
        using var scope = NewDisposeScope();
        return ((states - stateMean) / stateStd).clamp(MinusClampS, ClampS).MoveToOuterDisposeScope();
    }

    /// <summary>The four ingredients of every score: joint and state log p (or −E) and base-space radii².</summary>
    internal sealed class ScoreParts : IDisposable
    {
        public Tensor? JointLogP, JointR2, StateLogP, StateR2;
        public void Dispose()
        {
            JointLogP?.Dispose(); JointR2?.Dispose(); StateLogP?.Dispose(); StateR2?.Dispose();
        }
    }

    /// <summary>
    /// Evaluate the networks on normalised states and raw actions (actions may be null when only the state part is
    /// needed).
    /// </summary>
    internal ScoreParts Parts(Tensor zs, Tensor? actions, bool needJoint, bool needState)
    {
        using var scope = NewDisposeScope();
        var p = new ScoreParts();
        if (needJoint)
        {
            if (actions is null) throw new ArgumentNullException(nameof(actions));
            var x = cat([zs, actions.clamp(MinusClampS, ClampS)], 1);
            if (joint is RealNvpFlow jf)
            {
                var (lp, r2) = jf.Evaluate(x);
                p.JointLogP = Guard(lp).MoveToOuterDisposeScope();
                p.JointR2 = Guard(r2).MoveToOuterDisposeScope();
            }
            else p.JointLogP = Guard(-joint.forward(x)).MoveToOuterDisposeScope();
        }
        if (needState)
        {
            if (state is RealNvpFlow sf)
            {
                var (lp, r2) = sf.Evaluate(zs);
                p.StateLogP = Guard(lp).MoveToOuterDisposeScope();
                p.StateR2 = Guard(r2).MoveToOuterDisposeScope();
            }
            else p.StateLogP = Guard(-state.forward(zs)).MoveToOuterDisposeScope();
        }
        return p;
    }

    // Static scalars: TorchSharp frees implicitly converted ones in the finalizer, possibly while libtorch reads
    // them (README "Scalars in TorchSharp"); the online loop calls this every epoch for hours.
    static readonly Scalar FloorS = ScoreFloor, CeilingS = ScoreCeiling;
    static readonly Scalar ClampS = InputClamp, MinusClampS = -InputClamp;
    // Radius score −‖z‖²/2: the log-density of the standard normal base without its constant.
    static readonly Scalar MinusHalfS = -0.5;

    static Tensor Guard(Tensor t) =>
        t.nan_to_num(nan: ScoreFloor, posinf: ScoreCeiling, neginf: ScoreFloor).clamp(FloorS, CeilingS);

    /// <summary>
    /// Combine parts into the raw score g of a mode (conditional = joint − state, exactly; gated = joint −
    /// max(state, <paramref name="stateBoundary"/>), the state score's tau for the same score, see
    /// <see cref="StateBoundary"/>).
    /// </summary>
    internal static Tensor Combine(ScoreParts p, SupportMode mode, DsrScore score, double stateBoundary = double.NaN)
    {
        var radius = score == DsrScore.Radius;
        Tensor Joint() => radius ? p.JointR2!.mul(MinusHalfS) : p.JointLogP!.alias();
        Tensor State() => radius ? p.StateR2!.mul(MinusHalfS) : p.StateLogP!.alias();
        switch (mode)
        {
            case SupportMode.Joint: return Joint();
            case SupportMode.State: return State();
            case SupportMode.Gated:
                if (double.IsNaN(stateBoundary))
                    throw new ArgumentException("gated support needs the state boundary", nameof(stateBoundary));
                using (Scalar q = stateBoundary)
                using (var j = Joint())
                using (var s = State())
                using (var floored = s.clamp_min(q))
                    return j - floored;
            default:
                using (var j = Joint())
                using (var s = State())
                    return j - s;
        }
    }

    /// <summary>
    /// q_s of the gated mode: the state score's calibrated boundary tau (state sigma 0.5) for this score; NaN for
    /// the other modes. The state calibration is made before the gated one (enum order), so this exists when needed.
    /// </summary>
    internal double StateBoundary(SupportMode mode, DsrScore score) =>
        mode == SupportMode.Gated ? Calibration(SupportMode.State, score).Tau : double.NaN;

    /// <summary>
    /// Combine with this model's state boundary (see <see cref="Combine(ScoreParts, SupportMode, DsrScore, double)"/>).
    /// </summary>
    internal Tensor CombineFor(ScoreParts p, SupportMode mode, DsrScore score) =>
        Combine(p, mode, score, StateBoundary(mode, score));

    internal static (bool Joint, bool State) Needs(SupportMode mode) => mode switch
    {
        SupportMode.Joint => (true, false),
        SupportMode.State => (false, true),
        _ => (true, true),
    };

    /// <summary>Raw score of raw (unnormalised) state and action tensors.</summary>
    internal Tensor RawScoreTensor(Tensor states, Tensor? actions, SupportMode mode, DsrScore score)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (nj, ns) = Needs(mode);
        var zs = Normalize(states);
        using var parts = Parts(zs, actions, nj, ns);
        return CombineFor(parts, mode, score).MoveToOuterDisposeScope();
    }

    // ---- public batched scoring ----

    /// <summary>
    /// Raw score g of n pairs (states n × ObsDim, actions n × ActDim, row-major; actions may be empty for
    /// <see cref="SupportMode.State"/>). Finite for any input: guarded into [−1e9, 1e9].
    /// </summary>
    public void RawScore(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode,
        Span<float> scoreOut, DsrScore? score = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var s = ResolveScore(score);
        CheckShapes(states, actions, n, mode, scoreOut.Length);
        var (nj, _) = Needs(mode);
        for (var start = 0; start < n; start += ChunkRows)
        {
            var m = Math.Min(ChunkRows, n - start);
            using var scope = NewDisposeScope();
            var st = empty(m, ObsDim);
            st.data<float>().CopyFrom(states.Slice(start * ObsDim, m * ObsDim), 0, 0);
            Tensor? at = null;
            if (nj)
            {
                at = empty(m, ActDim);
                at.data<float>().CopyFrom(actions.Slice(start * ActDim, m * ActDim), 0, 0);
            }
            var g = RawScoreTensor(st, at, mode, s);
            g.data<float>().CopyTo(scoreOut.Slice(start, m), 0, 0);
        }
    }

    /// <summary>
    /// Support sigma in (0, 1) of n pairs: ≈0.95 at the held-out median, 0.5 at tau = q_rho, → 0 far outside.
    /// </summary>
    public void Support(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode,
        Span<float> sigmaOut, DsrScore? score = null)
    {
        var s = ResolveScore(score);
        RawScore(states, actions, n, mode, sigmaOut, s);
        var c = Calibration(mode, s);
        var t = TemperOf(s);
        for (var i = 0; i < n; i++) sigmaOut[i] = (float)c.Sigma(sigmaOut[i], t);
    }

    /// <summary>Pessimism signal p = 1 − sigma of n pairs.</summary>
    public void Penalty(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode,
        Span<float> penaltyOut, DsrScore? score = null)
    {
        Support(states, actions, n, mode, penaltyOut, score);
        for (var i = 0; i < n; i++) penaltyOut[i] = 1f - penaltyOut[i];
    }

    /// <summary>
    /// Frontier bonus b = 4 sigma (1 − sigma) of n pairs: 1 on the boundary, 0 deep inside and far outside.
    /// </summary>
    public void Bonus(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode,
        Span<float> bonusOut, DsrScore? score = null)
    {
        Support(states, actions, n, mode, bonusOut, score);
        for (var i = 0; i < n; i++) bonusOut[i] = 4f * bonusOut[i] * (1f - bonusOut[i]);
    }

    void CheckShapes(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode, int outLength)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n));
        if (states.Length != n * ObsDim)
            throw new ArgumentException($"states has {states.Length} values; expected n × obsDim = {n} × {ObsDim}");
        if (mode != SupportMode.State && actions.Length != n * ActDim)
            throw new ArgumentException($"actions has {actions.Length} values; expected n × actDim = {n} × {ActDim}");
        if (outLength < n) throw new ArgumentException($"output has room for {outLength} values; need {n}");
    }

    // ---- checkpoint (format in DsrCheckpoint) ----

    /// <summary>Path of the diagnostics JSON beside a checkpoint: X_dsr.pt → X_dsr.json.</summary>
    public static string DiagnosticsPath(string checkpointPath) => DsrCheckpoint.DiagnosticsPath(checkpointPath);

    /// <summary>
    /// Write the checkpoint atomically: a PyTorch state dict that Python's torch.load reads (networks,
    /// normalisation, and as JSON the env id, dims, options and calibrations); diagnostics go to X.json beside it.
    /// </summary>
    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        DsrCheckpoint.Save(this, path);
    }

    /// <summary>
    /// Load a checkpoint written by <see cref="Save"/>; checks the env id and dims when given.
    /// Throws <see cref="UserError"/> for a missing file, a file that is not a DSR checkpoint, or a mismatch.
    /// </summary>
    public static SupportModel Load(string path, string? expectedEnvId = null, int? obsDim = null, int? actDim = null)
        => DsrCheckpoint.Load(path, expectedEnvId, obsDim, actDim);

    /// <summary>Free the native tensors.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        joint.Dispose();
        state.Dispose();
        stateMean.Dispose();
        stateStd.Dispose();
    }
}
