namespace O2O.Cli.Tests;

/// <summary>`train-online --algo sac` end to end with a tiny budget, and its one-line errors.</summary>
public class SacCommandTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cli-sac-").FullName;

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    string[] Tiny(params string[] extra) =>
    [
        "train-online", "--algo", "sac", "--env_id", "Hopper-v4", "--total_steps", "600", "--steps_per_epoch", "300",
        "--learning_starts", "200", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes", "1",
        "--log_csv", tmp, .. extra,
    ];

    [Fact]
    public void Sac_logs_the_shared_schema_and_names_the_run_after_env_algo_and_seed()
    {
        var r = CliHarness.Run(Tiny("--seed", "4"));
        Assert.True(r.Code == 0, r.Err + r.Out);
        var csv = Path.Combine(tmp, "Hopper-v4_sac_s4.csv");
        var lines = File.ReadAllLines(csv);
        Assert.Equal(3, lines.Length);
        var header = lines[0].Split(',');
        foreach (var column in new[] { "epoch", "env_steps", "eval/return_mean", "eval/normalized", "losses/critic",
            "charts/alpha", "charts/nonfinite_restores" })
            Assert.Contains(column, header);
        Assert.Contains("Hopper-v4_sac_s4_actor.pt", r.Out, StringComparison.Ordinal);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(csv, ".json")))!;
        Assert.Equal(32, (int)json["BatchSize"]!);
        Assert.Equal(0.0003, (double)json["Lr"]!); // SAC's own default: the flag was not given
    }

    [Theory]
    [InlineData("--clip", "0.3", "--clip is not a SAC setting")]
    [InlineData("--gae_lambda", "0.9", "--gae_lambda is not a SAC setting")]
    public void Ppo_flags_with_sac_are_usage_errors(string flag, string value, string message)
    {
        var r = CliHarness.Run(Tiny(flag, value));
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, message);
        Assert.Empty(Directory.GetFiles(tmp));
    }

    [Fact]
    public void Sac_flags_without_algo_sac_and_bad_values_are_usage_errors()
    {
        var r = CliHarness.Run("train-online", "--env_id", "Hopper-v4", "--tau", "0.1", "--log_csv", tmp);
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--tau is an off-policy setting; add --algo sac or iql");
        r = CliHarness.Run(Tiny("--tau", "2"));
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--tau must be in");
        r = CliHarness.Run("train-online", "--algo", "td3", "--env_id", "Hopper-v4", "--log_csv", tmp);
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--algo 'td3' must be one of: ppo, sac, iql");
    }
}
