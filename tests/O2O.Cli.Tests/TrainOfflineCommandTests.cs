namespace O2O.Cli.Tests;

/// <summary>`train-offline --algo iql` end to end with a tiny budget, and its one-line errors.</summary>
public class TrainOfflineCommandTests(LearningData data) : IClassFixture<LearningData>
{
    string[] Tiny(string dir, params string[] extra) => TinyAs(dir, "iql_agent.pt", extra);

    string[] TinyAs(string dir, string agent, params string[] extra) =>
    [
        "train-offline", "--offline_path", data.HopperHdf5, "--env_id", "Hopper-v4", "--steps", "100",
        "--steps_per_epoch", "50", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes", "1",
        "--out", Path.Combine(dir, agent), .. extra,
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
    [InlineData("--algo", "dqn", "--algo 'dqn' must be one of: iql, cql, calql")]
    [InlineData("--conservative_weight", "5", "--conservative_weight is a CQL setting; drop it or use --algo cql")]
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

    string Agent(string dir)
    {
        var r = CliHarness.Run(Tiny(dir));
        Assert.True(r.Code == 0, r.Err + r.Out);
        return Path.Combine(dir, "iql_agent.pt");
    }

    [Fact]
    public void Train_online_algo_iql_fine_tunes_the_agent_keeping_or_dropping_the_data()
    {
        var dir = data.NewFolder("iql-ft");
        var agent = Agent(dir);
        string[] online = ["train-online", "--algo", "iql", "--env_id", "Hopper-v4", "--init_agent", agent,
            "--total_steps", "200", "--steps_per_epoch", "100", "--batch_size", "32", "--eval_episodes", "1",
            "--log_csv", dir];
        var keep = CliHarness.Run([.. online, "--offline_path", data.HopperHdf5, "--mixing_ratio", "0.5"]);
        Assert.True(keep.Code == 0, keep.Err + keep.Out);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "Hopper-v4_iql_keep_s1.csv")).Length);
        var drop = CliHarness.Run([.. online, "--offline_data", "drop"]);
        Assert.True(drop.Code == 0, drop.Err + drop.Out);
        var header = File.ReadLines(Path.Combine(dir, "Hopper-v4_iql_drop_s1.csv")).First();
        Assert.Contains("train/return_mean", header, StringComparison.Ordinal);
    }

    [Fact]
    public void Fine_tuning_with_a_bad_agent_or_missing_data_is_a_one_line_error()
    {
        var dir = data.NewFolder("iql-ft-bad");
        var agent = Agent(dir);
        string[] online = ["train-online", "--algo", "iql", "--env_id", "Hopper-v4", "--total_steps", "200",
            "--steps_per_epoch", "100", "--log_csv", dir];
        var r = CliHarness.Run([.. online, "--init_agent", agent]);
        CliHarness.AssertOneLineError(r, "--offline_data keep needs the offline data; give it, or set --offline_data drop");
        r = CliHarness.Run([.. online, "--init_agent", data.HopperActor, "--offline_data", "drop"]);
        CliHarness.AssertOneLineError(r, "is an actor checkpoint (from BC or PPO), not an offline agent");
        r = CliHarness.Run([.. online, "--init_agent", agent, "--offline_data", "drop", "--mixing_ratio", "1.5"]);
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--mixing_ratio must be in [0, 1]");
        r = CliHarness.Run([.. online, "--offline_data", "drop"]);
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "give --init_agent");
        r = CliHarness.Run(["train-online", "--algo", "iql", "--env_id", "Walker2d-v4", "--init_agent", agent,
            "--offline_data", "drop", "--total_steps", "200", "--steps_per_epoch", "100", "--log_csv", dir]);
        CliHarness.AssertOneLineError(r, "was trained for Hopper-v4, not Walker2d-v4");
        Assert.False(File.Exists(Path.Combine(dir, "Hopper-v4_iql_keep_s1.csv")));
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

    string CqlAgent(string dir, string algo)
    {
        var r = CliHarness.Run(TinyAs(dir, algo + "_agent.pt", "--algo", algo, "--sampled_actions", "2"));
        Assert.True(r.Code == 0, r.Err + r.Out);
        return Path.Combine(dir, algo + "_agent.pt");
    }

    [Fact]
    public void Cql_and_calql_write_their_agents_and_sac_fine_tunes_them_with_or_without_the_term()
    {
        var dir = data.NewFolder("cql");
        var cql = CqlAgent(dir, "cql");
        Assert.Contains("losses/conservative", File.ReadLines(Path.Combine(dir, "cql_agent.csv")).First(),
            StringComparison.Ordinal);
        var calql = CqlAgent(dir, "calql");
        string[] online = ["train-online", "--algo", "sac", "--env_id", "Hopper-v4", "--total_steps", "100",
            "--steps_per_epoch", "50", "--batch_size", "32", "--eval_episodes", "1", "--log_csv", dir];
        var plain = CliHarness.Run([.. online, "--init_agent", cql, "--offline_data", "drop"]);
        Assert.True(plain.Code == 0, plain.Err + plain.Out);
        Assert.Contains("conservative term removed", plain.Out, StringComparison.Ordinal);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "Hopper-v4_sac_plain_drop_s1.csv")).Length);
        var shaped = CliHarness.Run([.. online, "--init_agent", cql, "--offline_data", "drop", "--run_name", "dsr",
            "--dsr_path", OffPolicyDsrCommandTests.FixtureDsr(), "--pessimism", "value"]);
        Assert.True(shaped.Code == 0, shaped.Err + shaped.Out);
        Assert.Contains("dsr/penalty_mean", File.ReadLines(Path.Combine(dir, "dsr.csv")).First(), StringComparison.Ordinal);
        var kept = CliHarness.Run([.. online, "--init_agent", calql, "--keep_conservative", "--offline_path",
            data.HopperHdf5, "--mixing_ratio", "0.5"]);
        Assert.True(kept.Code == 0, kept.Err + kept.Out);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "Hopper-v4_sac_conservative_keep_s1.csv")).Length);
        foreach (var (file, kind) in new[] { (calql, "calql agent"), (Agent(dir), "iql agent"),
            (Path.Combine(dir, "Hopper-v4_sac_plain_drop_s1_agent.pt"), "cql agent") })
        {
            var eval = CliHarness.Run("eval", "--env_id", "Hopper-v4", "--actor", file, "--episodes", "1");
            Assert.True(eval.Code == 0, eval.Err + eval.Out);
            Assert.Contains($"Hopper-v4 ({kind}): return", eval.Out, StringComparison.Ordinal);
        }
        var walker = CliHarness.Run("eval", "--env_id", "Walker2d-v4", "--actor", cql);
        CliHarness.AssertOneLineError(walker, "was trained for Hopper-v4, not Walker2d-v4");
    }

    [Fact]
    public void An_agent_of_another_algorithm_than_algo_expects_is_a_one_line_error()
    {
        var dir = data.NewFolder("cql-bad");
        var cql = CqlAgent(dir, "cql");
        var iql = Agent(dir);
        string[] online = ["train-online", "--env_id", "Hopper-v4", "--total_steps", "100", "--steps_per_epoch", "50",
            "--offline_data", "drop", "--log_csv", dir];
        var r = CliHarness.Run([.. online, "--algo", "sac", "--init_agent", iql]);
        CliHarness.AssertOneLineError(r, "was trained by iql, which this learner cannot continue; pass an agent of cql or calql");
        r = CliHarness.Run([.. online, "--algo", "iql", "--init_agent", cql]);
        CliHarness.AssertOneLineError(r, "was trained by cql, which this learner cannot continue; pass an agent of iql");
        r = CliHarness.Run([.. online, "--algo", "sac", "--init_agent", data.HopperActor]);
        CliHarness.AssertOneLineError(r, "is an actor checkpoint (from BC or PPO), not an offline agent");
        r = CliHarness.Run(["train-online", "--algo", "sac", "--env_id", "Hopper-v4", "--init_agent", cql,
            "--total_steps", "100", "--steps_per_epoch", "50", "--log_csv", dir]);
        CliHarness.AssertOneLineError(r, "--offline_data keep needs the offline data; give it, or set --offline_data drop");
        r = CliHarness.Run([.. online, "--algo", "sac", "--keep_conservative"]);
        Assert.Equal(2, r.Code);
        CliHarness.AssertOneLineError(r, "--keep_conservative needs --init_agent");
        r = CliHarness.Run([.. online, "--algo", "sac", "--init_agent", cql, "--mixing_ratio", "-1"]);
        Assert.Equal(2, r.Code);
        Assert.False(File.Exists(Path.Combine(dir, "Hopper-v4_sac_plain_drop_s1.csv")));
    }
}
