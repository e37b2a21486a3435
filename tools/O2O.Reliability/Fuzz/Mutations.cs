using System.Buffers.Binary;
using System.Text;

namespace O2O.Reliability.Fuzz;

/// <summary>
/// Byte-level mutations shared by every format: bit flips, interesting bytes, truncation, inflated integer fields,
/// spliced, deleted and inserted ranges, and renamed keys (which duplicate a name the file already has). Each takes
/// the seed's bytes and a seeded <see cref="Random"/> and returns new bytes plus a short description.
/// </summary>
public static class Mutations
{
    /// <summary>Huge values written over integer fields: 10^12 rows, int and uint limits, 64-bit extremes.</summary>
    public static readonly ulong[] Huge =
    [
        1_000_000_000_000UL, int.MaxValue, (ulong)int.MaxValue + 1, uint.MaxValue, long.MaxValue, ulong.MaxValue,
        1UL << 40, 0,
    ];

    static readonly byte[] Interesting = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE, 0x20, 0x0A];

    public static (byte[], string) FlipBits(byte[] b, Random r)
    {
        if (b.Length == 0) return (b, "flip none");
        var o = (byte[])b.Clone();
        var n = 1 + r.Next(r.Next(2) == 0 ? 2 : 8);
        var at = new List<int>();
        for (var i = 0; i < n; i++)
        {
            var p = r.Next(o.Length);
            o[p] ^= (byte)(1 << r.Next(8));
            at.Add(p);
        }
        return (o, $"flip {n} bit(s) at {string.Join(',', at)}");
    }

    public static (byte[], string) SetBytes(byte[] b, Random r)
    {
        if (b.Length == 0) return (b, "set none");
        var o = (byte[])b.Clone();
        var n = 1 + r.Next(4);
        var p = r.Next(o.Length);
        for (var i = 0; i < n && p + i < o.Length; i++)
            o[p + i] = r.Next(3) == 0 ? (byte)r.Next(256) : Interesting[r.Next(Interesting.Length)];
        return (o, $"set {n} byte(s) at {p}");
    }

    public static (byte[], string) Truncate(byte[] b, int at)
    {
        at = Math.Clamp(at, 0, b.Length);
        return (b[..at], $"truncate at {at} of {b.Length}");
    }

    /// <summary>Truncate at a structural boundary (± a few bytes), or anywhere when none is known.</summary>
    public static (byte[], string) TruncateNear(byte[] b, IReadOnlyList<int> boundaries, Random r)
    {
        if (boundaries.Count == 0 || r.Next(5) == 0) return Truncate(b, r.Next(b.Length + 1));
        return Truncate(b, boundaries[r.Next(boundaries.Count)] + r.Next(-2, 3));
    }

    /// <summary>
    /// Overwrite an integer field with a huge value: a field holding one of <paramref name="known"/> (rows, widths,
    /// sizes the format stores) when one is found, else a 4- or 8-byte little-endian window whose value is a
    /// plausible length or address (1 … 64 × the file's size).
    /// </summary>
    public static (byte[], string) InflateInt(byte[] b, Random r, IReadOnlyList<ulong>? known = null)
    {
        if (b.Length < 8) return SetBytes(b, r);
        var width = r.Next(2) == 0 ? 4 : 8;
        var candidates = new List<int>();
        if (known is { Count: > 0 } && r.Next(3) > 0)
        {
            var v = known[r.Next(known.Count)];
            for (var p = 0; p + width <= b.Length && candidates.Count < 4096; p++)
                if (Read(b, p, width) == v) candidates.Add(p);
        }
        if (candidates.Count == 0)
        {
            var limit = (ulong)b.Length * 64;
            var start = r.Next(b.Length - width + 1);
            for (var k = 0; k < b.Length && candidates.Count < 64; k++)
            {
                var p = (start + k) % (b.Length - width + 1);
                var v = Read(b, p, width);
                if (v >= 1 && v <= limit) candidates.Add(p);
            }
        }
        if (candidates.Count == 0) return SetBytes(b, r);
        var at = candidates[r.Next(candidates.Count)];
        var old = Read(b, at, width);
        var huge = r.Next(4) == 0 ? old * (ulong)(1000 + r.Next(1_000_000)) : Huge[r.Next(Huge.Length)];
        var o = (byte[])b.Clone();
        if (width == 4) BinaryPrimitives.WriteUInt32LittleEndian(o.AsSpan(at), (uint)Math.Min(huge, uint.MaxValue));
        else BinaryPrimitives.WriteUInt64LittleEndian(o.AsSpan(at), huge);
        return (o, $"inflate u{width * 8} at {at}: {old} -> {huge}");
    }

    static ulong Read(byte[] b, int p, int width) => width == 4
        ? BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p))
        : BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p));

    /// <summary>Copy a range of the file over (or into) another place: duplicated structures.</summary>
    public static (byte[], string) Splice(byte[] b, Random r)
    {
        if (b.Length < 2) return SetBytes(b, r);
        var len = 1 + r.Next(Math.Min(b.Length, 1 + r.Next(2) switch { 0 => 16, _ => 512 }));
        var from = r.Next(b.Length - len + 1);
        var to = r.Next(b.Length);
        var insert = r.Next(2) == 0;
        var o = new List<byte>(b);
        var piece = b.AsSpan(from, len).ToArray();
        if (insert) o.InsertRange(to, piece);
        else
            for (var i = 0; i < len && to + i < o.Count; i++) o[to + i] = piece[i];
        return ([.. o], $"{(insert ? "insert" : "overwrite")} copy of {len} bytes from {from} at {to}");
    }

    public static (byte[], string) Delete(byte[] b, Random r)
    {
        if (b.Length < 2) return SetBytes(b, r);
        var len = 1 + r.Next(Math.Min(b.Length - 1, r.Next(2) == 0 ? 8 : 256));
        var at = r.Next(b.Length - len + 1);
        return ([.. b[..at], .. b[(at + len)..]], $"delete {len} bytes at {at}");
    }

    public static (byte[], string) InsertRandom(byte[] b, Random r)
    {
        var len = 1 + r.Next(r.Next(2) == 0 ? 8 : 200);
        var piece = new byte[len];
        r.NextBytes(piece);
        var at = r.Next(b.Length + 1);
        return ([.. b[..at], .. piece, .. b[at..]], $"insert {len} random bytes at {at}");
    }

    /// <summary>
    /// Rename one occurrence of a key to another name of the same length from <paramref name="names"/>: the file then
    /// holds that name twice (a duplicated key) and lacks the first.
    /// </summary>
    public static (byte[], string) RenameKey(byte[] b, Random r, IReadOnlyList<string> names)
    {
        var pairs = (from x in names from y in names where x != y && x.Length == y.Length select (x, y)).ToList();
        pairs = [.. pairs.Where(p => IndexOf(b, Encoding.ASCII.GetBytes(p.x), 0) >= 0)];
        if (pairs.Count == 0) return FlipBits(b, r);
        var (from, to) = pairs[r.Next(pairs.Count)];
        var needle = Encoding.ASCII.GetBytes(from);
        var hits = new List<int>();
        for (var p = IndexOf(b, needle, 0); p >= 0; p = IndexOf(b, needle, p + 1)) hits.Add(p);
        var o = (byte[])b.Clone();
        var all = r.Next(3) == 0;
        foreach (var h in all ? hits : [hits[r.Next(hits.Count)]]) Encoding.ASCII.GetBytes(to).CopyTo(o, h);
        return (o, $"rename {(all ? "every" : "one")} '{from}' to '{to}'");
    }

    public static int IndexOf(byte[] hay, byte[] needle, int from)
    {
        if (needle.Length == 0 || from >= hay.Length) return -1;
        var i = hay.AsSpan(from).IndexOf(needle);
        return i < 0 ? -1 : from + i;
    }

    /// <summary>One generic mutation chosen at random (the mix every format starts from).</summary>
    public static (byte[], string) Any(byte[] b, Random r, IReadOnlyList<int> boundaries, IReadOnlyList<ulong> known,
        IReadOnlyList<string> names) => r.Next(10) switch
    {
        0 or 1 => FlipBits(b, r),
        2 => SetBytes(b, r),
        3 or 4 => TruncateNear(b, boundaries, r),
        5 or 6 => InflateInt(b, r, known),
        7 => r.Next(2) == 0 ? Splice(b, r) : Delete(b, r),
        8 => InsertRandom(b, r),
        _ => RenameKey(b, r, names),
    };

    /// <summary>Offsets of every occurrence of each ASCII <paramref name="tags"/> (structure signatures).</summary>
    public static List<int> Occurrences(byte[] b, params string[] tags)
    {
        var list = new List<int>();
        foreach (var t in tags)
        {
            var needle = Encoding.ASCII.GetBytes(t);
            for (var p = IndexOf(b, needle, 0); p >= 0; p = IndexOf(b, needle, p + 1)) list.Add(p);
        }
        return list;
    }
}
