namespace O2O.Core;

/// <summary>A write failed because the file system is full (ENOSPC) or the user's quota is spent (EDQUOT).</summary>
public sealed class DiskFullError(string message, Exception? inner = null) : UserError(message, inner);

/// <summary>
/// Tells a full disk from other I/O errors and says so in one line: which file, how much of it was written, how much
/// the file system has free, and how much more it needs at least.
/// </summary>
public static class DiskFull
{
    const int Enospc = 28, Edquot = 122;

    /// <summary>True when <paramref name="e"/> (or an exception inside it) is a full disk or a spent quota.</summary>
    public static bool Is(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is DiskFullError) return true;
            if (e is not IOException) continue;
            // .NET on Unix puts the errno in HResult; Windows: ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL.
            var code = e.HResult & 0xFFFF;
            if (code is Enospc or Edquot or 0x27 or 0x70
                || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
                || e.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    /// <summary>True when the file system of <paramref name="dir"/> has (almost) no space left for this user.</summary>
    public static bool NoSpaceLeft(string dir)
    {
        try { return new DriveInfo(dir).AvailableFreeSpace < 64 * 1024; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// The one-line error for a write of <paramref name="path"/> that stopped at <paramref name="written"/> bytes
    /// (the file under its final name is untouched: writes go to a temporary that is removed);
    /// <paramref name="expected"/> is the file's likely size when known (e.g. the previous version of it).
    /// </summary>
    public static DiskFullError Error(string path, long written, Exception inner, string what = "writing",
        long expected = 0)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        string space;
        long free = -1;
        try
        {
            var drive = new DriveInfo(dir);
            free = drive.AvailableFreeSpace;
            space = $"{Size(free)} free of {Size(drive.TotalSize)} there";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            space = "its free space unknown";
        }
        // The write did not fit in what is free now (its temporary is gone): that is the least it needs.
        var least = Math.Max(free, written);
        var stopped = written > 0 ? $"stopped after {Size(written)}" : "failed";
        var needs = expected > least ? $"about {Size(expected)}" : least > 0 ? $"more than {Size(least)}" : "more";
        return new DiskFullError($"disk full: {what} '{path}' {stopped} ({space}); it needs {needs} free in that "
            + "folder: free some space or choose a folder on another disk, then rerun — finished steps are kept, no "
            + "partial file was left", inner);
    }

    /// <summary>Bytes as a person reads them: 512 B, 3.4 MB, 1.2 GB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1L << 20 => $"{bytes / 1024.0:F1} KB",
        < 1L << 30 => $"{bytes / 1048576.0:F1} MB",
        _ => $"{bytes / 1073741824.0:F1} GB",
    };
}
