using System.Diagnostics;
using System.Globalization;

namespace O2O.Core;

/// <summary>
/// A log that can also show one live status line. The CLI's log implements it; library code reaches it through the
/// <c>Action&lt;string&gt;</c> log it is handed (<see cref="PhaseProgress"/> looks at the delegate's target), so no
/// signature has to change and a plain lambda log simply gets plain lines.
/// </summary>
public interface IStatusLog
{
    /// <summary>True when the status line is redrawn in place (a terminal), false when it becomes plain lines.
    /// </summary>
    bool Live { get; }

    /// <summary>Show <paramref name="text"/> as the status line, replacing the previous one.</summary>
    void Status(string text);
}

/// <summary>
/// Log lines and one status line on a writer: on a terminal the status line is redrawn in place (carriage return)
/// and wiped before the next log line; elsewhere (a file, a pipe) status text becomes a plain line at most every
/// <see cref="PlainEvery"/>, so logs stay readable. Thread-safe.
/// </summary>
public sealed class StatusWriter(TextWriter writer, bool live) : IStatusLog
{
    /// <summary>Least time between two plain status lines when the output is not a terminal.</summary>
    public static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(10);

    readonly Lock gate = new();
    readonly Stopwatch sincePlain = Stopwatch.StartNew();
    bool plainYet;
    int shown;   // characters of the status line on screen (live only)

    public bool Live => live;

    /// <summary>Write one log line (wiping a status line first).</summary>
    public void Line(string text)
    {
        lock (gate)
        {
            Wipe();
            writer.WriteLine(text);
        }
    }

    public void Status(string text)
    {
        lock (gate)
        {
            if (live)
            {
                writer.Write("\r" + text + new string(' ', Math.Max(0, shown - text.Length)));
                shown = text.Length;
                writer.Flush();
                return;
            }
            if (plainYet && sincePlain.Elapsed < PlainEvery) return;
            plainYet = true;
            sincePlain.Restart();
            writer.WriteLine(text);
        }
    }

    void Wipe()
    {
        if (shown == 0) return;
        writer.Write("\r" + new string(' ', shown) + "\r");
        shown = 0;
    }
}

/// <summary>
/// Progress of one phase with its rate and remaining time: "dsr: 41% (8.2/20 epochs), 1.9 epochs/min, eta 06:12".
/// Reports go to the log's status line when it has one (<see cref="IStatusLog"/>: redrawn at most 4 times a second on
/// a terminal), else to the log as plain lines at most every <see cref="StatusWriter.PlainEvery"/>; without a log,
/// nowhere. Call <see cref="Report"/> as often as convenient: it is cheap when it prints nothing.
/// </summary>
public sealed class PhaseProgress
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    readonly Action<string>? log;
    readonly IStatusLog? status;
    readonly string phase, unit;
    readonly double total;
    readonly Stopwatch clock = Stopwatch.StartNew();
    double lastPrinted = double.NegativeInfinity;

    public PhaseProgress(Action<string>? log, string phase, double total, string unit)
    {
        this.log = log;
        status = log?.Target as IStatusLog;
        this.phase = phase;
        this.total = total;
        this.unit = unit;
    }

    /// <summary>Seconds since the phase started.</summary>
    public double Elapsed => clock.Elapsed.TotalSeconds;

    /// <summary>Report <paramref name="done"/> of the total (in the phase's unit), with an optional detail.</summary>
    public void Report(double done, string? detail = null)
    {
        if (log is null) return;
        var now = clock.Elapsed.TotalSeconds;
        var every = status is { Live: true } ? 0.25 : StatusWriter.PlainEvery.TotalSeconds;
        if (now - lastPrinted < every) return;
        lastPrinted = now;
        var line = Line(done, now, detail);
        if (status is not null) status.Status(line);
        else log(line);
    }

    /// <summary>End the phase with a plain log line (which also wipes the status line).</summary>
    public void Done(string line) => log?.Invoke(line);

    string Line(double done, double seconds, string? detail)
    {
        var rate = seconds > 0 ? done / seconds : 0;
        var pct = total > 0 ? 100 * done / total : 100;
        var eta = Eta(seconds, done, total);
        return string.Create(Inv, $"{phase}: {pct:F0}% ({Count(done)}/{Count(total)} {unit}), {Count(rate)} {unit}/s, "
            + $"eta {Format(eta)}{(detail is null ? "" : "  " + detail)}");
    }

    /// <summary>Remaining time at the mean rate so far (null before any progress).</summary>
    public static TimeSpan? Eta(double elapsedSeconds, double done, double total) =>
        done <= 0 ? null : TimeSpan.FromSeconds(elapsedSeconds / done * Math.Max(0, total - done));

    /// <summary>hh:mm:ss (mm:ss under an hour), or "?" when unknown.</summary>
    public static string Format(TimeSpan? t) => t is not { } v ? "?"
        : v.TotalHours >= 1 ? v.ToString(@"hh\:mm\:ss", Inv) : v.ToString(@"mm\:ss", Inv);

    /// <summary>A count as people read it: 950, 12.3k, 1.25M; fractions below 10 keep one decimal.</summary>
    public static string Count(double v) => v switch
    {
        >= 1e6 => string.Create(Inv, $"{v / 1e6:0.##}M"),
        >= 1e4 => string.Create(Inv, $"{v / 1e3:0.#}k"),
        >= 10 => string.Create(Inv, $"{v:F0}"),
        _ => string.Create(Inv, $"{v:0.#}"),
    };
}
