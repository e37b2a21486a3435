using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace O2O.Reliability.Fuzz;

/// <summary>One entry of a zip (NPZ, .pt): its name, its bytes, whether it was deflated.</summary>
public sealed record ZipItem(string Name, byte[] Data, bool Deflate);

/// <summary>Zip helpers: take a zip apart, put it back together (with correct CRCs), find its structures.</summary>
public static class Zips
{
    public static List<ZipItem> Read(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var items = new List<ZipItem>();
        foreach (var e in archive.Entries)
        {
            using var s = e.Open();
            var ms = new MemoryStream();
            s.CopyTo(ms);
            items.Add(new ZipItem(e.FullName, ms.ToArray(), e.CompressedLength != e.Length));
        }
        return items;
    }

    /// <summary>A zip of <paramref name="items"/> in order (duplicate names allowed), each with its true CRC.</summary>
    public static byte[] Write(IEnumerable<ZipItem> items)
    {
        var ms = new MemoryStream();
        using (var archive = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var it in items)
            {
                var e = archive.CreateEntry(it.Name,
                    it.Deflate ? CompressionLevel.Fastest : CompressionLevel.NoCompression);
                using var s = e.Open();
                s.Write(it.Data);
            }
        return ms.ToArray();
    }

    /// <summary>Offsets of the zip's records (local headers, their data, central directory, end record).</summary>
    public static List<int> Boundaries(byte[] b)
    {
        var list = new List<int> { 0, 4, 30 };
        foreach (var p in Mutations.Occurrences(b, "PK\x03\x04"))
        {
            list.Add(p);
            if (p + 30 <= b.Length)
            {
                var data = p + 30 + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 26))
                    + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 28));
                list.Add(data);
                list.Add(data + 10);  // inside an .npy header or a pickle's first opcodes
                list.Add(data + 128);
            }
        }
        foreach (var p in Mutations.Occurrences(b, "PK\x01\x02", "PK\x05\x06", "PK\x06\x06", "PK\x06\x07"))
        {
            list.Add(p);
            list.Add(p + 20);
        }
        list.Add(b.Length - 1);
        return [.. list.Where(x => x >= 0 && x <= b.Length).Distinct().Order()];
    }

    /// <summary>The sizes and offsets a zip stores (fields to inflate).</summary>
    public static List<ulong> Fields(byte[] b)
    {
        var list = new List<ulong>();
        foreach (var p in Mutations.Occurrences(b, "PK\x01\x02"))
            if (p + 46 <= b.Length)
            {
                list.Add(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 20)));
                list.Add(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 24)));
                list.Add(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 42)));
            }
        foreach (var p in Mutations.Occurrences(b, "PK\x05\x06"))
            if (p + 22 <= b.Length)
            {
                list.Add(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 10)));
                list.Add(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 12)));
                list.Add(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 16)));
            }
        return [.. list.Where(v => v > 0).Distinct()];
    }

    /// <summary>
    /// Zip-level mutations on the entries: one entry twice (a duplicated key), one dropped, one renamed to another's
    /// name, reordered, a folder entry added, an entry stored instead of deflated.
    /// </summary>
    public static (byte[], string) MutateEntries(List<ZipItem> items, Random r)
    {
        var list = new List<ZipItem>(items);
        var i = r.Next(list.Count);
        string what;
        switch (r.Next(6))
        {
            case 0:
                list.Insert(r.Next(list.Count + 1), list[i]);
                what = $"duplicate entry {list[i].Name}";
                break;
            case 1:
                what = $"drop entry {list[i].Name}";
                list.RemoveAt(i);
                break;
            case 2:
                var j = r.Next(list.Count);
                what = $"rename entry {list[i].Name} to {list[j].Name}";
                list[i] = list[i] with { Name = list[j].Name };
                break;
            case 3:
                list.Reverse();
                what = "reverse entries";
                break;
            case 4:
                list.Insert(r.Next(list.Count + 1), new ZipItem(list[i].Name + "/", [], false));
                what = $"add folder entry {list[i].Name}/";
                break;
            default:
                list[i] = list[i] with { Deflate = !list[i].Deflate };
                what = $"switch compression of {list[i].Name}";
                break;
        }
        return (Write(list), what);
    }
}

/// <summary>Python pickle opcodes, enough to walk a state dict's pickle and find its structures.</summary>
public static class Pickles
{
    /// <summary>An opcode at <see cref="At"/>, its argument at <see cref="Arg"/> of <see cref="ArgLength"/> bytes.
    /// </summary>
    public readonly record struct Op(int At, byte Code, int Arg, int ArgLength);

    /// <summary>The opcodes of <paramref name="p"/> in order (stops at STOP or at anything it cannot walk).</summary>
    public static List<Op> Walk(byte[] p)
    {
        var ops = new List<Op>();
        var i = 0;
        while (i < p.Length)
        {
            var code = p[i];
            var arg = i + 1;
            int len;
            switch ((char)code)
            {
                case 'c' or 'i': len = Line(p, arg, 2); break;
                case 'X' or 'T' or 'B': len = 4 + (int)Math.Min(Le(p, arg, 4), int.MaxValue / 2); break;
                case '\x8c' or 'U' or 'C' or '\x8a': len = 1 + (int)Le(p, arg, 1); break;
                case '\x8d' or '\x8e' or '\x96': len = 8 + (int)Math.Min(Le(p, arg, 8), int.MaxValue / 2); break;
                case '\x8b': len = 4 + (int)Math.Min(Le(p, arg, 4), int.MaxValue / 2); break;
                case 'V' or 'S' or 'p' or 'g' or 'I' or 'L' or 'F' or 'P': len = Line(p, arg, 1); break;
                case 'q' or 'h' or 'K' or '\x80': len = 1; break;
                case 'r' or 'j' or 'J': len = 4; break;
                case 'M': len = 2; break;
                case 'G' or '\x95': len = 8; break;
                default: len = 0; break;
            }
            if (len < 0 || arg + len > p.Length) break;
            ops.Add(new Op(i, code, arg, len));
            if (code == '.') break;
            i = arg + len;
        }
        return ops;
    }

    static ulong Le(byte[] p, int at, int n)
    {
        ulong v = 0;
        for (var k = 0; k < n && at + k < p.Length; k++) v |= (ulong)p[at + k] << (8 * k);
        return v;
    }

    static int Line(byte[] p, int at, int lines)
    {
        var i = at;
        for (var n = 0; n < lines; n++)
        {
            var nl = Array.IndexOf(p, (byte)'\n', i);
            if (nl < 0) return -1;
            i = nl + 1;
        }
        return i - at;
    }

    static readonly string[] Hostile =
    [
        "cposix\nsystem\n(S'touch /tmp/o2o-fuzz-pwned'\ntR", "cbuiltins\neval\n(S'1+1'\ntR", "cos\nsystem\n",
        "\x8c\x08builtins\x8c\x04exec\x93", "ibuiltins\nprint\n", "\x82\x01", "\x8c\x02os\x8c\x06getcwd\x93)R",
    ];

    static readonly string[] StorageTypes =
        ["LongStorage", "ByteStorage", "BoolStorage", "HalfStorage", "CharStorage", "FloatStorage", "ShortStorage"];

    /// <summary>
    /// Pickle-aware mutations: a hostile call injected, an allowed global swapped, a tensor's dtype changed, an
    /// integer (shape, stride, offset, storage size) or a string length inflated, truncation at an opcode, an opcode
    /// dropped or repeated, a key renamed to another key (a duplicated key).
    /// </summary>
    public static (byte[], string) Mutate(byte[] p, Random r)
    {
        var ops = Walk(p);
        if (ops.Count < 3) return Mutations.FlipBits(p, r);
        switch (r.Next(8))
        {
            case 0:
            {
                var at = ops[1 + r.Next(ops.Count - 2)].At;
                var h = Hostile[r.Next(Hostile.Length)];
                return ([.. p[..at], .. Encoding.Latin1.GetBytes(h), .. p[at..]], $"inject {Escape(h)} at {at}");
            }
            case 1:
            {
                var names = new[] { "collections\nOrderedDict", "_rebuild_tensor_v2", "torch._utils" };
                var n = names[r.Next(names.Length)];
                var to = r.Next(2) == 0 ? "posix\nsystem" : "builtins\ngetattr";
                var s = Encoding.Latin1.GetString(p);
                var k = s.IndexOf(n, StringComparison.Ordinal);
                if (k < 0) return Mutations.FlipBits(p, r);
                return (Encoding.Latin1.GetBytes(s[..k] + to + s[(k + n.Length)..]),
                    $"global {Escape(n)} -> {Escape(to)}");
            }
            case 2:
                return Mutations.RenameKey(p, r, StorageTypes);
            case 3:
            {
                var ints = ops.Where(o => o.Code is (byte)'J' or (byte)'K' or (byte)'M' or (byte)'X' or 0x8c).ToList();
                if (ints.Count == 0) return Mutations.FlipBits(p, r);
                var o = ints[r.Next(ints.Count)];
                var q = (byte[])p.Clone();
                var width = o.Code switch { (byte)'J' or (byte)'X' => 4, (byte)'M' => 2, _ => 1 };
                var huge = Mutations.Huge[r.Next(Mutations.Huge.Length)];
                for (var k = 0; k < width; k++) q[o.Arg + k] = (byte)(huge >> (8 * k));
                return (q, $"inflate opcode 0x{o.Code:x2} at {o.At} to {huge}");
            }
            case 4:
            {
                var at = ops[r.Next(ops.Count)].At;
                return Mutations.Truncate(p, at);
            }
            case 5:
            {
                var o = ops[1 + r.Next(ops.Count - 2)];
                var end = o.Arg + o.ArgLength;
                return r.Next(2) == 0
                    ? ([.. p[..o.At], .. p[end..]], $"drop opcode 0x{o.Code:x2} at {o.At}")
                    : ([.. p[..end], .. p[o.At..end], .. p[end..]], $"repeat opcode 0x{o.Code:x2} at {o.At}");
            }
            case 6:
            {
                var keys = ops.Where(o => o.Code is (byte)'X' or 0x8c && o.ArgLength > 1)
                    .Select(o => Encoding.Latin1.GetString(p, o.Arg + (o.Code == 0x8c ? 1 : 4),
                        o.ArgLength - (o.Code == 0x8c ? 1 : 4))).Distinct().ToList();
                return Mutations.RenameKey(p, r, keys);
            }
            default:
                return Mutations.Any(p, r, [.. ops.Select(o => o.At)], [], []);
        }
    }

    static string Escape(string s) => s.Replace("\n", "\\n");
}
