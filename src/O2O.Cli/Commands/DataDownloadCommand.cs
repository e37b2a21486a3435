using O2O.Core;
using O2O.Data;

namespace O2O.Cli.Commands;

/// <summary>`o2o data download`: fetch a D4RL -v2 file, resumable, verified before it gets its final name.</summary>
public static class DataDownloadCommand
{
    public static readonly CommandSpec Spec = new(
        "data download",
        "download a D4RL gym-mujoco dataset (e.g. hopper-medium-v2) into DIR/TASK.hdf5, resuming a partial download",
        [
            new("task",
                "D4RL task: hopper|walker2d|halfcheetah - random|medium|medium-replay|medium-expert|expert - v2",
                Required: true),
            new("dir", "data folder", "data"),
            new("base_url", "server folder holding {env}_{quality}-v2.hdf5", D4rlDownload.DefaultBaseUrl),
            new("timeout", "seconds without progress (connect, headers, or data) before giving up", "60"),
            new("sha256", "expected SHA-256 of the file (64 hex digits): a mismatch is an error and the file is "
                + "not kept"),
        ],
        Execute) { StopsOnCancel = true, Resume = ResumeStyle.Rerun };

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var timeout = TimeSpan.FromSeconds(a.Double("timeout", 0.1, 86400));
        // The status line (StatusWriter): redrawn in place on a terminal, plain lines at most every 10 s in logs.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long? first = null;   // bytes at the first report: a resumed download's rate counts this session's bytes
        var progress = new SyncProgress(p =>
        {
            if (p.Stage != "progress" || p.Bytes == p.Total) { ctx.Log(p.Message); return; }
            first ??= p.Bytes;
            var eta = p.Total is long total
                ? PhaseProgress.Eta(clock.Elapsed.TotalSeconds, p.Bytes - first.Value, total - first.Value) : null;
            ctx.Status($"{p.Message}, eta {PhaseProgress.Format(eta)}");
        });
        var task = a.RequiredString("task");
        var dir = a.RequiredString("dir");
        string path;
        try
        {
            path = D4rlDownload.Fetch(task, dir, a.String("base_url"), progress, ctx.Cancel, timeout,
                a.String("sha256"));
        }
        catch (UserError e) when (e.Message.Contains(D4rlDownload.CollectHint, StringComparison.Ordinal))
        {
            var t = D4rlTask.Parse(task);
            var message = e is OptionError o ? Spec.Reword(o) : e.Message;
            throw new UserError(message.Replace(D4rlDownload.CollectHint,
                $"or make one here with 'o2o data collect --env_id {t.Env.EnvId} --quality {t.Quality} --out FILE'"));
        }
        ctx.Log(path);
        return 0;
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the pool and reorder lines).</summary>
    sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
