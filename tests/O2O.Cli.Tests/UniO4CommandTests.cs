using System.Text.Json.Nodes;

namespace O2O.Cli.Tests;

/// <summary>
/// `o2o train-online` with Uni-O4's recipe: BC → PPO with the critic pre-trained on the offline data's returns
/// (--critic_pretrain_data, --critic_pretrain_steps) and a small actor learning rate (--actor_lr), end to end with
/// tiny budgets, and one-line errors for bad input.
/// </summary>
public class UniO4CommandTests(LearningData data) : IClassFixture<LearningData>
{
    static string[] Tiny(string logDir, string? initActor) =>
    [
        "train_online", "--env_id", "Hopper-v4", "--total_steps", "2048", "--steps_per_epoch", "1024",
        "--minibatch_size", "256", "--train_iters", "2", "--num_envs", "2", "--eval_episodes", "1",
        "--device", "cpu", "--log_csv", logDir,
        .. initActor is null ? Array.Empty<string>() : ["--init_actor", initActor],
    ];

    [Fact]
    public void Bc_to_ppo_with_a_pretrained_critic_and_a_small_actor_lr_runs_and_records_the_fit()
    {
        var logs = data.NewFolder("unio4");
        var r = CliHarness.Run([.. Tiny(logs, data.HopperActor), "--critic_pretrain_data", data.HopperNpz,
            "--critic_pretrain_steps", "200", "--actor_lr", "3e-5"]);
        Assert.True(r.Code == 0, $"exit {r.Code}:\n{r.Err}\n{r.Out}");
        Assert.Contains("critic pre-training 200/200: loss", r.Out, StringComparison.Ordinal);
        Assert.Contains("critic pre-trained: loss", r.Out, StringComparison.Ordinal);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(logs, "Hopper-v4_ppo_s1.csv")).Length);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(logs, "Hopper-v4_ppo_s1.json")))!;
        Assert.Equal(3e-5, (double)json["ActorLr"]!);
        Assert.Equal(3e-4, (double)json["Lr"]!);
        Assert.Equal(data.HopperNpz, (string?)json["CriticPretrainData"]);
        Assert.Equal(200, (int)json["CriticPretrainSteps"]!);
        var fit = json["CriticPretrainResult"]!;
        Assert.True((double)fit["LossAfter"]! < (double)fit["LossBefore"]!, fit.ToJsonString());
        Assert.True((double)fit["RewardStd"]! > 0);
        Assert.Equal(1 / (double)fit["RewardStd"]!, (double)fit["TargetScale"]!, 12);
    }

    [Theory]
    [InlineData("walker", "--critic_pretrain_data", "obs dim 17 and action dim 6, but Hopper-v4 has obs dim 11")]
    [InlineData("missing", "--critic_pretrain_data", "does not exist")]
    [InlineData("steps0", "--critic_pretrain_steps must be ≥ 1, got 0")]
    [InlineData("steps_alone", "--critic_pretrain_steps needs --critic_pretrain_data")]
    [InlineData("no_init_actor", "--critic_pretrain_data needs --init_actor")]
    [InlineData("actor_lr0", "--actor_lr must be in")]
    [InlineData("sac", "--actor_lr is not a SAC setting")]
    public void Bad_uni_o4_input_is_a_one_line_error_and_writes_nothing(string what, params string[] fragments)
    {
        var logs = data.NewFolder("unio4-bad");
        string[] args = what switch
        {
            "walker" => [.. Tiny(logs, data.HopperActor), "--critic_pretrain_data", data.WalkerNpz],
            "missing" => [.. Tiny(logs, data.HopperActor), "--critic_pretrain_data", Path.Combine(logs, "no.npz")],
            "steps0" => [.. Tiny(logs, data.HopperActor), "--critic_pretrain_data", data.HopperNpz,
                "--critic_pretrain_steps", "0"],
            "steps_alone" => [.. Tiny(logs, data.HopperActor), "--critic_pretrain_steps", "10"],
            "no_init_actor" => [.. Tiny(logs, null), "--critic_pretrain_data", data.HopperNpz],
            "actor_lr0" => [.. Tiny(logs, data.HopperActor), "--actor_lr", "0"],
            _ => ["train_online", "--algo", "sac", "--env_id", "Hopper-v4", "--log_csv", logs, "--actor_lr", "1e-4"],
        };
        var r = CliHarness.Run(args);
        CliHarness.AssertOneLineError(r, ["o2o train-online: error:", .. fragments]);
        Assert.Empty(Directory.GetFileSystemEntries(logs));
        Assert.DoesNotContain("critic pre-training", r.Out, StringComparison.Ordinal);
    }
}
