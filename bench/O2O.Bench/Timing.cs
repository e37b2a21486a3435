using System.Diagnostics;

namespace O2O.Bench;

/// <summary>Shared measuring helpers of the benchmarks.</summary>
internal static class Timing
{
    /// <summary>
    /// Run <paramref name="action"/> once to warm up, then <paramref name="repeats"/> times; median and minimum
    /// seconds.
    /// </summary>
    public static (double Median, double Min) Measure(int repeats, Action action)
    {
        action();
        var times = new double[repeats];
        var sw = new Stopwatch();
        for (var r = 0; r < repeats; r++)
        {
            sw.Restart();
            action();
            times[r] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return (times[repeats / 2], times[0]);
    }

    /// <summary>The 1-minute load average, to print beside every measurement ("?" when unreadable).</summary>
    public static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
