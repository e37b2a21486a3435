using System.Buffers.Binary;
using System.Text;

namespace O2O.Learning.Runtime;

/// <summary>
/// Makes TorchSharp's native glue load on Debian 12.
/// </summary>
/// <remarks>
/// libLibTorchSharp.so from TorchSharp 0.107 asks for GLIBCXX_3.4.32 for a single dummy symbol
/// (std::ios_base_library_init) that GCC 12's libstdc++ does not export. The dynamic loader then
/// refuses the whole library and TorchSharp reports a misleading "doesn't contain a reference to
/// libtorch-cpu-linux-x64". Marking that version requirement weak (VER_FLG_WEAK in the
/// .gnu.version_r section) turns the hard failure into nothing: the symbol is never called.
/// The patch is idempotent, atomic (temp file + rename), and skipped where libstdc++ is new enough.
/// </remarks>
public static class LibTorchSharpFix
{
    const string Library = "libLibTorchSharp.so";
    const string MissingVersion = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    static readonly string[] LibStdCxxCandidates =
    [
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
    ];

    /// <summary>Outcome of one attempt, for logs and tests.</summary>
    public enum Outcome { NotLinux, LibraryNotFound, NotNeeded, AlreadyPatched, Patched, VersionNotReferenced }

    /// <summary>Patch every copy of the library found next to the running program.</summary>
    public static Outcome Apply()
    {
        if (!OperatingSystem.IsLinux()) return Outcome.NotLinux;
        var found = Candidates().Where(File.Exists).ToList();
        if (found.Count == 0) return Outcome.LibraryNotFound;
        if (SystemLibStdCxxHas(MissingVersion)) return Outcome.NotNeeded;
        var result = Outcome.AlreadyPatched;
        foreach (var path in found)
        {
            var r = PatchFile(path);
            if (r == Outcome.Patched) result = Outcome.Patched;
            else if (r == Outcome.VersionNotReferenced && result != Outcome.Patched) result = r;
        }
        return result;
    }

    static IEnumerable<string> Candidates()
    {
        var baseDir = AppContext.BaseDirectory;
        yield return Path.Combine(baseDir, Library);
        yield return Path.Combine(baseDir, "runtimes", "linux-x64", "native", Library);
    }

    static bool SystemLibStdCxxHas(string version)
    {
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        foreach (var path in LibStdCxxCandidates)
        {
            if (!File.Exists(path)) continue;
            var bytes = File.ReadAllBytes(path);
            return bytes.AsSpan().IndexOf(needle) >= 0;
        }
        return false;
    }

    /// <summary>Mark the GLIBCXX_3.4.32 requirement of one ELF file weak.</summary>
    public static Outcome PatchFile(string path)
    {
        var elf = File.ReadAllBytes(path);
        var offset = FindVernauxFlagsOffset(elf, MissingVersion);
        if (offset < 0) return Outcome.VersionNotReferenced;
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(offset));
        if ((flags & VerFlgWeak) != 0) return Outcome.AlreadyPatched;
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(offset), (ushort)(flags | VerFlgWeak));
        // One temporary name per process: parallel first starts after a build (a sweep's jobs) patch at once, each
        // writes the same bytes and renames them in; a shared name made one of them fail.
        var tmp = $"{path}.o2o-patch-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(tmp, elf);
        File.Move(tmp, path, overwrite: true);
        return Outcome.Patched;
    }

    /// <summary>
    /// Offset in the file of vna_flags of the Elf64_Vernaux entry naming <paramref name="version"/>, or -1.
    /// </summary>
    internal static int FindVernauxFlagsOffset(byte[] elf, string version)
    {
        var span = elf.AsSpan();
        if (elf.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (span[4] != 2 || span[5] != 1) throw new InvalidDataException("only 64-bit little-endian ELF is supported");
        var shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        for (var i = 0; i < shnum; i++)
        {
            var sh = span[(int)(shoff + (long)i * shentsize)..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;
            var secOff = (int)BinaryPrimitives.ReadUInt64LittleEndian(sh[24..]);
            var link = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[40..]);
            var count = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[44..]);
            var strSh = span[(int)(shoff + (long)link * shentsize)..];
            var strOff = (int)BinaryPrimitives.ReadUInt64LittleEndian(strSh[24..]);

            var need = secOff;
            for (var n = 0; n < count; n++)
            {
                int cnt = BinaryPrimitives.ReadUInt16LittleEndian(span[(need + 2)..]);
                var aux = need + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(need + 8)..]);
                for (var a = 0; a < cnt; a++)
                {
                    var nameOff = strOff + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 8)..]);
                    var end = span[nameOff..].IndexOf((byte)0);
                    if (Encoding.ASCII.GetString(span.Slice(nameOff, end)) == version) return aux + 4;
                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 12)..]);
                }
                need += (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(need + 12)..]);
            }
        }
        return -1;
    }
}
