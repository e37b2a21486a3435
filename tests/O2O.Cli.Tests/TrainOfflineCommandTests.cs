namespace O2O.Cli.Tests;

/// <summary>`train-offline --algo iql` end to end with a tiny budget, and its one-line errors.</summary>
public class TrainOfflineCommandTests(LearningData data) : IClassFixture<LearningData>
{
    string[] Tiny(string dir, params string[] extra) =>
    [
        "train-offline", "--offline_path", data.HopperHdf5, "--env_id", "Hopper-v4", "--steps", "100",
        "--steps_per_epoch", "50", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes", "1",
        "--out", Path.Combine(dir, "iql_agent.pt"), .. extra,
    ];

    [Fact]
    public void Iql_writes_the_log_and_an_agent_that_torch_load_can_read()
    {
        var dir = data.NewFolder("iql");
        var r = CliHarness.Run(Tiny(dir));
        Assert.True(r.Code == 0, r.Err + r.Out);
        var lines = File.ReadAllLines(Path.Combine(dir, "iql_agent.csv"));
        Assert.Equal(3, lines.Length);
        Assert.Contains("losses/value", lines[0], StringComparison.Ordinal);
        Assert.Contains("rewards scaled by", r.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "iql_agent.pt")));
    }

    [Theory]
    [InlineData("--algo", "cql", "--algo 'cql' must be one of: iql")]
    [InlineData("--expectile", "1.5", "--expectile must be in")]
    [InlineData("--gamma", "1.5", "--gamma must be in [0, 1]")]
    public void Bad_settings_are_usage_errors(string flag, string value, string message)
    {
        var dir = data.NewFolder("iql-bad");
        var r = CliHarness.Run(Tiny(dir, flag, value));
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, message);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void Data_of_another_env_is_a_one_line_error_and_writes_nothing()
    {
        var dir = data.NewFolder("iql-walker");
        var r = CliHarness.Run("train-offline", "--offline_path", data.WalkerNpz, "--env_id", "Hopper-v4", "--steps",
            "100", "--steps_per_epoch", "50", "--out", Path.Combine(dir, "a.pt"));
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, "has obs dim 17 and action dim 6, but Hopper-v4 has obs dim 11");
        Assert.Empty(Directory.GetFiles(dir));
    }
}
