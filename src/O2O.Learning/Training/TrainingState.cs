using O2O.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Training;

/// <summary>
/// The tensors of one checkpoint, by state-dict key: views of live parameters (not owned) and tensors made
/// for the file from arrays (owned, freed with the state). Reading gives one-line errors for a missing key.
/// </summary>
public sealed class TrainingState : IDisposable
{
    readonly Dictionary<string, Tensor> tensors;
    readonly List<Tensor> owned = [];

    /// <summary>An empty state to write into.</summary>
    public TrainingState() => tensors = [];

    /// <summary>A state read from a file: every tensor is owned.</summary>
    public TrainingState(Dictionary<string, Tensor> loaded)
    {
        tensors = loaded;
        owned.AddRange(loaded.Values);
    }

    /// <summary>Every tensor by key, in insertion order.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors => tensors;

    /// <summary>Add a module's parameters and buffers under <paramref name="prefix"/> (views, not copies).</summary>
    public void AddModule(string prefix, nn.Module module)
    {
        foreach (var (k, v) in module.state_dict()) tensors[prefix + k] = v;
    }

    /// <summary>Add a live tensor (not owned).</summary>
    public void AddTensor(string key, Tensor value) => tensors[key] = value;

    public void Add(string key, double[] values) => AddOwned(key, tensor(values));

    public void Add(string key, float[] values) => AddOwned(key, tensor(values));

    public void Add(string key, long[] values) => AddOwned(key, tensor(values));

    /// <summary>Unsigned 64-bit words (RNG states), stored bit for bit as int64.</summary>
    public void Add(string key, ulong[] values) => Add(key, values.Select(u => unchecked((long)u)).ToArray());

    void AddOwned(string key, Tensor value)
    {
        tensors[key] = value;
        owned.Add(value);
    }

    public bool Contains(string key) => tensors.ContainsKey(key);

    public Tensor Get(string key) => tensors.TryGetValue(key, out var t)
        ? t
        : throw new UserError($"checkpoint lacks '{key}'; it is damaged or from another architecture");

    public double[] Doubles(string key) => Get(key).data<double>().ToArray();

    public float[] Floats(string key) => Get(key).data<float>().ToArray();

    public long[] Longs(string key) => Get(key).data<long>().ToArray();

    public ulong[] Words(string key) => Longs(key).Select(l => unchecked((ulong)l)).ToArray();

    /// <summary>Copy the saved parameters and buffers under <paramref name="prefix"/> into the module.</summary>
    public void CopyInto(string prefix, nn.Module module)
    {
        using var _ = no_grad();
        foreach (var (k, v) in module.state_dict()) v.copy_(Get(prefix + k));
    }

    public void Dispose()
    {
        foreach (var t in owned) t.Dispose();
        owned.Clear();
    }
}
