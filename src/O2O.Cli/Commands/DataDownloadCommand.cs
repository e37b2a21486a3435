using O2O.Data;

namespace O2O.Cli.Commands;

/// <summary>`o2o data download`: fetch a D4RL -v2 file, resumable, verified before it gets its final name.</summary>
public static class DataDownloadCommand
{
    public static readonly CommandSpec Spec = new(
        "data download",
        "download a D4RL gym-mujoco dataset (e.g. hopper-medium-v2) into DIR/TASK.hdf5, resuming a partial download",
        [
            new OptionSpec("task", "D4RL task: hopper|walker2d|halfcheetah - random|medium|medium-replay|medium-expert|expert - v2", Required: true),
            new OptionSpec("dir", "data folder", "data"),
            new OptionSpec("base_url", "server folder holding {env}_{quality}-v2.hdf5", D4rlDownload.DefaultBaseUrl),
            new OptionSpec("timeout", "seconds without progress (connect, headers, or data) before giving up", "60"),
        ],
        Execute);

    static int Execute(ParsedArgs a)
    {
        var timeout = TimeSpan.FromSeconds(a.Double("timeout", 0.1, 86400));
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var tty = !Console.IsOutputRedirected;
            var lastPlain = DateTime.MinValue;
            var progress = new SyncProgress(p =>
            {
                if (p.Stage == "progress")
                {
                    if (tty) { Console.Write($"\r{p.Message}   "); return; }
                    // Plain lines for logs: at most one every 5 s.
                    if (DateTime.UtcNow - lastPlain < TimeSpan.FromSeconds(5) && p.Bytes != p.Total) return;
                    lastPlain = DateTime.UtcNow;
                }
                else if (tty && p.Stage == "done") Console.WriteLine();
                Console.WriteLine(p.Message);
            });
            var path = D4rlDownload.Fetch(a.RequiredString("task"), a.RequiredString("dir"), a.String("base_url"), progress, cts.Token, timeout);
            Console.WriteLine(path);
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
