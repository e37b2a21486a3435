using System.Globalization;

namespace O2O.Core;

/// <summary>Writes that never leave a half-written file under the final name.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Run <paramref name="write"/> against a temporary file in the destination folder, then rename it
    /// over <paramref name="path"/>. On any failure the temporary file is removed and nothing else changes.
    /// </summary>
    public static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"cannot create folder '{dir}' for '{path}' ({e.Message}); choose a writable location");
        }
        RemoveStale(dir);
        // Keep the extension last: some writers (PNG, HDF5) look at it.
        var tmp = Path.Combine(dir,
            $".tmp-{Environment.ProcessId}-{HostTag}{Guid.NewGuid().ToString("N")[..24]}-{Path.GetFileName(full)}");
        try
        {
            write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            long written = 0;
            try { written = new FileInfo(tmp).Exists ? new FileInfo(tmp).Length : 0; } catch (IOException) { }
            // Some writers hide the disk-full error behind their own (PureHDF flushes its chunk cache again while
            // disposing and throws about that): a file system left without free space is the telling sign.
            var diskFull = e is not DiskFullError && (DiskFull.Is(e) || DiskFull.NoSpaceLeft(dir));
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is UnauthorizedAccessException or DirectoryNotFoundException)
                throw new UserError($"cannot write '{path}' ({e.Message}); choose a writable location");
            // The version it replaces, if any, tells the size it will have.
            if (diskFull)
                throw DiskFull.Error(path, written, e, expected: File.Exists(full) ? new FileInfo(full).Length : 0);
            throw;
        }
    }

    /// <summary>
    /// This host in a temporary's name (8 hex digits of its name's hash): PIDs are only checked on their own host,
    /// a writer on another machine sharing the folder (NFS, a cluster's home) keeps its temporaries.
    /// </summary>
    static readonly string HostTag = Fnv(Environment.MachineName).ToString("x8", CultureInfo.InvariantCulture);

    static uint Fnv(string s)
    {
        var h = 2166136261u;
        foreach (var c in s) h = (h ^ c) * 16777619u;
        return h;
    }

    /// <summary>
    /// Delete the temporaries of writers that were killed mid-write (SIGKILL, a crash, a power cut) in
    /// <paramref name="dir"/>: ".tmp-PID-…" files whose process is gone. They are never under a final name, but a
    /// killed dataset write can leave hundreds of megabytes. A PID that runs (perhaps reused by another program) keeps
    /// its files, and so do other hosts' (their PIDs mean nothing here).
    /// </summary>
    public static void RemoveStale(string dir)
    {
        try
        {
            foreach (var f in Directory.EnumerateFiles(dir, ".tmp-*"))
            {
                var parts = Path.GetFileName(f).Split('-', 4);
                if (parts.Length < 4 || !int.TryParse(parts[1], out var pid) || pid == Environment.ProcessId
                    || !parts[2].StartsWith(HostTag, StringComparison.Ordinal)) continue;
                if (Directory.Exists($"/proc/{pid}") || !Directory.Exists("/proc/self")) continue;
                try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Write a stream's worth of bytes atomically.</summary>
    public static void WriteStream(string path, Action<Stream> write) =>
        Write(path, tmp =>
        {
            using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            write(fs);
            fs.Flush(flushToDisk: true);
        });

    /// <summary>Write text atomically (UTF-8, no BOM).</summary>
    public static void WriteText(string path, string text) =>
        WriteStream(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true);
            w.Write(text);
        });

    /// <summary>
    /// Fail early, with a one-line message, if files cannot be created in the folder of <paramref name="path"/>.
    /// </summary>
    public static void EnsureWritableFolder(string path, string what)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, $".o2o-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{what} '{path}' is not writable ({e.Message}); choose a writable location");
        }
    }
}
