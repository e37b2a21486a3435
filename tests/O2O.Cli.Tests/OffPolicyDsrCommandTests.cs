namespace O2O.Cli.Tests;

/// <summary>`train-online --algo sac|iql --dsr_path`: the DSR's flags reach the off-policy learners; one-line errors.</summary>
public class OffPolicyDsrCommandTests(LearningData data) : IClassFixture<LearningData>
{
    /// <summary>The Hopper-v4 DSR of tests/fixtures/ppo-baseline (a tiny flow; its README has the command).</summary>
    internal static string FixtureDsr()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", "ppo-baseline", "dsr.pt");
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException("tests/fixtures/ppo-baseline/dsr.pt not found above " + AppContext.BaseDirectory);
    }

    static string[] Sac(string dir, params string[] extra) =>
    [
        "train-online", "--algo", "sac", "--env_id", "Hopper-v4", "--total_steps", "600", "--steps_per_epoch", "300",
        "--learning_starts", "200", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes", "1",
        "--log_csv", dir, .. extra,
    ];

    /// <summary>A CSV's columns except time, wall clock and dsr/*, as rows of cells.</summary>
    static string[] Comparable(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length).Where(j => header[j] != "wall_s"
            && !header[j].StartsWith("time/", StringComparison.Ordinal)
            && !header[j].StartsWith("dsr/", StringComparison.Ordinal)).ToArray();
        return lines.Select(l => string.Join(',', keep.Select(j => l.Split(',')[j]))).ToArray();
    }

    [Fact]
    public void Sac_with_a_dsr_at_beta_and_eta_zero_logs_the_plain_numbers_and_the_dsr_columns()
    {
        var dir = data.NewFolder("sac-dsr");
        var plain = CliHarness.Run(Sac(dir, "--run_name", "plain"));
        Assert.True(plain.Code == 0, plain.Err + plain.Out);
        var zero = CliHarness.Run(Sac(dir, "--run_name", "zero", "--dsr_path", FixtureDsr(), "--beta", "0", "--eta", "0"));
        Assert.True(zero.Code == 0, zero.Err + zero.Out);
        var value = CliHarness.Run(Sac(dir, "--run_name", "value", "--dsr_path", FixtureDsr(), "--pessimism", "value",
            "--beta", "1", "--anneal", "none", "--support", "conditional"));
        Assert.True(value.Code == 0, value.Err + value.Out);
        Assert.Equal(Comparable(Path.Combine(dir, "plain.csv")), Comparable(Path.Combine(dir, "zero.csv")));
        Assert.NotEqual(Comparable(Path.Combine(dir, "plain.csv")), Comparable(Path.Combine(dir, "value.csv")));
        var header = File.ReadLines(Path.Combine(dir, "value.csv")).First();
        foreach (var column in new[] { "time/dsr_s", "dsr/support_mean", "dsr/oos_frac", "dsr/beta", "dsr/eta" })
            Assert.Contains(column, header, StringComparison.Ordinal);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "value.json")))!;
        Assert.Equal("value", (string)json["Shaping"]!["Pessimism"]!);
        Assert.Equal(FixtureDsr(), (string)json["DsrPath"]!);
    }

    [Fact]
    public void Iql_fine_tuning_takes_a_dsr_and_scores_the_kept_offline_data()
    {
        var dir = data.NewFolder("iql-dsr");
        var agent = Path.Combine(dir, "iql_agent.pt");
        var offline = CliHarness.Run("train-offline", "--offline_path", data.HopperHdf5, "--env_id", "Hopper-v4",
            "--steps", "50", "--steps_per_epoch", "50", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes",
            "0", "--out", agent);
        Assert.True(offline.Code == 0, offline.Err + offline.Out);
        var r = CliHarness.Run("train-online", "--algo", "iql", "--env_id", "Hopper-v4", "--init_agent", agent,
            "--offline_path", data.HopperHdf5, "--total_steps", "200", "--steps_per_epoch", "100", "--batch_size", "32",
            "--eval_episodes", "1", "--log_csv", dir, "--dsr_path", FixtureDsr(), "--pessimism", "value");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var lines = File.ReadAllLines(Path.Combine(dir, "Hopper-v4_iql_keep_s1.csv"));
        Assert.Equal(3, lines.Length);
        Assert.EndsWith("dsr/beta,dsr/eta", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_dsr_of_another_env_and_shaping_flags_without_one_are_one_line_errors()
    {
        var dir = data.NewFolder("sac-dsr-bad");
        var walker = Sac(dir, "--dsr_path", FixtureDsr());
        walker[Array.IndexOf(walker, "Hopper-v4")] = "Walker2d-v4";
        var r = CliHarness.Run(walker);
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "Hopper-v4", "Walker2d-v4");
        r = CliHarness.Run(Sac(dir, "--beta", "1"));
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--beta needs --dsr_path");
        r = CliHarness.Run(Sac(dir, "--dsr_path", FixtureDsr(), "--anneal_frac", "0"));
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--anneal_frac must be");
        Assert.Empty(Directory.GetFiles(dir));
    }
}
