using System.Globalization;

namespace O2O.Cli.Tests;

/// <summary>`o2o compare` on hand-made train-online CSVs: the seed's metrics by hand, the plot, and its one-line
/// errors.</summary>
public class CompareCommandTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cli-compare-").FullName;

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    /// <summary>A train-online-shaped log: one row per 1000 steps, every row evaluated, dsr/oos_frac on the last
    /// row.</summary>
    string Log(string name, double[] scores, double oosEnd, int every = 1000)
    {
        var lines = new List<string> { "epoch,env_steps,wall_s,eval/normalized,dsr/oos_frac" };
        for (var i = 0; i < scores.Length; i++)
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{i + 1},{(i + 1) * every},{i * 0.5},{scores[i]},{(i == scores.Length - 1 ? oosEnd : 0.5)}"));
        var path = Path.Combine(tmp, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    static readonly double[] A = [30, 25, 40, 50, 44, 60, 70, 65, 80, 90];

    [Fact]
    public void Dip_final_auc_monotonicity_and_support_share_match_a_hand_computation()
    {
        var a = Log("a.csv", A, 0.1);
        var b = Log("b.csv", A.Select(x => x + 10).ToArray(), 0.3);
        var plot = Path.Combine(tmp, "curves.png");
        var md = Path.Combine(tmp, "table.md");
        var r = CliHarness.Run("compare", "--variant", $"v={a},{b};only a={a}", "--reference", "30", "--total_steps",
            "10000", "--plot", plot, "--out", md);
        Assert.True(r.Code == 0, r.Err);
        // a: dip = 30 − min(30, 25) = 5; final = AUC = mean of all 10 = 55.4; 44 is 6 below the best so far (50),
        // so 9 of 10 evaluations are within 5 points: monotonicity 0.90. b = a + 10: dip 0, final 65.4.
        Assert.Contains("| v | 2 | 2.5 [", r.Out);
        Assert.Contains("| 60.4 [55.4, 65.4] | 60.4 [55.4, 65.4] | 0.90 | 0.20 |", r.Out);
        Assert.Contains("| only a | 1 | 5.0 [5.0, 5.0] | 55.4 [55.4, 55.4] | 55.4 [55.4, 55.4] | 0.90 | 0.10 |", r.Out);
        Assert.Equal(r.Out[..r.Out.IndexOf("plot:", StringComparison.Ordinal)], File.ReadAllText(md));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(plot)[..4]);
    }

    [Fact]
    public void An_unfinished_run_or_a_wrong_budget_is_a_one_line_error()
    {
        var a = Log("a.csv", A, 0.1);
        var shortRun = Log("short.csv", A[..6], 0.1);
        // One more epoch (1000) would have fit in the 10000 budget: the run stopped early (crash, kill).
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"v={a},{shortRun}", "--total_steps",
            "10000"),
            "short.csv", "stops at 6000 of --total_steps 10000", "unfinished or crashed");
        // train-online stops when the next epoch would exceed the budget: 10000 of 10500 is finished.
        Assert.Equal(0, CliHarness.Run("compare", "--variant", $"v={a}", "--total_steps", "10500").Code);
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"v={a}", "--total_steps", "5000"),
            "runs to 10000 env steps, beyond --total_steps 5000");
    }

    [Fact]
    public void Missing_logs_columns_and_malformed_variants_are_one_line_errors()
    {
        var a = Log("a.csv", A, 0.1);
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"v={Path.Combine(tmp, "none.csv")}"),
            "none.csv", "does not exist");
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"v={a}", "--metric",
            "eval/return_mean"), "no column 'eval/return_mean'");
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", a), "must look like NAME=a.csv,b.csv");
        var noSteps = Path.Combine(tmp, "nosteps.csv");
        File.WriteAllLines(noSteps, ["epoch,eval/normalized", "1,30"]);
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"v={noSteps}", "--total_steps", "1000"),
            "no column 'env_steps'");
        var damaged = Path.Combine(tmp, "damaged.csv");
        File.WriteAllLines(damaged, [.. File.ReadAllLines(a).Take(4), "5,5000,2.0,4x.5,0.5"]);
        CliHarness.AssertOneLineError(CliHarness.Run("compare", "--variant", $"v={damaged}"), "damaged.csv", "line 5",
            "malformed");
    }
}
