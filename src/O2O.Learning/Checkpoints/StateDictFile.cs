using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;
using O2O.Core;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace O2O.Learning.Checkpoints;

/// <summary>
/// A PyTorch-compatible `.pt` file: a pickled state dict (`torch.load` returns a dict of tensors)
/// plus our metadata as JSON in the entry <see cref="MetaKey"/> (a uint8 tensor of UTF-8 bytes:
/// `json.loads(bytes(sd['_o2o_meta'].numpy()))` in Python). Writes are atomic.
/// </summary>
public static class StateDictFile
{
    /// <summary>State-dict key that holds the metadata JSON.</summary>
    public const string MetaKey = "_o2o_meta";

    /// <summary>Write tensors and metadata to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, JsonObject meta)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        // detach() and cpu() each make a tensor of their own; the scope frees them (2 per entry leaked per save).
        using var scope = NewDisposeScope();
        var bytes = System.Text.Encoding.UTF8.GetBytes(meta.ToJsonString());
        using var metaTensor = tensor(bytes, dtype: ScalarType.Byte);
        var dict = new Hashtable();
        foreach (var (k, v) in tensors) dict[k] = v.detach().cpu().contiguous();
        dict[MetaKey] = metaTensor;
        try
        {
            AtomicFile.WriteStream(path, s => PyTorchPickler.PickleStateDict(s, dict, leaveOpen: true));
        }
        finally
        {
            foreach (DictionaryEntry e in dict) if (!ReferenceEquals(e.Value, metaTensor)) ((Tensor)e.Value!).Dispose();
        }
    }

    /// <summary>
    /// Read a file written by <see cref="Save"/> (or any state dict saved by PyTorch). Throws
    /// <see cref="UserError"/> for a missing or unreadable file. Metadata is null when the file has none.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, JsonObject? Meta) Load(string path, string what)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        if (!File.Exists(path)) throw new UserError($"{what} '{path}' does not exist; check the path");
        Hashtable raw;
        try
        {
            PickleGuard.Check(path, what);  // nothing outside a state dict's allowlist is ever unpickled
            using var fs = File.OpenRead(path);
            raw = PyTorchUnpickler.UnpickleStateDict(fs, leaveOpen: false, skipTensorRead: false);
        }
        catch (Exception e) when (e is not UserError)
        {
            throw new UserError($"{what} '{path}' is not a readable PyTorch state dict ({e.GetType().Name}); " +
                $"point to a .pt file written by this toolkit");
        }
        var tensors = new Dictionary<string, Tensor>();
        JsonObject? meta = null;
        try
        {
            foreach (DictionaryEntry e in raw)
            {
                if (e.Key is not string key || e.Value is not Tensor t) continue;
                if (key != MetaKey) { tensors[key] = t; continue; }
                using (t)
                {
                    // A damaged file can hold anything under the key: only a byte vector of JSON is metadata.
                    if (t.dtype != ScalarType.Byte || t.dim() != 1)
                        throw new UserError($"{what} '{path}' has corrupt metadata ({t.dtype} tensor); save it again");
                    try { meta = JsonNode.Parse(t.data<byte>().ToArray())?.AsObject(); }
                    catch (Exception x) when (x is JsonException or InvalidOperationException)
                    {
                        throw new UserError($"{what} '{path}' has corrupt metadata; save it again");
                    }
                }
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return (tensors, meta);
    }
}
