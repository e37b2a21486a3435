using System.Collections;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using O2O.Core;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// The DSR checkpoint format: a plain PyTorch state dict that Python's torch.load reads, so the notebook's side can
/// rebuild and check a C#-trained DSR (tests/O2O.Learning.Tests/Dsr/TrainedFlowTests.PyTorch.cs does exactly that).
/// </summary>
internal static class DsrCheckpoint
{
    /// <summary>Bumped when a key, a tensor layout or the metadata's meaning changes; Load refuses others.</summary>
    internal const int FormatVersion = 1;

    /// <summary>State-dict key of the metadata: UTF-8 JSON bytes of <see cref="Meta"/> in a uint8 tensor.</summary>
    internal const string MetaKey = "dsr.meta_json";

    const string JointPrefix = "joint.";
    const string StatePrefix = "state.";
    const string StateMeanKey = "dsr.state_mean";
    const string StateStdKey = "dsr.state_std";
    const string FormatVersionKey = "dsr.format_version";
    const string RadiusScoreWord = "radius";
    const string LogPScoreWord = "logp";

    /// <summary>One calibration in the metadata; Score is "logp" or "radius" (tempered reuses logp's).</summary>
    internal sealed record CalibrationEntry(SupportMode Mode, string Score, SupportCalibration Calibration);

    /// <summary>The checkpoint's JSON metadata; property names are the file format, so never rename them.</summary>
    internal sealed record Meta(int FormatVersion, string EnvId, int ObsDim, int ActDim, DsrOptions Options,
        CalibrationEntry[] Calibrations,
        [property: JsonPropertyName("reward_abs_mean")] double? RewardAbsMean = null);

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Path of the diagnostics JSON beside a checkpoint: X_dsr.pt → X_dsr.json.</summary>
    internal static string DiagnosticsPath(string checkpointPath) => Path.ChangeExtension(checkpointPath, ".json");

    /// <summary>
    /// Write atomically the state dict (keys joint.*, state.*, dsr.*): networks, normalisation (dsr.state_mean,
    /// dsr.state_std) and, in dsr.meta_json, env id, dims, options and calibrations; diagnostics go to X.json.
    /// </summary>
    internal static void Save(SupportModel model, string path)
    {
        var calibrations = model.AllCalibrations
            .OrderBy(kv => kv.Key.Mode).ThenBy(kv => kv.Key.Radius)
            .Select(kv => new CalibrationEntry(kv.Key.Mode, kv.Key.Radius ? RadiusScoreWord : LogPScoreWord, kv.Value))
            .ToArray();
        var meta = new Meta(FormatVersion, model.EnvId, model.ObsDim, model.ActDim, model.Options, calibrations,
            model.RewardAbsMean);
        var metaBytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(meta, Json));
        using var scope = NewDisposeScope();
        // Insertion order is the file's key order: keep it, so that a retrained DSR is byte-identical.
        var dict = new Dictionary<string, Tensor>();
        foreach (var (k, v) in model.JointNet.state_dict()) dict[JointPrefix + k] = v;
        foreach (var (k, v) in model.StateNet.state_dict()) dict[StatePrefix + k] = v;
        dict[StateMeanKey] = model.StateMean;
        dict[StateStdKey] = model.StateStd;
        dict[FormatVersionKey] = tensor(new long[] { FormatVersion });
        dict[MetaKey] = tensor(metaBytes, ScalarType.Byte);
        AtomicFile.WriteStream(path, s => PyTorchPickler.PickleStateDict(s, dict, true));
        if (model.Diagnostics is not null) AtomicFile.WriteText(DiagnosticsPath(path), model.Diagnostics.ToJson());
    }

    /// <summary>Read a checkpoint written by <see cref="Save"/>; see <see cref="SupportModel.Load"/>.</summary>
    internal static SupportModel Load(string path, string? expectedEnvId, int? obsDim, int? actDim)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        if (!File.Exists(path))
            throw new UserError(
                $"DSR checkpoint '{path}' not found; train a DSR on this dataset first or correct the path");
        var notDsr = $"'{path}' is not a DSR checkpoint (no dsr metadata); give the path of a trained DSR checkpoint";
        Hashtable table;
        try
        {
            Checkpoints.PickleGuard.Check(path, "DSR checkpoint");  // see StateDictFile.Load
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
            var meta = ReadMeta(metaTensor, path);
            CheckMatches(meta, path, expectedEnvId, obsDim, actDim);
            if (!tensors.TryGetValue(StateMeanKey, out var mean) || !tensors.TryGetValue(StateStdKey, out var std))
                throw new UserError(notDsr);
            var model = new SupportModel(meta.Options, meta.EnvId, meta.ObsDim, meta.ActDim,
                mean.to_type(ScalarType.Float32).data<float>().ToArray(),
                std.to_type(ScalarType.Float32).data<float>().ToArray());
            try
            {
                LoadPart(model.JointNet, tensors, JointPrefix, path);
                LoadPart(model.StateNet, tensors, StatePrefix, path);
                foreach (var c in meta.Calibrations)
                    model.SetCalibration(c.Mode, c.Score == RadiusScoreWord, c.Calibration);
                model.RewardAbsMean = meta.RewardAbsMean;
            }
            catch
            {
                model.Dispose();
                throw;
            }
            return model;
        }
        catch (Exception e) when (e is NullReferenceException or ArgumentException or InvalidOperationException
            or IndexOutOfRangeException or KeyNotFoundException or FormatException)
        {
            // A damaged file can lack any field of the metadata, or hold tensors of other shapes or types.
            throw new UserError($"'{path}' has damaged dsr metadata or tensors ({e.GetType().Name}); retrain the DSR "
                + "or use an intact copy", e);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    static Meta ReadMeta(Tensor metaTensor, string path)
    {
        Meta meta;
        try
        {
            meta = JsonSerializer.Deserialize<Meta>(metaTensor.data<byte>().ToArray(), Json)
                   ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new UserError(
                $"'{path}' has unreadable dsr metadata ({e.Message}); retrain the DSR with this version", e);
        }
        if (meta.FormatVersion != FormatVersion)
            throw new UserError($"'{path}' is DSR checkpoint format {meta.FormatVersion}; this build reads format "
                + $"{FormatVersion}; retrain the DSR with this version");
        return meta;
    }

    static void CheckMatches(Meta meta, string path, string? expectedEnvId, int? obsDim, int? actDim)
    {
        const string fix = "use a DSR trained on this env's data";
        if (expectedEnvId is not null && !string.Equals(expectedEnvId, meta.EnvId, StringComparison.Ordinal))
            throw new UserError($"DSR checkpoint '{path}' was trained for env '{meta.EnvId}', but env "
                + $"'{expectedEnvId}' was requested; {fix}");
        if (obsDim is int expectedObs && expectedObs != meta.ObsDim)
            throw new UserError($"DSR checkpoint '{path}' has obs dim {meta.ObsDim}, but the environment has obs dim "
                + $"{expectedObs}; {fix}");
        if (actDim is int expectedAct && expectedAct != meta.ActDim)
            throw new UserError($"DSR checkpoint '{path}' has action dim {meta.ActDim}, but the environment has action "
                + $"dim {expectedAct}; {fix}");
    }

    static void LoadPart(nn.Module module, Dictionary<string, Tensor> all, string prefix, string path)
    {
        var part = all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        var expected = module.state_dict();
        foreach (var (k, v) in expected)
        {
            if (!part.TryGetValue(k, out var t) || !t.shape.SequenceEqual(v.shape))
                throw new UserError($"DSR checkpoint '{path}' is damaged or from another version: tensor "
                    + $"'{prefix}{k}' is missing or has the wrong shape; retrain the DSR with this version");
        }
        using (no_grad())
            foreach (var (k, v) in expected) v.copy_(part[k]);
    }
}
