using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using O2O.Core;

namespace O2O.Data;

/// <summary>
/// One NumPy array as <c>.npy</c> stores it: a dtype (numpy's descr, kept little-endian here), a shape, and the
/// element bytes in C (row-major) order. Supported dtypes: &lt;f4 &lt;f8 |b1 |u1 |i1 &lt;i2 &lt;u2 &lt;i4 &lt;u4 &lt;i8
/// &lt;u8.
/// </summary>
public sealed class NpyArray
{
    internal static readonly IReadOnlyDictionary<string, int> ItemSizes = new Dictionary<string, int>
    {
        ["<f4"] = 4, ["<f8"] = 8, ["|b1"] = 1, ["|u1"] = 1, ["|i1"] = 1, ["<i2"] = 2, ["<u2"] = 2,
        ["<i4"] = 4, ["<u4"] = 4, ["<i8"] = 8, ["<u8"] = 8,
    };

    internal NpyArray(string dtype, int[] shape, byte[] data)
    {
        if (!ItemSizes.TryGetValue(dtype, out var size))
            throw new ArgumentException($"unsupported dtype {dtype}", nameof(dtype));
        long n = 1;
        foreach (var d in shape) { ArgumentOutOfRangeException.ThrowIfNegative(d); n *= d; }
        if (n * size != data.LongLength)
            throw new ArgumentException(
                $"{data.LongLength} bytes do not hold shape ({string.Join(", ", shape)}) of {dtype}");
        DType = dtype; Shape = shape; Data = data; Length = n;
    }

    /// <summary>numpy dtype string, e.g. "&lt;f4".</summary>
    public string DType { get; }
    /// <summary>Shape, C order.</summary>
    public IReadOnlyList<int> Shape { get; }
    /// <summary>Number of elements.</summary>
    public long Length { get; }
    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Count;
    internal byte[] Data { get; }
    int ItemSize => ItemSizes[DType];

    /// <summary>A float32 array of the given shape (defaults to 1-D).</summary>
    public static NpyArray FromFloat32(float[] values, params int[] shape) => From("<f4", values, shape);
    /// <summary>A float64 array of the given shape (defaults to 1-D).</summary>
    public static NpyArray FromFloat64(double[] values, params int[] shape) => From("<f8", values, shape);
    /// <summary>A bool array (numpy |b1) of the given shape (defaults to 1-D).</summary>
    public static NpyArray FromBool(bool[] values, params int[] shape) =>
        new("|b1", shape.Length == 0 ? [values.Length] : shape, values.Select(b => b ? (byte)1 : (byte)0).ToArray());
    /// <summary>An int32 array of the given shape (defaults to 1-D).</summary>
    public static NpyArray FromInt32(int[] values, params int[] shape) => From("<i4", values, shape);
    /// <summary>An int64 array of the given shape (defaults to 1-D).</summary>
    public static NpyArray FromInt64(long[] values, params int[] shape) => From("<i8", values, shape);
    /// <summary>A uint8 array of the given shape (defaults to 1-D).</summary>
    public static NpyArray FromUInt8(byte[] values, params int[] shape) =>
        new("|u1", shape.Length == 0 ? [values.Length] : shape, (byte[])values.Clone());

    static NpyArray From<T>(string dtype, T[] values, int[] shape) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("NPY writing assumes a little-endian machine");
        return new NpyArray(dtype, shape.Length == 0
            ? [values.Length]
            : shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    /// <summary>Elements as float32 (float64 and integers are converted, bools become 0/1).</summary>
    public float[] ToFloat32()
    {
        var d = Data.AsSpan();
        var n = checked((int)Length);
        switch (DType)
        {
            case "<f4": return MemoryMarshal.Cast<byte, float>(d).ToArray();
            case "<f8":
            {
                var s = MemoryMarshal.Cast<byte, double>(d);
                var r = new float[n];
                for (var i = 0; i < n; i++) r[i] = (float)s[i];
                return r;
            }
            default: { var r = new float[n]; for (var i = 0; i < n; i++) r[i] = (float)ElementAsDouble(i); return r; }
        }
    }

    /// <summary>Elements as float64.</summary>
    public double[] ToFloat64()
    {
        var n = checked((int)Length);
        if (DType == "<f8") return MemoryMarshal.Cast<byte, double>(Data.AsSpan()).ToArray();
        var r = new double[n];
        for (var i = 0; i < n; i++) r[i] = ElementAsDouble(i);
        return r;
    }

    /// <summary>Elements as bools: bool and integer arrays only (non-zero is true).</summary>
    /// <exception cref="UserError">The array holds floats.</exception>
    public bool[] ToBool(string what)
    {
        if (DType is "<f4" or "<f8")
            throw new UserError($"{what} has dtype {DType}, expected bool or integer flags; store it as a bool array");
        var n = checked((int)Length);
        var r = new bool[n];
        for (var i = 0; i < n; i++) r[i] = ElementAsDouble(i) != 0;
        return r;
    }

    double ElementAsDouble(int i)
    {
        var s = Data.AsSpan(i * ItemSize, ItemSize);
        return DType switch
        {
            "<f4" => BinaryPrimitives.ReadSingleLittleEndian(s),
            "<f8" => BinaryPrimitives.ReadDoubleLittleEndian(s),
            "|b1" or "|u1" => s[0],
            "|i1" => (sbyte)s[0],
            "<i2" => BinaryPrimitives.ReadInt16LittleEndian(s),
            "<u2" => BinaryPrimitives.ReadUInt16LittleEndian(s),
            "<i4" => BinaryPrimitives.ReadInt32LittleEndian(s),
            "<u4" => BinaryPrimitives.ReadUInt32LittleEndian(s),
            "<i8" => BinaryPrimitives.ReadInt64LittleEndian(s),
            "<u8" => BinaryPrimitives.ReadUInt64LittleEndian(s),
            _ => throw new InvalidOperationException(DType),
        };
    }
}

/// <summary>The <c>.npy</c> format (versions 1.0, 2.0 and 3.0 headers), as <c>numpy.save</c> writes it.</summary>
public static partial class Npy
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>
    /// Read one array. Fortran-ordered arrays are transposed to C order; pickled object arrays are refused.
    /// </summary>
    /// <exception cref="UserError">Not an .npy stream, truncated, or a dtype this reader does not take.</exception>
    public static NpyArray Read(Stream s, string source)
    {
        var pre = new byte[10];
        ReadExactly(s, pre, source, "header");
        if (!pre.AsSpan(0, 6).SequenceEqual(Magic))
            throw new UserError(
                $"{source} is not a NumPy .npy array (bad magic bytes); write it with numpy.save/savez");
        int major = pre[6], headerLen;
        if (major == 1) headerLen = BinaryPrimitives.ReadUInt16LittleEndian(pre.AsSpan(8));
        else if (major is 2 or 3)
        {
            var more = new byte[2];
            ReadExactly(s, more, source, "header");
            var len = BinaryPrimitives.ReadUInt32LittleEndian([pre[8], pre[9], more[0], more[1]]);
            headerLen = len > 1 << 20 ? int.MaxValue : (int)len;
        }
        else throw new UserError($"{source}: .npy format version {major}.{pre[7]} is not supported (1.0, 2.0, " +
            $"3.0 are); re-save it with a current numpy");
        if (headerLen > 1 << 20)
            throw new UserError($"{source}: .npy header of {headerLen} bytes is implausible; the file is corrupt");
        var hb = new byte[headerLen];
        ReadExactly(s, hb, source, "header");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);

        var (dtype, swap, fortran, shape) = ParseHeader(header, source);
        var size = NpyArray.ItemSizes[dtype];
        // The product in floating point: a damaged shape (2^31 × 2^31 × 8 bytes) must not overflow a long.
        var claimed = shape.Aggregate((double)size, (p, d) => p * d);
        if (claimed > Array.MaxLength)
            throw new UserError($"{source}: array of {claimed:0} bytes (shape ({string.Join(", ", shape)}) of "
                + $"{dtype}) is too large to load (limit {Array.MaxLength}); split the dataset, or it is corrupt");
        var bytes = shape.Aggregate((long)size, (p, d) => p * d);
        if (bytes > Array.MaxLength)
            throw new UserError(
                $"{source}: array of {bytes} bytes is too large to load (limit {Array.MaxLength}); split the dataset");
        var data = ReadData(s, bytes, source,
            $"data ({bytes} bytes for shape ({string.Join(", ", shape)}) of {dtype})");
        if (swap && size > 1)
            for (long i = 0; i < bytes; i += size) Array.Reverse(data, (int)i, size);
        if (fortran && shape.Length > 1) data = FortranToC(data, shape, size);
        return new NpyArray(dtype, shape, data);
    }

    static (string dtype, bool swap, bool fortran, int[] shape) ParseHeader(string header, string source)
    {
        if (DescrList().IsMatch(header))
            throw new UserError($"{source}: structured (record) dtypes are not supported; save plain numeric arrays");
        var m = Descr().Match(header);
        if (!m.Success)
            throw new UserError(
                $"{source}: .npy header has no 'descr' ({Show(header.Trim())}); the file is corrupt");
        var descr = m.Groups[1].Value;
        if (descr.Contains('O'))
            throw new UserError($"{source} holds a pickled object array (dtype {Show(descr)}); O2O never unpickles "
                + "data — save numeric arrays (e.g. np.asarray(x, dtype=np.float32))");
        var order = descr.Length > 0 && descr[0] is '<' or '>' or '|' or '=' ? descr[0] : '|';
        var body = descr.Length > 0 && descr[0] is '<' or '>' or '|' or '=' ? descr[1..] : descr;
        var little = order switch { '>' => false, '<' => true, '=' => BitConverter.IsLittleEndian, _ => true };
        var canonical = (body is "b1" or "u1" or "i1" ? "|" : "<") + body;
        if (!NpyArray.ItemSizes.ContainsKey(canonical))
            throw new UserError($"{source}: dtype '{Show(descr)}' is not supported (use float32, float64, bool, " +
                $"int or uint); convert the array before saving");
        var fm = Fortran().Match(header);
        if (!fm.Success) throw new UserError($"{source}: .npy header has no 'fortran_order'; the file is corrupt");
        var sm = ShapeRe().Match(header);
        if (!sm.Success) throw new UserError($"{source}: .npy header has no 'shape'; the file is corrupt");
        var shape = sm.Groups[1].Value.Split(
            ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
                : throw new UserError(
                    $"{source}: bad shape entry '{Show(t)}' in .npy header; the file is corrupt")).ToArray();
        return (canonical, !little, fm.Groups[1].Value == "True", shape);
    }

    static string Show(string s) => Printable.Of(s);

    /// <summary>Fortran (column-major) bytes to C (row-major) order.</summary>
    static byte[] FortranToC(byte[] src, int[] shape, int size)
    {
        var rank = shape.Length;
        var fstride = new long[rank];
        fstride[0] = 1;
        for (var k = 1; k < rank; k++) fstride[k] = fstride[k - 1] * shape[k - 1];
        var dst = new byte[src.Length];
        var idx = new int[rank];
        var n = src.LongLength / size;
        for (long c = 0; c < n; c++)
        {
            long f = 0;
            for (var k = 0; k < rank; k++) f += idx[k] * fstride[k];
            Buffer.BlockCopy(src, (int)(f * size), dst, (int)(c * size), size);
            for (var k = rank - 1; k >= 0; k -= 1) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
        }
        return dst;
    }

    /// <summary>
    /// Write one array with a version 1.0 header (2.0 if the header needs it), padded to 64 bytes as numpy does.
    /// </summary>
    public static void Write(Stream s, NpyArray a)
    {
        WriteHeader(s, a.DType, a.Shape);
        s.Write(a.Data);
    }

    /// <summary>
    /// The header <see cref="Write"/> puts before the element bytes: for writers that stream the bytes from where
    /// they already are instead of copying them into an <see cref="NpyArray"/>.
    /// </summary>
    internal static void WriteHeader(Stream s, string dtype, IReadOnlyList<int> shape)
    {
        var shapeText = shape.Count == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var dict = $"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shapeText}, }}";
        var v1 = dict.Length + 10 + 1 < 65536;
        var pre = v1 ? 10 : 12;
        var total = (pre + dict.Length + 1 + 63) / 64 * 64;
        var header = dict + new string(' ', total - pre - dict.Length - 1) + "\n";
        s.Write(Magic);
        s.WriteByte(v1 ? (byte)1 : (byte)2); s.WriteByte(0);
        Span<byte> len = stackalloc byte[4];
        if (v1) { BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length); s.Write(len[..2]); }
        else { BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length); s.Write(len); }
        s.Write(Encoding.Latin1.GetBytes(header));
    }

    /// <summary>Bytes read at once before the buffer grows: a header claiming more than the stream holds costs this
    /// much, not its claim.</summary>
    const int FirstRead = 16 << 20;

    /// <summary>
    /// The array's <paramref name="bytes"/> bytes, read into a buffer that grows with the data actually there (so
    /// that a damaged shape claiming 10^12 rows ends in "truncated" without allocating its claim).
    /// </summary>
    static byte[] ReadData(Stream s, long bytes, string source, string what)
    {
        if (bytes == 0) return [];
        if (s.CanSeek && s.Length - s.Position < bytes)
            throw new UserError($"{source} is truncated (ends inside its {what}); download or write it again");
        var data = new byte[Math.Min(bytes, FirstRead)];
        long filled = 0;
        while (true)
        {
            var n = s.Read(data, (int)filled, data.Length - (int)filled);
            if (n == 0)
                throw new UserError($"{source} is truncated (ends inside its {what}); download or write it again");
            filled += n;
            if (filled == bytes) return data;
            if (filled == data.Length) Array.Resize(ref data, (int)Math.Min(bytes, 2L * data.Length));
        }
    }

    static void ReadExactly(Stream s, byte[] buf, string source, string what)
    {
        try { s.ReadExactly(buf); }
        catch (EndOfStreamException)
        {
            throw new UserError($"{source} is truncated (ends inside its {what}); download or write it again");
        }
    }

    [GeneratedRegex(@"['""]descr['""]\s*:\s*\[")] private static partial Regex DescrList();
    [GeneratedRegex(@"['""]descr['""]\s*:\s*['""]([^'""]*)['""]")] private static partial Regex Descr();
    [GeneratedRegex(@"['""]fortran_order['""]\s*:\s*(True|False)")] private static partial Regex Fortran();
    [GeneratedRegex(@"['""]shape['""]\s*:\s*\(([^)]*)\)")] private static partial Regex ShapeRe();
}

/// <summary>
/// The <c>.npz</c> format: a zip of <c>.npy</c> files (stored or deflated), as numpy.savez[_compressed] writes it.
/// </summary>
public static class Npz
{
    /// <summary>Read every array of an .npz file, keyed by name without ".npy".</summary>
    /// <exception cref="UserError">Missing, not a zip, truncated, or holding an array this reader refuses.</exception>
    public static Dictionary<string, NpyArray> Read(string path)
    {
        if (!File.Exists(path)) throw new UserError($"file '{path}' does not exist; check the path");
        var result = new Dictionary<string, NpyArray>();
        try
        {
            using var fs = File.OpenRead(path);
            using var zip = new ZipArchive(fs, ZipArchiveMode.Read);
            foreach (var e in zip.Entries)
            {
                if (e.FullName.EndsWith('/')) continue;
                var key = e.FullName.EndsWith(".npy", StringComparison.Ordinal) ? e.FullName[..^4] : e.FullName;
                using var es = e.Open();
                var crc = new Crc32Stream(es);
                using var bs = new BufferedStream(crc, 1 << 16);
                result[key] = Npy.Read(bs, $"'{path}' entry '{Printable.Of(e.FullName)}'");
                bs.CopyTo(Stream.Null);  // the CRC covers the whole entry, as numpy's zipfile checks it
                if (crc.Crc != e.Crc32)
                    throw new UserError($"'{path}' entry '{Printable.Of(e.FullName)}' is damaged: Bad CRC-32 (stored "
                        + $"{e.Crc32:x8}, computed {crc.Crc:x8}); write or download the file again");
            }
        }
        catch (InvalidDataException ex)
        {
            throw new UserError($"'{path}' is not a readable .npz (zip) file ({ex.Message.TrimEnd('.')}); " +
                $"it may be truncated — write or download it again");
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new UserError($"cannot read '{path}' ({ex.Message}); check its permissions");
        }
        return result;
    }

    /// <summary>
    /// Deflate level of compressed entries: the fastest. On float data (1M × 14 floats of a D4RL file) zlib's higher
    /// levels took several times longer for a few per cent smaller files (docs/benchmarks.md, "NPZ"); numpy reads
    /// any level.
    /// </summary>
    public const CompressionLevel DeflateLevel = CompressionLevel.Fastest;

    /// <summary>
    /// Write arrays into an .npz file atomically; <paramref name="compress"/> = deflate (numpy.savez_compressed), else
    /// stored (numpy.savez).
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, NpyArray>> arrays, bool compress = true) =>
        WriteEntries(path, arrays.Select(kv => new NpzEntry(kv.Key, s => Npy.Write(s, kv.Value))), compress);

    /// <summary>
    /// Write entries atomically, each streamed by its writer straight into the zip (deflated at
    /// <see cref="DeflateLevel"/> when <paramref name="compress"/>): nothing is buffered beside the file.
    /// </summary>
    internal static void WriteEntries(string path, IEnumerable<NpzEntry> entries, bool compress)
    {
        var list = entries.ToList();
        AtomicFile.WriteStream(path, fs =>
        {
            using var zip = new ZipArchive(fs, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var e in list)
            {
                var entry = zip.CreateEntry(e.Name + ".npy", compress ? DeflateLevel : CompressionLevel.NoCompression);
                using var es = entry.Open();
                e.Write(es);
            }
        });
    }
}

/// <summary>One .npy entry of an .npz file: its name (without ".npy") and what writes its bytes.</summary>
internal sealed record NpzEntry(string Name, Action<Stream> Write)
{
    /// <summary>An entry whose elements are written from <paramref name="values"/> as they are (no copy).</summary>
    public static NpzEntry Of<T>(string name, string dtype, T[] values, params int[] shape) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("NPY writing assumes a little-endian machine");
        return new NpzEntry(name, s =>
        {
            Npy.WriteHeader(s, dtype, shape);
            s.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        });
    }
}
