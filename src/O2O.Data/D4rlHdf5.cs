using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using O2O.Core;
using PureHDF;
using PureHDF.Filters;
using PureHDF.VOL.Native;

namespace O2O.Data;

/// <summary>Options for writing a D4RL-layout HDF5 file.</summary>
/// <param name="Gzip">Compress each chunk with gzip (deflate, level 1). Off by default: float32 RL data barely
/// compresses (a few %), and inflating makes reading several times slower (see docs/benchmarks.md, "Datasets").</param>
/// <param name="ChunkRows">Rows per chunk; every chunk spans the full row width (row-shaped, never column-shaped),
/// so whole-dataset reads touch few, large chunks. 32768 rows × 11 float32 ≈ 1.4 MB.</param>
public sealed record Hdf5WriteOptions(bool Gzip = false, int ChunkRows = 32768);

/// <summary>D4RL's HDF5 layout, read and written with PureHDF.</summary>
internal static class D4rlHdf5
{
    /// <summary>
    /// Bools the way h5py stores them: an enum {FALSE = 0, TRUE = 1}, which h5py reads back as numpy bool.
    /// </summary>
    internal enum H5Bool : byte { FALSE = 0, TRUE = 1 }

    static readonly byte[] Signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Offset of the HDF5 superblock (0, or after a user block of 512·2^k bytes), or -1.</summary>
    internal static long FindSuperblock(Stream s)
    {
        var buf = new byte[8];
        for (long off = 0; off < s.Length; off = off == 0 ? 512 : off * 2)
        {
            s.Position = off;
            if (s.ReadAtLeast(buf, 8, throwOnEndOfStream: false) < 8) return -1;
            if (buf.AsSpan().SequenceEqual(Signature)) return off;
            if (off > 1 << 24) break;
        }
        return -1;
    }

    /// <summary>
    /// The file length the superblock promises (base address + end-of-file address), or -1 if unknown.
    /// A shorter file is truncated; checking this first turns a partial download into a clear message.
    /// </summary>
    internal static long DeclaredLength(Stream s, long superblock)
    {
        var head = new byte[64];
        s.Position = superblock;
        var n = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n < 16) return -1;
        int version = head[8];
        int so, at;
        switch (version)
        {
            case 0: so = head[13]; at = 24; break;
            case 1: so = head[13]; at = 28; break;
            case 2 or 3: so = head[9]; at = 12; break;
            default: return -1;
        }
        if (so is not (4 or 8) || at + 3 * so > n) return -1;
        ulong Addr(int i) =>
            so == 8
                ? BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(at + i * so))
                : BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(at + i * so));
        var baseAddr = Addr(0);
        var eof = Addr(2); // v0/v1: base, free-space, EOF; v2/v3: base, extension, EOF
        if (eof == ulong.MaxValue || baseAddr == ulong.MaxValue || eof > long.MaxValue / 2) return -1;
        return (long)(baseAddr + eof);
    }

    /// <summary>Size of the HDF5 file this thread is reading (0: none): the bound of what its datasets may claim (see
    /// <see cref="CheckSize"/>).</summary>
    [ThreadStatic] static long fileBytes;

    /// <summary>Run <paramref name="read"/> with <paramref name="path"/>'s size as the bound of its datasets.</summary>
    internal static T Bounded<T>(string path, Func<T> read)
    {
        var outer = fileBytes;
        fileBytes = new FileInfo(path).Length;
        try { return read(); }
        finally { fileBytes = outer; }
    }

    internal static OfflineDataset Read(string path) => Bounded(path, () => ReadFile(path));

    static OfflineDataset ReadFile(string path)
    {
        var src = $"'{path}'";
        try
        {
            Hdf5Guard.Check(path, src);
            using var f = H5File.OpenRead(path);
            var keys = f.Children().Select(c => Printable.Of(c.Name, 40)).ToList();
            string KeyList() => string.Join(", ", keys);
            if (!f.LinkExists("observations") || !f.LinkExists("actions"))
            {
                var missing = f.LinkExists("observations") ? "actions" : "observations";
                throw new UserError($"{src} has no '{missing}' dataset (it has: {KeyList()}); " +
                    $"a D4RL file needs 'observations' and 'actions'");
            }
            var (obs, n, obsDim) = ReadFloat32(f, "observations", src, rank2: true);
            var (act, na, actDim) = ReadFloat32(f, "actions", src, rank2: true);
            if (na != n)
                throw new UserError($"{src}: 'actions' has {na} rows but 'observations' has {n}; " +
                    $"all keys must have the same number of rows — fix or regenerate the file");
            float[]? rew = null, next = null;
            if (f.LinkExists("rewards"))
            {
                var (r, nr, w) = ReadFloat32(f, "rewards", src, rank2: false);
                if (w != 1)
                    throw new UserError($"{src}: 'rewards' has {w} columns, expected 1; store one reward per row");
                RowsMatch("rewards", nr, n, src);
                rew = r;
            }
            if (f.LinkExists("next_observations"))
            {
                var (r, nr, w) = ReadFloat32(f, "next_observations", src, rank2: true);
                RowsMatch("next_observations", nr, n, src);
                if (w != obsDim)
                    throw new UserError($"{src}: 'next_observations' has {w} columns but 'observations' has " +
                        $"{obsDim}; fix or regenerate the file");
                next = r;
            }
            var term = f.LinkExists("terminals") ? ReadFlags(f, "terminals", src, n) : null;
            var tout = f.LinkExists("timeouts") ? ReadFlags(f, "timeouts", src, n) : null;
            double[]? qpos = null, qvel = null, logp = null;
            int qposW = 0, qvelW = 0;
            if (f.LinkExists("infos/qpos")) (qpos, qposW) = ReadInfo(f, "infos/qpos", src, n);
            if (f.LinkExists("infos/qvel")) (qvel, qvelW) = ReadInfo(f, "infos/qvel", src, n);
            if (f.LinkExists("infos/action_log_probs"))
            {
                (logp, var w) = ReadInfo(f, "infos/action_log_probs", src, n);
                if (w != 1)
                    throw new UserError(
                        $"{src}: 'infos/action_log_probs' has {w} columns, expected 1; fix or regenerate the file");
            }
            var meta = new Dictionary<string, string>();
            if (f.LinkExists("metadata") && f.Get("metadata") is IH5Group mg) ReadMetadata(mg, "", meta, src);
            return new OfflineDataset(
                n, obsDim, actDim, obs, act, rew, next, term, tout, qpos, qposW, qvel, qvelW, logp, meta, src);
        }
        catch (UserError) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new UserError($"cannot read HDF5 file '{path}' ({e.GetType().Name}: {e.Message.TrimEnd('.')}); " +
                $"the file may be truncated or corrupt — download or generate it again", e);
        }
    }

    static void RowsMatch(string key, int rows, int n, string src, string against = "observations")
    {
        if (rows != n)
            throw new UserError($"{src}: '{key}' has {rows} rows but '{against}' has {n}; " +
                $"all keys must have the same number of rows — fix or regenerate the file");
    }

    static (int rows, int width) Shape(IH5Dataset d, string key, string src, bool rank2)
    {
        var dims = d.Space.Dimensions;
        if (dims.Length == 2 && dims[0] <= int.MaxValue && dims[1] is > 0 and <= int.MaxValue)
            return ((int)dims[0], (int)dims[1]);
        if (dims.Length == 1 && !rank2 && dims[0] <= int.MaxValue) return ((int)dims[0], 1);
        throw new UserError($"{src}: '{key}' has shape ({string.Join(", ", dims)}), " +
            $"expected {(rank2 ? "(rows, width)" : "(rows,) or (rows, 1)")}; fix or regenerate the file");
    }

    internal static (float[] data, int rows, int width) ReadFloat32(IH5Group f, string key, string src, bool rank2)
    {
        var d = f.Dataset(key);
        var (rows, width) = Shape(d, key, src, rank2);
        var t = d.Type;
        float[] data = t.Class switch
        {
            H5DataTypeClass.FloatingPoint when t.Size == 4 => Read<float[]>(d, key, src),
            H5DataTypeClass.FloatingPoint when t.Size == 8 => ToFloat(Read<double[]>(d, key, src)),
            H5DataTypeClass.FixedPoint => ToFloat(ReadIntegers(d, key, src)),
            _ =>
                throw new UserError($"{src}: '{key}' has HDF5 type {t.Class} ({t.Size} bytes), " +
                    $"expected float32 or float64; fix or regenerate the file"),
        };
        return (data, rows, width);
    }

    static (double[] data, int width) ReadInfo(IH5Group f, string key, string src, int n)
    {
        var d = f.Dataset(key);
        var (rows, width) = Shape(d, key, src, rank2: false);
        RowsMatch(key, rows, n, src);
        var t = d.Type;
        double[] data = t.Class switch
        {
            H5DataTypeClass.FloatingPoint when t.Size == 8 => Read<double[]>(d, key, src),
            H5DataTypeClass.FloatingPoint when t.Size == 4 =>
                Array.ConvertAll(Read<float[]>(d, key, src), x => (double)x),
            _ =>
                throw new UserError($"{src}: '{key}' has HDF5 type {t.Class} ({t.Size} bytes), " +
                    $"expected float32 or float64; fix or regenerate the file"),
        };
        return (data, width);
    }

    internal static bool[] ReadFlags(IH5Group f, string key, string src, int n, string against = "observations")
    {
        var d = f.Dataset(key);
        var (rows, width) = Shape(d, key, src, rank2: false);
        if (width != 1)
            throw new UserError(
                $"{src}: '{key}' has {width} columns, expected one flag per row; fix or regenerate the file");
        RowsMatch(key, rows, n, src, against);
        var t = d.Type;
        if (t.Size == 1
            && t.Class is H5DataTypeClass.Enumerated or H5DataTypeClass.FixedPoint or H5DataTypeClass.BitField)
            return Array.ConvertAll(Read<byte[]>(d, key, src), b => b != 0);
        if (t.Class == H5DataTypeClass.FixedPoint) return Array.ConvertAll(ReadIntegers(d, key, src), v => v != 0);
        if (t.Class == H5DataTypeClass.FloatingPoint)
            return t.Size == 8
                ? Array.ConvertAll(Read<double[]>(d, key, src), v => v != 0)
                : Array.ConvertAll(Read<float[]>(d, key, src), v => v != 0);
        throw new UserError($"{src}: '{key}' has HDF5 type {t.Class}, expected bool (h5py enum), " +
            $"uint8 or integer flags; fix or regenerate the file");
    }

    static double[] ReadIntegers(IH5Dataset d, string key, string src)
    {
        var signed = d.Type.FixedPoint.IsSigned;
        return d.Type.Size switch
        {
            1 => signed ? Widen<sbyte>(d, key, src) : Widen<byte>(d, key, src),
            2 => signed ? Widen<short>(d, key, src) : Widen<ushort>(d, key, src),
            4 => signed ? Widen<int>(d, key, src) : Widen<uint>(d, key, src),
            8 => signed ? Widen<long>(d, key, src) : Widen<ulong>(d, key, src),
            _ => throw new UserError($"{src}: '{key}' holds integers of {d.Type.Size} bytes, expected 1, 2, 4 or 8; "
                + "fix or regenerate the file"),
        };
    }

    /// <summary>The integers of <paramref name="d"/> as doubles (the same values a C# cast gives).</summary>
    static double[] Widen<T>(IH5Dataset d, string key, string src) where T : INumber<T> =>
        Array.ConvertAll(Read<T[]>(d, key, src), double.CreateTruncating);

    /// <summary>
    /// Read a dataset's values; a chunk whose fletcher32 checksum (HDF5's per-chunk CRC, written by h5py with
    /// fletcher32=True) does not match its data is one line naming the dataset.
    /// </summary>
    static T Read<T>(IH5Dataset d, string key, string src)
    {
        CheckSize(d, key, src);
        try
        {
            return d.Read<T>();
        }
        catch (Exception e) when (e is not UserError and not OutOfMemoryException && ChecksumFailed(e))
        {
            throw new ChecksumError($"{src}: dataset '{key}' is damaged: a chunk fails its fletcher32 checksum (its "
                + "data changed since it was written); download or generate the file again");
        }
    }

    sealed class ChecksumError(string message) : UserError(message);

    /// <summary>
    /// Refuse a dataset whose header claims more data than the file can hold, before anything is allocated for it: its
    /// shape, or one chunk, times its element size beyond the file's size (or, when a filter may compress it, beyond
    /// 1100 times that: deflate expands at most ~1032-fold) is a damaged or hostile header (10^12 rows), not data.
    /// </summary>
    static void CheckSize(IH5Dataset d, string key, string src)
    {
        if (fileBytes <= 0) return;
        var size = (double)Math.Max(1, d.Type.Size);
        var dims = d.Space.Dimensions;
        var limit = Compressible(d) ? 1100.0 * fileBytes + (1 << 20) : fileBytes + (1 << 20);
        var bytes = dims.Aggregate(size, (p, x) => p * x);
        if (bytes > limit)
            throw new UserError($"{src}: '{key}' claims shape ({string.Join(", ", dims)}) of {size}-byte elements "
                + $"({bytes:0} bytes), more than this {fileBytes}-byte file can hold; the file is corrupt — "
                + "download or generate it again");
        if (d.Layout.Class != H5DataLayoutClass.Chunked) return;
        var chunks = d.Layout.Chunks;
        var chunk = chunks.Take(dims.Length).Aggregate(size, (p, x) => p * x);
        if (chunk > limit)
            throw new UserError($"{src}: '{key}' claims chunks of ({string.Join(", ", chunks.Take(dims.Length))}) "
                + $"elements ({chunk:0} bytes), more than this {fileBytes}-byte file can hold; the file is corrupt "
                + "— download or generate it again");
        // Each chunk takes an entry of its index (8 bytes at least) or its raw bytes: a file cannot hold more chunks.
        var count = dims.Select((x, i) => i < chunks.Length && chunks[i] > 0 ? Math.Ceiling((double)x / chunks[i]) : x)
            .Aggregate(1.0, (p, x) => p * x);
        if (count > Math.Max(16, fileBytes / 8))
            throw new UserError($"{src}: '{key}' claims shape ({string.Join(", ", dims)}) in {count:0} chunks of "
                + $"({string.Join(", ", chunks.Take(dims.Length))}), more than this {fileBytes}-byte file can index; "
                + "the file is corrupt — download or generate it again");
    }

    static readonly System.Reflection.PropertyInfo? FilterPipeline = typeof(H5File).Assembly
        .GetType("PureHDF.VOL.Native.NativeDataset")?.GetProperty("InternalFilterPipeline",
            System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic
            | System.Reflection.BindingFlags.Public);

    /// <summary>
    /// Whether the dataset has a compressing filter (deflate, szip, n-bit, scale-offset or a third-party one: its data
    /// can be larger than the file); shuffle and fletcher32 do not compress. PureHDF does not publish the pipeline: its
    /// internal property is read, and a PureHDF without it counts every dataset as compressed.
    /// </summary>
    static bool Compressible(IH5Dataset d)
    {
        if (FilterPipeline is null) return true;
        if (FilterPipeline.GetValue(d) is not { } pipeline) return false;
        if (pipeline.GetType().GetProperty("FilterDescriptions")?.GetValue(pipeline) is not Array filters) return true;
        foreach (var f in filters)
            if (f?.GetType().GetProperty("Identifier")?.GetValue(f) is not ushort id || id is not (2 or 3)) return true;
        return false;
    }

    static bool ChecksumFailed(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e.Message.Contains("Fletcher32", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    static float[] ToFloat(double[] a)
    {
        var r = new float[a.Length];
        for (var i = 0; i < a.Length; i++) r[i] = (float)a[i];
        return r;
    }

    /// <summary>
    /// Scalar strings and numbers under metadata/, keyed by their path below it; arrays (policy weights) are skipped.
    /// </summary>
    const int MetadataDepth = 8, MetadataEntries = 1000;

    static void ReadMetadata(IH5Group g, string prefix, Dictionary<string, string> meta, string src, int depth = 0)
    {
        // A group that links back to itself (or absurd nesting) must not recurse without end.
        if (depth > MetadataDepth) return;
        foreach (var child in g.Children().Take(MetadataEntries))
        {
            var key = prefix + child.Name;
            if (child is IH5Group sub) { ReadMetadata(sub, key + "/", meta, src, depth + 1); continue; }
            if (child is not IH5Dataset d) continue;
            var dims = d.Space.Dimensions;
            if (dims.Length > 1 || (dims.Length == 1 && dims[0] != 1)) continue;
            try
            {
                CheckSize(d, "metadata/" + key, src);
                var t = d.Type;
                string? v = t.Class switch
                {
                    H5DataTypeClass.String or H5DataTypeClass.VariableLength =>
                        dims.Length == 0 ? d.Read<string>() : d.Read<string[]>()[0],
                    H5DataTypeClass.FloatingPoint =>
                        (t.Size == 8 ? d.Read<double[]>()[0] : d.Read<float[]>()[0])
                            .ToString("R", CultureInfo.InvariantCulture),
                    H5DataTypeClass.FixedPoint =>
                        ReadIntegers(d, "metadata/" + key, src)[0].ToString("R", CultureInfo.InvariantCulture),
                    H5DataTypeClass.Enumerated when t.Size == 1 => d.Read<byte[]>()[0] != 0 ? "True" : "False",
                    _ => null,
                };
                if (v is not null) meta[key] = v;
            }
            catch (Exception e) when (e is not ChecksumError and not OutOfMemoryException)
            {
                // A metadata entry of an exotic type must not make the dataset unreadable: skip it (not a damaged one).
            }
        }
    }

    internal static void Write(string path, OfflineDataset ds, Hdf5WriteOptions? options = null)
    {
        options ??= new Hdf5WriteOptions();
        if (options.ChunkRows <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "ChunkRows must be positive");
        var n = ds.Count;
        var rowsPerChunk = (uint)Math.Max(1, Math.Min(options.ChunkRows, n));
        var creation = new H5DatasetCreation(Filters: options.Gzip
            ? [new H5Filter(DeflateFilter.Id, new() { [DeflateFilter.COMPRESSION_LEVEL] = 1 })]
            : []);
        H5Dataset Rows<T>(T[] data, int width) =>
            new H5Dataset<T[]>(data, chunks: [rowsPerChunk, (uint)width], fileDims: [(ulong)n, (ulong)width],
                datasetCreation: creation);
        H5Dataset Vector<T>(T[] data) =>
            new H5Dataset<T[]>(data, chunks: [rowsPerChunk], fileDims: [(ulong)n], datasetCreation: creation);
        H5Dataset Flags(bool[] b) => Vector(Array.ConvertAll(b, x => x ? H5Bool.TRUE : H5Bool.FALSE));

        var file = new H5File
        {
            ["observations"] = Rows(ds.Observations, ds.ObsDim),
            ["actions"] = Rows(ds.Actions, ds.ActDim),
        };
        if (ds.Rewards is not null) file["rewards"] = Vector(ds.Rewards);
        if (ds.NextObservations is not null) file["next_observations"] = Rows(ds.NextObservations, ds.ObsDim);
        if (ds.Terminals is not null) file["terminals"] = Flags(ds.Terminals);
        if (ds.Timeouts is not null) file["timeouts"] = Flags(ds.Timeouts);
        if (ds.InfosQpos is not null || ds.InfosQvel is not null || ds.InfosActionLogProbs is not null)
        {
            var infos = new H5Group();
            if (ds.InfosQpos is not null) infos["qpos"] = Rows(ds.InfosQpos, ds.InfosQposWidth);
            if (ds.InfosQvel is not null) infos["qvel"] = Rows(ds.InfosQvel, ds.InfosQvelWidth);
            if (ds.InfosActionLogProbs is not null) infos["action_log_probs"] = Vector(ds.InfosActionLogProbs);
            file["infos"] = infos;
        }
        if (ds.Metadata.Count > 0)
        {
            var meta = new H5Group();
            foreach (var (key, value) in ds.Metadata.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                var parts = key.Split('/', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) continue;
                var g = meta;
                foreach (var p in parts[..^1])
                {
                    if (!g.TryGetValue(p, out var o) || o is not H5Group sub) g[p] = sub = new H5Group();
                    g = sub;
                }
                g[parts[^1]] = value;
            }
            file["metadata"] = meta;
        }
        AtomicFile.Write(path, tmp => file.Write(tmp));
    }
}
