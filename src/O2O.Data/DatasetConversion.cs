using O2O.Core;

namespace O2O.Data;

/// <summary>Options of the notebook's <c>h5_to_npz</c>.</summary>
/// <param name="InputPath">D4RL HDF5 (or an NPZ) to read.</param>
/// <param name="OutputPath">NPZ to write (atomically).</param>
/// <param name="MaxSamples">Keep at most this many rows, a random subset without replacement; null keeps all, in
/// order.</param>
/// <param name="Seed">Seed of the subset's permutation.</param>
/// <param name="AllowNonFinite">Accept NaN/Inf in the data instead of refusing.</param>
public sealed record ConvertOptions(
    string InputPath,
    string OutputPath,
    int? MaxSamples = null,
    int Seed = 0,
    bool AllowNonFinite = false);

/// <summary>What a conversion wrote.</summary>
public sealed record ConvertResult(
    string OutputPath,
    int Rows,
    int SourceRows,
    int ObsDim,
    int ActDim,
    IReadOnlyList<string> Keys);

/// <summary>The notebook's conversion of a D4RL HDF5 file to the NPZ the training scripts read.</summary>
public static class DatasetConversion
{
    /// <summary>
    /// <c>h5_to_npz</c>: write <c>states</c> and <c>actions</c> (float32, rows × width) like
    /// <c>np.savez_compressed(npz, states=obs, actions=acts)</c>, plus <c>rewards</c>, <c>next_states</c>,
    /// <c>terminals</c> and <c>timeouts</c> when the source has them (extra keys the notebook's loaders ignore).
    /// With MaxSamples &lt; rows, rows = the first MaxSamples entries of a seeded permutation of all rows
    /// (like <c>np.random.permutation(n)[:N]</c>, in that shuffled order, but from .NET's seeded
    /// <see cref="Random"/>, so not numpy's numbers). The output is written atomically.
    /// </summary>
    /// <exception cref="UserError">Unreadable input, NaN/Inf without AllowNonFinite, or an unwritable
    /// output.</exception>
    public static ConvertResult H5ToNpz(ConvertOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.MaxSamples is <= 0)
            throw new OptionError(
                $"MaxSamples must be positive, got {o.MaxSamples}; omit it to keep every row", nameof(o.MaxSamples));
        if (Path.GetFullPath(o.InputPath) == Path.GetFullPath(o.OutputPath))
            throw new OptionError(
                $"the OutputPath '{o.OutputPath}' is the input file; choose another OutputPath", nameof(o.OutputPath));
        AtomicFile.EnsureWritableFolder(o.OutputPath, "output");
        var ds = DatasetIO.Load(o.InputPath, o.AllowNonFinite);
        var source = ds.Count;
        if (o.MaxSamples is { } max && max < ds.Count) ds = ds.Subset(SeededPermutationPrefix(ds.Count, max, o.Seed));
        DatasetIO.SaveNpz(o.OutputPath, ds);
        var keys = new List<string> { "states", "actions" };
        if (ds.Rewards is not null) keys.Add("rewards");
        if (ds.NextObservations is not null) keys.Add("next_states");
        if (ds.Terminals is not null) keys.Add("terminals");
        if (ds.Timeouts is not null) keys.Add("timeouts");
        return new ConvertResult(o.OutputPath, ds.Count, source, ds.ObsDim, ds.ActDim, keys);
    }

    /// <summary>
    /// The first <paramref name="k"/> entries of a uniformly random permutation of 0..n-1 for <paramref name="seed"/>
    /// (forward Fisher–Yates stopped after k swaps: the prefix is the same as the full shuffle's).
    /// </summary>
    public static int[] SeededPermutationPrefix(int n, int k, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(k, n);
        var rng = new Random(seed);
        var p = new int[n];
        for (var i = 0; i < n; i++) p[i] = i;
        for (var i = 0; i < k; i++)
        {
            var j = rng.Next(i, n);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p[..k];
    }
}
