using O2O.Core;

namespace O2O.Data;

/// <summary>Kind of dataset file, told by its first bytes (not its name).</summary>
public enum DatasetFileKind { Hdf5, Npz }

/// <summary>Loading and saving <see cref="OfflineDataset"/>s: D4RL HDF5, Minari datasets and NumPy NPZ.</summary>
public static class DatasetIO
{
    /// <summary>
    /// Load a dataset. HDF5 (D4RL keys: observations, actions [+ rewards, next_observations, terminals, timeouts,
    /// infos/*, metadata/*]) or NPZ (states, actions [+ rewards, next_states, terminals, timeouts]; 'observations'
    /// is accepted for 'states'), chosen by the file's magic bytes; or a Minari dataset (its folder, its
    /// main_data.hdf5, or its id under <see cref="Minari.Root"/>), flattened with next observations from each
    /// episode's rows. Non-finite observations, actions, rewards or next observations are an error unless
    /// <paramref name="allowNonFinite"/>.
    /// </summary>
    /// <exception cref="UserError">Missing, unreadable, truncated or malformed file, or NaN/Inf values; the message is
    /// one line.</exception>
    public static OfflineDataset Load(string path, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        OfflineDataset ds;
        if (Minari.Locate(path) is { } minari) ds = MinariHdf5.Read(minari);
        else ds = DetectKind(path) == DatasetFileKind.Hdf5 ? D4rlHdf5.Read(path) : ReadNpz(path);
        if (!allowNonFinite)
        {
            var bad = ds.FindNonFinite();
            if (bad.Count > 0)
                throw new OptionError(
                    $"'{path}': {string.Join("; ", bad)}; clean the data, or set AllowNonFinite to accept it",
                    "AllowNonFinite");
        }
        return ds;
    }

    /// <summary>
    /// Tell HDF5 from NPZ by the magic bytes; also checks that an HDF5 file is not shorter than its superblock says.
    /// </summary>
    /// <exception cref="UserError">Missing, empty, unreadable, truncated HDF5, or neither format.</exception>
    public static DatasetFileKind DetectKind(string path)
    {
        if (Directory.Exists(path))
            throw new UserError($"'{path}' is a folder, not a dataset file; give the path of an .hdf5 or .npz file");
        if (!File.Exists(path))
            throw new UserError(
                $"file '{path}' does not exist; check the path, or download a D4RL dataset or collect one first");
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
            if (fs.Length == 0) throw new UserError($"'{path}' is empty; download or write it again");
            var head = new byte[8];
            var n = fs.ReadAtLeast(head, 8, throwOnEndOfStream: false);
            if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] is 3 or 5 && head[3] is 4 or 6)
                return DatasetFileKind.Npz;
            if (n >= 6 && head[0] == 0x93 && head[1] == 'N' && head[2] == 'U')
                throw new UserError($"'{path}' is a single .npy array; " +
                    $"save states and actions together with numpy.savez_compressed(path, states=..., actions=...)");
            var sb = D4rlHdf5.FindSuperblock(fs);
            if (sb < 0)
                throw new UserError($"'{path}' is neither an HDF5 nor an NPZ file (first bytes " +
                    $"{Convert.ToHexString(head, 0, n)}); give a D4RL .hdf5 or a numpy .npz file");
            var declared = D4rlHdf5.DeclaredLength(fs, sb);
            if (declared > fs.Length)
                throw new UserError($"'{path}' is truncated: {fs.Length} bytes but its HDF5 header says {declared}; " +
                    $"download or write it again");
            return DatasetFileKind.Hdf5;
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UserError($"cannot read '{path}' ({e.Message}); check its permissions");
        }
        catch (IOException e) { throw new UserError($"cannot read '{path}' ({e.Message}); check the file"); }
    }

    static OfflineDataset ReadNpz(string path)
    {
        var src = $"'{path}'";
        var arrays = Npz.Read(path);
        var stateKey = arrays.ContainsKey("states")
            ? "states"
            : arrays.ContainsKey("observations") ? "observations" : null;
        if (stateKey is null || !arrays.ContainsKey("actions"))
            throw new UserError($"{src} has no '{(stateKey is null ? "states" : "actions")}' array (it has: " +
                $"{string.Join(", ", arrays.Keys)}); an O2O .npz needs 'states' and 'actions' (convert a D4RL HDF5 " +
                $"file to get one)");
        var (obs, n, obsDim) = Matrix(arrays[stateKey], stateKey, src);
        var (act, na, actDim) = Matrix(arrays["actions"], "actions", src);
        if (na != n)
            throw new UserError($"{src}: 'actions' has {na} rows but '{stateKey}' has {n}; " +
                $"all arrays must have the same number of rows — fix or regenerate the file");
        float[]? rew = null, next = null;
        bool[]? term = null, tout = null;
        if (arrays.TryGetValue("rewards", out var r)) rew = Vector(r, "rewards", n, src).ToFloat32();
        if (arrays.TryGetValue("next_states", out var ns) || arrays.TryGetValue("next_observations", out ns))
        {
            var (x, nn, w) = Matrix(ns, "next_states", src);
            if (nn != n || w != obsDim)
                throw new UserError($"{src}: 'next_states' has shape ({nn}, {w}) but '{stateKey}' has ({n}, " +
                    $"{obsDim}); fix or regenerate the file");
            next = x;
        }
        if (arrays.TryGetValue("terminals", out var t))
            term = Vector(t, "terminals", n, src).ToBool($"{src} 'terminals'");
        if (arrays.TryGetValue("timeouts", out var to))
            tout = Vector(to, "timeouts", n, src).ToBool($"{src} 'timeouts'");
        return new OfflineDataset(n, obsDim, actDim, obs, act, rew, next, term, tout, source: src);
    }

    static (float[] data, int rows, int width) Matrix(NpyArray a, string key, string src)
    {
        if (a.Rank != 2 || a.Shape[1] == 0)
            throw new UserError($"{src}: '{key}' has shape ({string.Join(", ", a.Shape)}), expected (rows, width); " +
                $"fix or regenerate the file");
        if (a.DType is "|b1")
            throw new UserError($"{src}: '{key}' is a bool array, expected floats; fix or regenerate the file");
        return (a.ToFloat32(), a.Shape[0], a.Shape[1]);
    }

    static NpyArray Vector(NpyArray a, string key, int n, string src)
    {
        var ok = (a.Rank == 1 && a.Shape[0] == n) || (a.Rank == 2 && a.Shape[0] == n && a.Shape[1] == 1);
        if (!ok)
            throw new UserError($"{src}: '{key}' has shape ({string.Join(", ", a.Shape)}), " +
                $"expected ({n},) to match the {n} rows of states; fix or regenerate the file");
        return a;
    }

    /// <summary>
    /// Write an .npz like numpy.savez_compressed: states, actions (float32, rows × width) and, when present,
    /// rewards (float32), next_states (float32), terminals and timeouts (bool). Atomic: temp file + rename.
    /// </summary>
    public static void SaveNpz(string path, OfflineDataset ds, bool compress = true)
    {
        ArgumentNullException.ThrowIfNull(ds);
        // Streamed from the dataset's own arrays (bools are stored one byte each, 0 or 1, as numpy's |b1).
        var entries = new List<NpzEntry>
        {
            NpzEntry.Of("states", "<f4", ds.Observations, ds.Count, ds.ObsDim),
            NpzEntry.Of("actions", "<f4", ds.Actions, ds.Count, ds.ActDim),
        };
        if (ds.Rewards is not null) entries.Add(NpzEntry.Of("rewards", "<f4", ds.Rewards, ds.Count));
        if (ds.NextObservations is not null)
            entries.Add(NpzEntry.Of("next_states", "<f4", ds.NextObservations, ds.Count, ds.ObsDim));
        if (ds.Terminals is not null) entries.Add(NpzEntry.Of("terminals", "|b1", ds.Terminals, ds.Count));
        if (ds.Timeouts is not null) entries.Add(NpzEntry.Of("timeouts", "|b1", ds.Timeouts, ds.Count));
        WriteGuarded(path, () => Npz.WriteEntries(path, entries, compress));
    }

    /// <summary>
    /// Write a D4RL-layout HDF5 file that h5py and D4RL's loaders read: float32 observations/actions/rewards/
    /// next_observations, bool terminals/timeouts (h5py's enum), float64 infos, metadata/* as strings, row-shaped
    /// chunks (<see cref="Hdf5WriteOptions.ChunkRows"/> rows × full width), gzip optional
    /// (<see cref="Hdf5WriteOptions"/>). Atomic: temp file + rename.
    /// </summary>
    public static void SaveHdf5(string path, OfflineDataset ds, Hdf5WriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ds);
        WriteGuarded(path, () => D4rlHdf5.Write(path, ds, options));
    }

    /// <summary>
    /// Check the folder first (a clear error before any work), and turn I/O failures (disk full…) into one line.
    /// </summary>
    static void WriteGuarded(string path, Action write)
    {
        AtomicFile.EnsureWritableFolder(path, "output");
        try { write(); }
        catch (IOException e)
        {
            throw new UserError(
                $"cannot write '{path}' ({e.Message.TrimEnd('.')}); free some space or choose another location");
        }
    }
}
