using System.Diagnostics;
using O2O.Data;

namespace O2O.Data.Tests;

/// <summary>Paths of the committed fixtures and a temp folder per test.</summary>
internal static class Fixtures
{
    static readonly Lazy<string> Dir = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = System.IO.Path.Combine(d.FullName, "tests", "fixtures");
            if (File.Exists(System.IO.Path.Combine(candidate, "make_fixtures.py"))) return candidate;
        }
        throw new InvalidOperationException("tests/fixtures not found above " + AppContext.BaseDirectory);
    });

    public static string Path(string name) => System.IO.Path.Combine(Dir.Value, name);

    // The formulas of make_fixtures.py.
    public static float Obs(int i, int j) => (float)(i * 0.5 + j * 0.01);
    public static float Act(int i, int k) => (float)((i - k) / 40.0);
    public static float Rew(int i) => (float)(1 + i * 0.1);

    /// <summary>
    /// Row i of a loaded fixture: observations, actions, reward, the fall at 14 and the time limit at 29.
    /// </summary>
    public static void AssertCoreRow(OfflineDataset ds, int i)
    {
        for (var j = 0; j < 11; j++) Assert.Equal(Obs(i, j), ds.Observations[i * 11 + j]);
        for (var k = 0; k < 3; k++) Assert.Equal(Act(i, k), ds.Actions[i * 3 + k]);
        Assert.Equal(Rew(i), ds.Rewards![i]);
        Assert.Equal(i == 14, ds.Terminals![i]);
        Assert.Equal(i == 29, ds.Timeouts![i]);
    }

    /// <summary>Observations, actions, rewards, next observations and both flags survived a save and load.</summary>
    public static void AssertSameTransitions(OfflineDataset expected, OfflineDataset actual)
    {
        Assert.Equal(expected.Observations, actual.Observations);
        Assert.Equal(expected.Actions, actual.Actions);
        Assert.Equal(expected.Rewards, actual.Rewards);
        Assert.Equal(expected.NextObservations, actual.NextObservations);
        Assert.Equal(expected.Terminals, actual.Terminals);
        Assert.Equal(expected.Timeouts, actual.Timeouts);
    }
}

/// <summary>A fresh temp folder, removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("o2o-data-test-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

internal static class Make
{
    /// <summary>
    /// A dataset with every field filled with seeded random values; flags end episodes every ~50 rows.
    /// </summary>
    public static OfflineDataset Dataset(int n = 300, int obs = 11, int act = 3, int seed = 1, bool withMeta = true)
    {
        var r = new Random(seed);
        float[] F(int len)
        {
            var a = new float[len];
            for (var i = 0; i < len; i++) a[i] = (float)(r.NextDouble() * 4 - 2);
            return a;
        }
        double[] D(int len)
        {
            var a = new double[len];
            for (var i = 0; i < len; i++) a[i] = r.NextDouble() * 10 - 5;
            return a;
        }
        var term = new bool[n]; var tout = new bool[n];
        for (var i = 0; i < n; i++) { term[i] = r.Next(60) == 0; tout[i] = !term[i] && i % 50 == 49; }
        var meta = withMeta
            ? new Dictionary<string, string>
            {
                ["generated_by"] = "o2o tests",
                ["env_id"] = "Hopper-v4",
                ["policy"] = "random",
                ["seed"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }
            : null;
        return new OfflineDataset(n, obs, act, F(n * obs), F(n * act), F(n), F(n * obs), term, tout,
            D(n * (obs / 2 + 1)), obs / 2 + 1, D(n * (obs / 2)), obs / 2, D(n), meta);
    }
}

/// <summary>
/// A test that needs /usr/bin/python3 with numpy and h5py; skipped, with the reason shown, when they are missing.
/// </summary>
internal sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute() { if (Python.Missing is { } why) Skip = why; }
}

internal static class Python
{
    public const string Exe = "/usr/bin/python3";
    static readonly Lazy<string?> Check = new(() =>
    {
        if (!File.Exists(Exe)) return $"{Exe} is not installed";
        var (code, _, err) = Run("import numpy, h5py");
        return code == 0 ? null : $"{Exe} lacks numpy/h5py ({err.Trim().Split('\n').LastOrDefault()})";
    });
    public static string? Missing => Check.Value;

    /// <summary>Run a python snippet; returns exit code, stdout, stderr.</summary>
    public static (int code, string stdout, string stderr) Run(string code, params string[] args)
    {
        var psi = new ProcessStartInfo(
            Exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c"); psi.ArgumentList.Add(code);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException("python did not finish in 60 s"); }
        return (p.ExitCode, outTask.Result, errTask.Result);
    }
}

internal static class AssertOneLine
{
    /// <summary>The error is one line and mentions every fragment (case-insensitive).</summary>
    public static void Message(Exception e, params string[] fragments)
    {
        Assert.DoesNotContain('\n', e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
