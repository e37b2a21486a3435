using System.IO.Compression;
using System.Text;
using O2O.Core;

namespace O2O.Learning.Checkpoints;

/// <summary>
/// Refuses a `.pt` file whose pickle references anything a state dict does not need, before it is unpickled. A
/// pickle names the callables it calls (opcodes GLOBAL, STACK_GLOBAL, INST); a state dict needs only an OrderedDict,
/// torch's tensor rebuild functions and storage types — the allowlist of PyTorch's own `weights_only` loading. A file
/// from a stranger that would call `os.system`, `builtins.eval` or any other function is refused with one line, as
/// are the extension registry (EXT1/2/4), a STACK_GLOBAL whose names are not plain strings, and unknown opcodes.
/// The scan streams the pickle: no allocation grows with a length field.
/// </summary>
public static class PickleGuard
{
    /// <summary>The globals a state dict may reference, as "module.name".</summary>
    public static readonly IReadOnlySet<string> Allowed = new HashSet<string>(
    [
        "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        .. new[]
        {
            "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool", "ComplexFloat",
            "ComplexDouble",
        }.Select(t => $"torch.{t}Storage"),
    ]);

    /// <summary>Longest string kept for a global's name; longer strings are skipped unread.</summary>
    const int MaxName = 1024;

    /// <summary>
    /// Check every pickle (*.pkl entry) of the zip at <paramref name="path"/>. A file that is not a zip is left to the
    /// loader, which reads only zips.
    /// </summary>
    /// <exception cref="UserError">The pickle references something outside <see cref="Allowed"/>.</exception>
    public static void Check(string path, string what)
    {
        ZipArchive zip;
        var fs = File.OpenRead(path);
        try
        {
            zip = new ZipArchive(fs, ZipArchiveMode.Read);
        }
        catch (InvalidDataException)
        {
            fs.Dispose();
            return;
        }
        using (zip)
        {
            foreach (var e in zip.Entries.Where(e => e.FullName.EndsWith(".pkl", StringComparison.Ordinal)))
            {
                string? why;
                try
                {
                    using var s = new BufferedStream(e.Open(), 1 << 16);
                    why = Scan(s);
                }
                catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
                {
                    why = "its pickle is truncated or damaged";
                }
                if (why is not null)
                    throw new UserError($"{what} '{path}' is refused: {why}, which a state dict never needs (a "
                        + "pickle can run code when loaded); use a checkpoint from a source you trust");
            }
        }
    }

    /// <summary>Walk the opcodes of one pickle; the reason to refuse it, or null when it only uses the allowlist.
    /// </summary>
    public static string? Scan(Stream s)
    {
        // Values of the latest stack-pushing opcodes: a string for a string push, null for anything else. Enough to
        // name STACK_GLOBAL's two arguments exactly when they were pushed right before it (as pickle writes them).
        var recent = new List<string?>();
        var memo = new Dictionary<long, string?>();
        void Push(string? v) { recent.Add(v); if (recent.Count > 2) recent.RemoveAt(0); }
        string? Top() => recent.Count > 0 ? recent[^1] : null;
        while (true)
        {
            var op = s.ReadByte();
            if (op < 0) throw new EndOfStreamException();
            switch ((char)op)
            {
                case '.': return null;  // STOP
                case 'c':  // GLOBAL module\nname\n
                {
                    var name = $"{Line(s)}.{Line(s)}";
                    if (!Allowed.Contains(name)) return $"its pickle calls {name}";
                    Push(null);
                    break;
                }
                case 'i':  // INST module\nname\n: calls a class directly
                {
                    var name = $"{Line(s)}.{Line(s)}";
                    return $"its pickle calls {name} (INST)";
                }
                case '\x93':  // STACK_GLOBAL
                {
                    if (recent.Count < 2 || recent[0] is not { } module || recent[1] is not { } field)
                        return "its pickle calls a global whose name is computed (STACK_GLOBAL)";
                    var name = $"{module}.{field}";
                    if (!Allowed.Contains(name)) return $"its pickle calls {name}";
                    recent.Clear();
                    Push(null);
                    break;
                }
                case '\x82': case '\x83': case '\x84':
                    return "its pickle calls a function of the extension registry (EXT)";
                // Strings: their value matters to STACK_GLOBAL.
                case 'X': Push(Text(s, Fixed(s, 4))); break;  // BINUNICODE
                case '\x8c': Push(Text(s, Fixed(s, 1))); break;  // SHORT_BINUNICODE
                case '\x8d': Push(Text(s, Fixed(s, 8))); break;  // BINUNICODE8
                case 'T': Push(Text(s, Fixed(s, 4))); break;  // BINSTRING
                case 'U': Push(Text(s, Fixed(s, 1))); break;  // SHORT_BINSTRING
                case 'V': Push(Line(s)); break;  // UNICODE (raw-unicode-escape; names are ASCII)
                case 'S': Push(Line(s).Trim('\'', '"')); break;  // STRING
                // Memo: no stack effect; a get pushes what was stored.
                case '\x94': memo[memo.Count] = Top(); break;  // MEMOIZE
                case 'q': memo[Fixed(s, 1)] = Top(); break;  // BINPUT
                case 'r': memo[Fixed(s, 4)] = Top(); break;  // LONG_BINPUT
                case 'p': memo[ParseIndex(Line(s))] = Top(); break;  // PUT
                case 'h': Push(memo.GetValueOrDefault(Fixed(s, 1))); break;  // BINGET
                case 'j': Push(memo.GetValueOrDefault(Fixed(s, 4))); break;  // LONG_BINGET
                case 'g': Push(memo.GetValueOrDefault(ParseIndex(Line(s)))); break;  // GET
                case '\x80': Skip(s, 1); break;  // PROTO
                case '\x95': Skip(s, 8); break;  // FRAME
                // Everything else changes the stack with values that are not plain strings.
                case 'J': Skip(s, 4); Push(null); break;  // BININT
                case 'K': Skip(s, 1); Push(null); break;  // BININT1
                case 'M': Skip(s, 2); Push(null); break;  // BININT2
                case 'G': Skip(s, 8); Push(null); break;  // BINFLOAT
                case '\x8a': Skip(s, Fixed(s, 1)); Push(null); break;  // LONG1
                case '\x8b': Skip(s, Fixed(s, 4)); Push(null); break;  // LONG4
                case 'B': Skip(s, Fixed(s, 4)); Push(null); break;  // BINBYTES
                case 'C': Skip(s, Fixed(s, 1)); Push(null); break;  // SHORT_BINBYTES
                case '\x8e': case '\x96': Skip(s, Fixed(s, 8)); Push(null); break;  // BINBYTES8, BYTEARRAY8
                case 'I': case 'L': case 'F': case 'P': Line(s); Push(null); break;  // INT LONG FLOAT PERSID
                case '(': case '0': case '1': case '2': case 'N': case 'R': case 'a': case 'b': case 'd': case '}':
                case 'e': case 'l': case ']': case 'o': case 's': case 't': case ')': case 'u': case 'Q':
                case '\x81': case '\x85': case '\x86': case '\x87': case '\x88': case '\x89': case '\x8f':
                case '\x90': case '\x91': case '\x92': case '\x97': case '\x98':
                    Push(null);
                    break;
                default:
                    return $"its pickle holds an unknown opcode 0x{op:x2}";
            }
        }
    }

    /// <summary>A little-endian unsigned length or index of <paramref name="bytes"/> bytes.</summary>
    static long Fixed(Stream s, int bytes)
    {
        long v = 0;
        for (var i = 0; i < bytes; i++)
        {
            var b = s.ReadByte();
            if (b < 0) throw new EndOfStreamException();
            v |= (long)b << (8 * i);
        }
        if (v < 0) throw new InvalidDataException("negative length");
        return v;
    }

    /// <summary>A string of <paramref name="length"/> UTF-8 bytes; null (and skipped) when too long for a name.
    /// </summary>
    static string? Text(Stream s, long length)
    {
        if (length > MaxName) { Skip(s, length); return null; }
        var buf = new byte[length];
        s.ReadExactly(buf);
        return Encoding.UTF8.GetString(buf);
    }

    static void Skip(Stream s, long length)
    {
        Span<byte> buf = stackalloc byte[4096];
        while (length > 0)
        {
            var n = s.Read(buf[..(int)Math.Min(buf.Length, length)]);
            if (n <= 0) throw new EndOfStreamException();
            length -= n;
        }
    }

    /// <summary>One newline-terminated argument (at most <see cref="MaxName"/> bytes are kept).</summary>
    static string Line(Stream s)
    {
        var sb = new StringBuilder();
        while (true)
        {
            var b = s.ReadByte();
            if (b < 0) throw new EndOfStreamException();
            if (b == '\n') return sb.ToString();
            if (sb.Length < MaxName) sb.Append((char)b);
        }
    }

    static long ParseIndex(string text) => long.TryParse(text, out var v) ? v : -1;
}
