using System.Diagnostics;
using System.Text.Json;
using O2O.Experiments;

namespace O2O.Cli.Tests;

/// <summary>The rliable statistics by hand and against numpy (Debian's python3-numpy) on fixed inputs, and the
/// report of `o2o compare --report`.</summary>
public class RliableTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cli-rliable-").FullName;

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    [Fact]
    public void Iqm_and_probability_of_improvement_by_hand()
    {
        // 8 scores: cut ⌊0.25·8⌋ = 2 from each end, mean of 3, 4, 5, 6.
        Assert.Equal(4.5, Rliable.Iqm([8.0, 1, 7, 2, 6, 3, 5, 4]));
        // 10 scores: cut 2 from each end; the outliers 1000 and −1000 are gone.
        Assert.Equal(5.5, Rliable.Iqm([-1000.0, 2, 3, 4, 5, 6, 7, 8, 9, 1000]));
        // 5 scores: cut ⌊1.25⌋ = 1 from each end.
        Assert.Equal(3.0, Rliable.Iqm([1.0, 2, 3, 4, 100]), 12);
        // x = (1, 2), y = (1.5, 2): pairs 1>1.5 no, 1>2 no, 2>1.5 yes, 2=2 half → 1.5 / 4.
        Assert.Equal(0.375, Rliable.ProbabilityOfImprovement([[1.0, 2]], [[1.5, 2]]));
        // Two tasks, averaged: task 1 as above, task 2 x always better → (0.375 + 1) / 2.
        Assert.Equal(0.6875, Rliable.ProbabilityOfImprovement([[1.0, 2], [5.0]], [[1.5, 2], [1.0, 2]]));
        Assert.Equal(0.5, Rliable.ProbabilityOfImprovement([[3.0, 3]], [[3.0]]));
        // Percentile as numpy: linear interpolation between order statistics.
        Assert.Equal(1.075, Rliable.Percentile([1.0, 2, 3, 4], 2.5), 12);
        // A stratified resample never takes a run of another task.
        var idx = Rliable.Resamples([2, 5], 50, 7);
        Assert.All(idx, rep => Assert.True(rep[0].Length == 2 && rep[0].All(i => i < 2) && rep[1].Length == 5));
        // Identical runs within each task: every resample has the same mean, the interval is a point.
        var (lo, hi) = Rliable.Interval([[1.0, 1, 1], [3.0, 3]], Rliable.Mean, 200, 1);
        Assert.Equal(1.8, lo, 12);
        Assert.Equal(1.8, hi, 12);
    }

    [SkippableFact]
    public void Iqm_stratified_bootstrap_intervals_and_probability_of_improvement_match_numpy()
    {
        Skip.IfNot(File.Exists("/usr/bin/python3") && Python("-c", "import numpy").Code == 0,
            "python3-numpy is not installed (./test.sh installs it: apt-get install python3-numpy)");
        IReadOnlyList<IReadOnlyList<double>> x = [[31.5, 40.2, 12.0, 55.1, 47.3], [80.0, 75.5, 91.2, 60.4],
            [5.5, 7.25, 3.0, 9.75, 4.5, 8.0]];
        IReadOnlyList<IReadOnlyList<double>> y = [[30.0, 41.0, 20.0, 47.3], [70.1, 75.5, 88.0, 65.0, 79.9],
            [6.0, 2.5, 7.25]];
        const int reps = 300;
        var rx = Rliable.Resamples(x.Select(s => s.Count).ToList(), reps, 11);
        var ry = Rliable.Resamples(y.Select(s => s.Count).ToList(), reps, 12);
        var ours = new Dictionary<string, double[]>
        {
            ["iqm"] = [Rliable.Iqm(x)],
            ["mean_ci"] = [Rliable.Interval(x, Rliable.Mean, rx).Lo, Rliable.Interval(x, Rliable.Mean, rx).Hi],
            ["iqm_ci"] = [Rliable.Interval(x, Rliable.Iqm, rx).Lo, Rliable.Interval(x, Rliable.Iqm, rx).Hi],
            ["poi"] = [Rliable.ProbabilityOfImprovement(x, y)],
            ["poi_ci"] = [Rliable.ProbabilityOfImprovementInterval(x, y, rx, ry).Lo,
                Rliable.ProbabilityOfImprovementInterval(x, y, rx, ry).Hi],
        };
        var input = Path.Combine(tmp, "input.json");
        File.WriteAllText(input, JsonSerializer.Serialize(new { x, y, rx, ry }));
        const string script = """
            import json, sys
            import numpy as np
            d = json.load(open(sys.argv[1]))
            x = [np.array(t) for t in d["x"]]; y = [np.array(t) for t in d["y"]]
            def iqm(tasks):  # scipy.stats.trim_mean(pooled, 0.25), as rliable
                s = np.sort(np.concatenate(tasks)); k = int(0.25 * len(s))
                return float(np.mean(s[k:len(s) - k]))
            def mean(tasks): return float(np.mean(np.concatenate(tasks)))
            def take(tasks, idx): return [t[np.array(i, dtype=int)] for t, i in zip(tasks, idx)]
            def poi(a, b):  # Mann-Whitney per task, averaged
                return float(np.mean([np.mean((ai[:, None] > bi[None, :]) + 0.5 * (ai[:, None] == bi[None, :]))
                                      for ai, bi in zip(a, b)]))
            def ci(stats): return [float(v) for v in np.percentile(np.array(stats), [2.5, 97.5])]
            print(json.dumps({
                "iqm": [iqm(x)],
                "mean_ci": ci([mean(take(x, r)) for r in d["rx"]]),
                "iqm_ci": ci([iqm(take(x, r)) for r in d["rx"]]),
                "poi": [poi(x, y)],
                "poi_ci": ci([poi(take(x, a), take(y, b)) for a, b in zip(d["rx"], d["ry"])]),
            }))
            """;
        var scriptPath = Path.Combine(tmp, "check.py");
        File.WriteAllText(scriptPath, script);
        var (code, stdout, stderr) = Python(scriptPath, input);
        Assert.True(code == 0, stderr);
        var theirs = JsonSerializer.Deserialize<Dictionary<string, double[]>>(stdout)!;
        Assert.Equal(theirs.Keys.Order(), ours.Keys.Order());
        foreach (var (name, expected) in theirs)
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(ours[name][i] - expected[i]) <= 1e-9 * Math.Max(1, Math.Abs(expected[i])),
                    $"{name}[{i}]: ours {ours[name][i]:R}, numpy {expected[i]:R}");
    }

    static (int Code, string Out, string Err) Python(params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    string Log(string name, double[] scores)
    {
        var lines = new List<string> { "epoch,env_steps,wall_s,eval/normalized" };
        for (var i = 0; i < scores.Length; i++)
            lines.Add(FormattableString.Invariant($"{i + 1},{(i + 1) * 1000},{i * 0.5},{scores[i]}"));
        var path = Path.Combine(tmp, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Compare_report_writes_markdown_with_rliable_tables_and_banded_curves()
    {
        double[] a = [30, 25, 40, 50, 44, 60, 70, 65, 80, 90];
        var a1 = Log("a1.csv", a);
        var a2 = Log("a2.csv", a.Select(v => v + 10).ToArray());
        var b1 = Log("b1.csv", a.Select(v => v - 5).ToArray());
        var b2 = Log("b2.csv", a.Select(v => v - 20).ToArray());
        var dir = Path.Combine(tmp, "report");
        var r = CliHarness.Run("compare", "--variant", $"a={a1},{a2};b={b1},{b2}", "--reference", "30",
            "--total_steps", "10000", "--report", dir, "--baseline", "b");
        Assert.True(r.Code == 0, r.Err);
        // The classic table is still printed as before.
        Assert.Contains("| a | 2 | 2.5 [", r.Out);
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        // a's finals 55.4 and 65.4: mean 60.4; IQM of two runs (nothing cut) is the mean.
        Assert.Contains("| a | 1 | 2 | 2.5 [", md);
        Assert.Contains("| 60.4 [55.4, 65.4] |", md);
        // Every a run beats every b run: P(a > b) = 1 with a point interval.
        Assert.Contains("| a | 1.00 [1.00, 1.00] | 1.00 [1.00, 1.00] | 1 |", md);
        Assert.Contains("![all](curves_all.png)", md);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(dir, "curves_all.png"))[..4]);
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"a={a1}", "--report", dir, "--baseline",
            "zz"), "--baseline 'zz' is no variant");
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"a={a1}", "--baseline", "a"),
            "--baseline needs --report");
    }
}
