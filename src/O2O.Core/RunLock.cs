using System.Globalization;

namespace O2O.Core;

/// <summary>
/// One run per folder: the file <see cref="FileName"/> in the folder holds the PID, host and start time of the
/// process that owns it, and disappears when that run ends. A second run on the folder is refused with one line
/// naming the holder; a lock whose process is gone (killed, machine rebooted) is stale and taken over with a notice.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".o2o.lock";

    readonly string path;
    int released;

    RunLock(string path) => this.path = path;

    /// <summary>The lock file of the folder.</summary>
    public string Path => path;

    /// <summary>
    /// Take the lock of <paramref name="folder"/> (created if missing); <paramref name="what"/> names the folder in
    /// messages (e.g. "run root").
    /// </summary>
    /// <exception cref="UserError">Another live process holds it, or the folder is not writable.</exception>
    public static RunLock Acquire(string folder, string what, Action<string>? log = null) =>
        AcquireFile(System.IO.Path.Combine(System.IO.Path.GetFullPath(folder), FileName), $"{what} '{folder}'", log);

    /// <summary>
    /// Take the lock file <paramref name="lockPath"/> itself (e.g. one per run name in a shared log folder);
    /// <paramref name="subject"/> names what it guards in messages (e.g. "run 'x' (log 'logs/x.csv')").
    /// </summary>
    /// <exception cref="UserError">Another live process holds it, or its folder is not writable.</exception>
    public static RunLock AcquireFile(string lockPath, string subject, Action<string>? log = null)
    {
        lockPath = System.IO.Path.GetFullPath(lockPath);
        AtomicFile.EnsureWritableFolder(lockPath, "lock file");
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (TryCreate(lockPath)) return new RunLock(lockPath);
            var holder = Holder.Read(lockPath);
            if (holder is null) continue;  // released (or half-written) meanwhile: try again
            if (holder.Alive)
                throw new UserError($"{subject} is in use by another o2o process (PID {holder.Pid} on "
                    + $"{holder.Host}, since {holder.Since}); wait for it to end or choose another folder"
                    + (holder.Host == Environment.MachineName ? "" : $" (if that run is gone, delete '{lockPath}')"));
            log?.Invoke($"{subject}: taking over the stale lock of PID {holder.Pid} on {holder.Host} "
                + $"(since {holder.Since}; that process is gone)");
            try { File.Delete(lockPath); } catch (IOException) { }
        }
        throw new UserError($"{subject}: cannot take its lock '{lockPath}'; another run is starting there");
    }

    static bool TryCreate(string lockPath)
    {
        try
        {
            using var fs = new FileStream(lockPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
            using var w = new StreamWriter(fs);
            w.Write(string.Create(CultureInfo.InvariantCulture,
                $"{Environment.ProcessId}\n{Environment.MachineName}\n{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\n"));
            return true;
        }
        catch (IOException) when (File.Exists(lockPath))
        {
            return false;
        }
    }

    /// <summary>The process named in a lock file.</summary>
    sealed record Holder(int Pid, string Host, string Since)
    {
        public static Holder? Read(string lockPath)
        {
            string[] lines;
            try { lines = File.ReadAllLines(lockPath); }
            catch (FileNotFoundException) { return null; }
            if (lines.Length < 3 || !int.TryParse(lines[0], CultureInfo.InvariantCulture, out var pid))
                return new Holder(0, Environment.MachineName, "an unreadable lock file");
            return new Holder(pid, lines[1], lines[2]);
        }

        /// <summary>
        /// On this host: the PID runs and is an o2o (dotnet) process — a reused PID of another program is not the
        /// holder. On another host nothing can be checked: the lock counts as held.
        /// </summary>
        public bool Alive
        {
            get
            {
                if (Host != Environment.MachineName) return true;
                if (Pid <= 0) return false;
                if (Pid == Environment.ProcessId) return true;
                try
                {
                    var cmd = File.ReadAllText($"/proc/{Pid}/cmdline");
                    return cmd.Contains("o2o", StringComparison.Ordinal)
                        || cmd.Contains("dotnet", StringComparison.Ordinal);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return false;
                }
            }
        }
    }

    /// <summary>Release the lock (delete its file) if this process still owns it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref released, 1) != 0) return;
        try
        {
            if (Holder.Read(path) is { } h && h.Pid == Environment.ProcessId) File.Delete(path);
        }
        catch (IOException) { }
    }
}
