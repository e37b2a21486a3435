using System.Collections;
using System.Text;
using System.Text.Json;
using O2O.Core;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// A trained, frozen Data Support Representation: joint model of (s, a) and state model of s, input
/// normalisation and per-mode calibration. Scores support, penalty 1 − sigma and frontier bonus 4 sigma (1 − sigma).
/// </summary>
public sealed class SupportModel : IDisposable
{
    internal const int FormatVersion = 1;
    internal const string MetaKey = "dsr.meta_json";
    /// <summary>
    /// Rows per network pass: bounds one pass's activations to 1024 × width floats (512 KB per layer at width 128).
    /// The chunk size moves a 4096-pair query's time by about ±6 % (bench/O2O.Bench `dsr-probes`, docs/benchmarks.md "DSR").
    /// </summary>
    internal int ChunkRows { get; set; } = 1024; // settable for the bench's chunking probe only
    /// <summary>z-scored inputs are clamped here so far-away points cannot overflow float32 inside the networks.</summary>
    internal const float InputClamp = 1e4f;
    /// <summary>Raw scores are guarded into [−1e9, 1e9]; NaN counts as the floor.</summary>
    internal const float ScoreFloor = -1e9f;
    internal const float ScoreCeiling = 1e9f;

    private readonly nn.Module<Tensor, Tensor> joint;
    private readonly nn.Module<Tensor, Tensor> state;
    private readonly Tensor stateMean;
    private readonly Tensor stateStd;
    private readonly Dictionary<(SupportMode, bool Radius), SupportCalibration> calibrations = new();
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
        if (options.Kind == DsrKind.Flow)
        {
            joint = new RealNvpFlow("joint", obsDim + actDim, options.HiddenWidth, options.CouplingLayers, options.LogScaleBound, options.Seed);
            state = new RealNvpFlow("state", obsDim, options.HiddenWidth, options.CouplingLayers, options.LogScaleBound, options.Seed + 1);
        }
        else
        {
            joint = new EnergyNet("joint", obsDim + actDim, options.HiddenWidth);
            state = new EnergyNet("state", obsDim, options.HiddenWidth);
        }
    }

    /// <summary>Dataset std per state dimension (floored at 1e-3), as used for z-scoring.</summary>
    internal float[] StateStdValues => stateStd.data<float>().ToArray();

    internal nn.Module<Tensor, Tensor> JointNet => joint;
    internal nn.Module<Tensor, Tensor> StateNet => state;
    internal IEnumerable<TorchSharp.Modules.Parameter> TrainableParameters() => joint.parameters().Concat(state.parameters());

    internal void SetCalibration(SupportMode mode, bool radius, SupportCalibration c) => calibrations[(mode, radius)] = c;

    /// <summary>The calibration sigma uses for a mode and score (the model's default score when null).</summary>
    public SupportCalibration Calibration(SupportMode mode, DsrScore? score = null)
    {
        var s = ResolveScore(score);
        return calibrations.TryGetValue((mode, s == DsrScore.Radius), out var c)
            ? c
            : throw new UserError($"this DSR checkpoint has no calibration for support mode {mode.Word()} (score {s.Word()}); it predates that mode: train it again with 'o2o train-dsr' or choose another --support");
    }

    internal DsrScore ResolveScore(DsrScore? score)
    {
        var s = score ?? Options.Score;
        if (s == DsrScore.Radius && Kind != DsrKind.Flow)
            throw new UserError("score radius needs a flow DSR (an energy model has no base space); use logp or tempered");
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

    /// <summary>The four ingredients of every score: joint and state log p (or −E) and base-space squared radii.</summary>
    internal sealed class ScoreParts : IDisposable
    {
        public Tensor? JointLogP, JointR2, StateLogP, StateR2;
        public void Dispose()
        {
            JointLogP?.Dispose(); JointR2?.Dispose(); StateLogP?.Dispose(); StateR2?.Dispose();
        }
    }

    /// <summary>Evaluate the networks on normalised states and raw actions (actions may be null when only the state part is needed).</summary>
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
    // them (docs/architecture notes); the online loop calls this every epoch for hours.
    static readonly Scalar FloorS = ScoreFloor, CeilingS = ScoreCeiling, ClampS = InputClamp, MinusClampS = -InputClamp, MinusHalfS = -0.5;

    static Tensor Guard(Tensor t) => t.nan_to_num(nan: ScoreFloor, posinf: ScoreCeiling, neginf: ScoreFloor).clamp(FloorS, CeilingS);

    /// <summary>
    /// Combine parts into the raw score g of a mode (conditional = joint − state, exactly; gated = joint −
    /// max(state, <paramref name="stateBoundary"/>), the state score's tau for the same score, see <see cref="StateBoundary"/>).
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
                if (double.IsNaN(stateBoundary)) throw new ArgumentException("gated support needs the state boundary", nameof(stateBoundary));
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

    /// <summary>Combine with this model's state boundary (see <see cref="Combine(ScoreParts, SupportMode, DsrScore, double)"/>).</summary>
    internal Tensor CombineFor(ScoreParts p, SupportMode mode, DsrScore score) => Combine(p, mode, score, StateBoundary(mode, score));

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
    public void RawScore(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode, Span<float> scoreOut, DsrScore? score = null)
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

    /// <summary>Support sigma in (0, 1) of n pairs: ≈0.95 at the held-out median, 0.5 at tau = q_rho, → 0 far outside.</summary>
    public void Support(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode, Span<float> sigmaOut, DsrScore? score = null)
    {
        var s = ResolveScore(score);
        RawScore(states, actions, n, mode, sigmaOut, s);
        var c = Calibration(mode, s);
        var t = TemperOf(s);
        for (var i = 0; i < n; i++) sigmaOut[i] = (float)c.Sigma(sigmaOut[i], t);
    }

    /// <summary>Pessimism signal p = 1 − sigma of n pairs.</summary>
    public void Penalty(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode, Span<float> penaltyOut, DsrScore? score = null)
    {
        Support(states, actions, n, mode, penaltyOut, score);
        for (var i = 0; i < n; i++) penaltyOut[i] = 1f - penaltyOut[i];
    }

    /// <summary>Frontier bonus b = 4 sigma (1 − sigma) of n pairs: 1 on the boundary, 0 deep inside and far outside.</summary>
    public void Bonus(ReadOnlySpan<float> states, ReadOnlySpan<float> actions, int n, SupportMode mode, Span<float> bonusOut, DsrScore? score = null)
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

    // ---- checkpoint ----

    internal sealed record CalibrationEntry(SupportMode Mode, string Score, SupportCalibration Calibration);

    internal sealed record Meta(int FormatVersion, string EnvId, int ObsDim, int ActDim, DsrOptions Options, CalibrationEntry[] Calibrations,
        [property: System.Text.Json.Serialization.JsonPropertyName("reward_abs_mean")] double? RewardAbsMean = null);

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Path of the diagnostics JSON beside a checkpoint: X_dsr.pt → X_dsr.json.</summary>
    public static string DiagnosticsPath(string checkpointPath) => Path.ChangeExtension(checkpointPath, ".json");

    /// <summary>
    /// Write the checkpoint atomically: a PyTorch state dict (keys joint.*, state.*, dsr.*) that Python's torch.load
    /// reads, holding the networks, the normalisation (dsr.state_mean, dsr.state_std) and, as UTF-8 JSON bytes in
    /// dsr.meta_json, the env id, dims, options and calibrations. Diagnostics, when present, go to X.json beside it.
    /// </summary>
    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var meta = new Meta(FormatVersion, EnvId, ObsDim, ActDim, Options,
            calibrations.OrderBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Radius)
                .Select(kv => new CalibrationEntry(kv.Key.Item1, kv.Key.Radius ? "radius" : "logp", kv.Value)).ToArray(),
            RewardAbsMean);
        var metaBytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(meta, Json));
        using var scope = NewDisposeScope();
        var dict = new Dictionary<string, Tensor>();
        foreach (var (k, v) in joint.state_dict()) dict["joint." + k] = v;
        foreach (var (k, v) in state.state_dict()) dict["state." + k] = v;
        dict["dsr.state_mean"] = stateMean;
        dict["dsr.state_std"] = stateStd;
        dict["dsr.format_version"] = tensor(new long[] { FormatVersion });
        dict[MetaKey] = tensor(metaBytes, ScalarType.Byte);
        AtomicFile.WriteStream(path, s => PyTorchPickler.PickleStateDict(s, dict, true));
        if (Diagnostics is not null) AtomicFile.WriteText(DiagnosticsPath(path), Diagnostics.ToJson());
    }

    /// <summary>
    /// Load a checkpoint written by <see cref="Save"/>; checks the env id and dims when given.
    /// Throws <see cref="UserError"/> for a missing file, a file that is not a DSR checkpoint, or a mismatch.
    /// </summary>
    public static SupportModel Load(string path, string? expectedEnvId = null, int? obsDim = null, int? actDim = null)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        if (!File.Exists(path))
            throw new UserError($"DSR checkpoint '{path}' not found; train one with 'o2o train-dsr' or fix --dsr_path");
        var notDsr = $"'{path}' is not a DSR checkpoint (no dsr metadata); train one with 'o2o train-dsr'";
        Hashtable table;
        try
        {
            using var fs = File.OpenRead(path);
            table = PyTorchUnpickler.UnpickleStateDict(fs, false, false);
        }
        catch (Exception e) when (e is not UserError and not OutOfMemoryException)
        {
            throw new UserError(notDsr, e);
        }
        var tensors = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry kv in table)
            if (kv.Key is string k && kv.Value is Tensor t) tensors[k] = t;
        try
        {
            if (!tensors.TryGetValue(MetaKey, out var metaTensor) || metaTensor.dtype != ScalarType.Byte)
                throw new UserError(notDsr);
            Meta meta;
            try
            {
                meta = JsonSerializer.Deserialize<Meta>(metaTensor.data<byte>().ToArray(), Json)
                       ?? throw new JsonException("empty");
            }
            catch (JsonException e)
            {
                throw new UserError($"'{path}' has unreadable dsr metadata ({e.Message}); train it again with 'o2o train-dsr'", e);
            }
            if (meta.FormatVersion != FormatVersion)
                throw new UserError($"'{path}' is DSR checkpoint format {meta.FormatVersion}; this build reads format {FormatVersion}; train it again with 'o2o train-dsr'");
            if (expectedEnvId is not null && !string.Equals(expectedEnvId, meta.EnvId, StringComparison.Ordinal))
                throw new UserError($"DSR checkpoint '{path}' was trained for env '{meta.EnvId}', but env '{expectedEnvId}' was requested; use a DSR trained on this env's data");
            if (obsDim is int od && od != meta.ObsDim)
                throw new UserError($"DSR checkpoint '{path}' has obs dim {meta.ObsDim}, but the environment has obs dim {od}; use a DSR trained on this env's data");
            if (actDim is int ad && ad != meta.ActDim)
                throw new UserError($"DSR checkpoint '{path}' has action dim {meta.ActDim}, but the environment has action dim {ad}; use a DSR trained on this env's data");
            if (!tensors.TryGetValue("dsr.state_mean", out var mean) || !tensors.TryGetValue("dsr.state_std", out var std))
                throw new UserError(notDsr);
            var model = new SupportModel(meta.Options, meta.EnvId, meta.ObsDim, meta.ActDim,
                mean.to_type(ScalarType.Float32).data<float>().ToArray(), std.to_type(ScalarType.Float32).data<float>().ToArray());
            try
            {
                LoadPart(model.joint, tensors, "joint.", path);
                LoadPart(model.state, tensors, "state.", path);
                foreach (var c in meta.Calibrations) model.SetCalibration(c.Mode, c.Score == "radius", c.Calibration);
                model.RewardAbsMean = meta.RewardAbsMean;
            }
            catch
            {
                model.Dispose();
                throw;
            }
            return model;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    static void LoadPart(nn.Module module, Dictionary<string, Tensor> all, string prefix, string path)
    {
        var part = all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        var expected = module.state_dict();
        foreach (var (k, v) in expected)
        {
            if (!part.TryGetValue(k, out var t) || !t.shape.SequenceEqual(v.shape))
                throw new UserError($"DSR checkpoint '{path}' is damaged or from another version: tensor '{prefix}{k}' is missing or has the wrong shape; train it again with 'o2o train-dsr'");
        }
        using (no_grad())
            foreach (var (k, v) in expected) v.copy_(part[k]);
    }

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
