namespace O2O.Cli.Tests;

/// <summary>
/// Graceful stop (issue 17, item 2): `o2o` runs as a child process and gets SIGTERM or SIGINT mid-run. A training
/// run stops after its checkpoint, prints one line with the exact command that resumes it, exits 143 / 130, and the
/// resumed run ends with the same log as an uninterrupted one; a phase without checkpoints exits at once and leaves
/// no file under its final name.
/// </summary>
public class SignalTests(LearningData data) : IClassFixture<LearningData>
{
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    string[] Args(string kind) => kind switch
    {
        "ppo" =>
        [
            "train-online", "--env_id", "Hopper-v4", "--total_steps", "10240", "--steps_per_epoch", "1024",
            "--minibatch_size", "256", "--train_iters", "2", "--num_envs", "2", "--eval_episodes", "1",
            "--log_csv", "logs",
        ],
        "sac" =>
        [
            "train_online", "--algo", "sac", "--env_id", "Hopper-v4", "--total_steps", "3000", "--steps_per_epoch",
            "300", "--learning_starts", "200", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes", "1",
            "--log_csv", "logs",
        ],
        _ =>
        [
            "train-offline", "--algo", kind, "--offline_path", data.HopperHdf5, "--env_id", "Hopper-v4", "--steps",
            "2000", "--steps_per_epoch", "200", "--batch_size", "32", "--hidden", "16,16", "--eval_episodes", "1",
            "--out", $"agents/{kind}.pt",
        ],
    };

    static string Csv(string kind) => kind switch
    {
        "ppo" => "logs/Hopper-v4_ppo_s1.csv",
        "sac" => "logs/Hopper-v4_sac_s1.csv",
        _ => $"agents/{kind}.csv",
    };

    /// <summary>The log without its wall-clock columns (wall_s, time/…): what must not depend on a stop.</summary>
    static List<string> LearningColumns(string csv)
    {
        var rows = File.ReadAllLines(csv).Select(l => l.Split(',')).ToList();
        var keep = Enumerable.Range(0, rows[0].Length)
            .Where(i => rows[0][i] != "wall_s" && !rows[0][i].StartsWith("time/", StringComparison.Ordinal)).ToList();
        return [.. rows.Select(r => string.Join(',', keep.Select(i => r[i])))];
    }

    static string LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim();

    /// <summary>The arguments of the command after `marker o2o ` in <paramref name="line"/> (no quoting needed).
    /// </summary>
    static string[] CommandAfter(string line, string marker)
    {
        var at = line.IndexOf(marker + "o2o ", StringComparison.Ordinal);
        Assert.True(at >= 0, $"no '{marker}o2o …' in: {line}");
        return line[(at + marker.Length + 4)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    [SkippableTheory]
    [InlineData("ppo", ChildProcess.SigTerm, 1)]
    [InlineData("sac", ChildProcess.SigInt, 1)]
    [InlineData("iql", ChildProcess.SigTerm, 1)]
    [InlineData("cql", ChildProcess.SigInt, 1)]
    [InlineData("sac", ChildProcess.SigTerm, 2)]
    public void A_signal_mid_run_checkpoints_prints_the_resume_command_and_the_resumed_log_is_the_same(
        string kind, int signal, int signals)
    {
        Skip.If(signal == ChildProcess.SigInt && ChildProcess.SigIntIgnored, ChildProcess.SigIntIgnoredReason);
        var whole = data.NewFolder($"whole-{kind}");
        var r = ChildProcess.Run(whole, Args(kind));
        Assert.True(r.Code == 0, r.Err + r.Out);

        var dir = data.NewFolder($"stopped-{kind}");
        using (var child = ChildProcess.Start(dir, Args(kind)))
        {
            child.WaitForOutput("epoch 2/10", Patience);
            for (var i = 0; i < signals; i++) child.Signal(signal);
            var code = child.WaitForExit(Patience);
            Assert.True(code == (signal == ChildProcess.SigTerm ? 143 : 130), $"exit {code}:\n{child.Err}");
            var line = LastLine(child.Err);
            var name = signal == ChildProcess.SigTerm ? "SIGTERM" : "SIGINT";
            Assert.StartsWith($"o2o {Args(kind)[0].Replace('_', '-')}: stopped by {name}; checkpoint '", line);
            Assert.EndsWith(" --resume", line);
            Assert.DoesNotContain("   at ", child.Err);
            var rows = File.ReadAllLines(Path.Combine(dir, Csv(kind))).Length - 1;
            Assert.InRange(rows, 2, 9);
            var resume = CommandAfter(line, "resume with: ");
            Assert.Equal(Args(kind).Append("--resume").ToArray(), resume);
            var resumed = ChildProcess.Run(dir, resume);
            Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        }
        Assert.Equal(LearningColumns(Path.Combine(whole, Csv(kind))), LearningColumns(Path.Combine(dir, Csv(kind))));
    }

    [Fact]
    public void Sigterm_in_the_online_phase_of_o2o_run_stops_it_and_the_rerun_ends_with_the_same_log()
    {
        string Root(string name)
        {
            var root = data.NewFolder(name);
            Directory.CreateDirectory(Path.Combine(root, "data"));
            File.Copy(data.HopperHdf5, Path.Combine(root, "data", "hopper-medium-v2.hdf5"));
            return root;
        }
        string[] Run(string root) => ["run", "--profile", "smoke", "--root", root, "--download", "false"];
        const string log = "logs/hopper_medium_bc_dsr_s1.csv";

        var whole = Root("run-whole");
        var r = ChildProcess.Run(whole, Run(whole));
        Assert.True(r.Code == 0, r.Err + r.Out);

        var root = Root("run-stopped");
        using (var child = ChildProcess.Start(root, Run(root)))
        {
            child.WaitForOutput("epoch 1/4", Patience);
            child.Signal(ChildProcess.SigTerm);
            Assert.Equal(143, child.WaitForExit(Patience));
            var line = LastLine(child.Err);
            Assert.StartsWith("o2o run: stopped by SIGTERM; checkpoint '", line);
            Assert.Contains("finished steps are kept: rerun to continue: ", line);
            Assert.Equal(Run(root), CommandAfter(line, "rerun to continue: "));
            Assert.False(File.Exists(Path.Combine(root, "logs/hopper_medium_bc_dsr_s1_summary.md")));
        }
        var again = ChildProcess.Run(root, Run(root));
        Assert.True(again.Code == 0, again.Err + again.Out);
        Assert.Contains("resumed hopper_medium_bc_dsr_s1 at epoch", again.Out);
        Assert.Equal(LearningColumns(Path.Combine(whole, log)), LearningColumns(Path.Combine(root, log)));
    }

    [SkippableTheory]
    [InlineData("train-dsr", ChildProcess.SigTerm)]
    [InlineData("pretrain-bc", ChildProcess.SigInt)]
    public void A_phase_without_checkpoints_stops_at_once_and_leaves_no_output(string command, int signal)
    {
        Skip.If(signal == ChildProcess.SigInt && ChildProcess.SigIntIgnored, ChildProcess.SigIntIgnoredReason);
        var dir = data.NewFolder(command);
        string[] args = command == "train-dsr"
            ? ["train-dsr", "--offline_path", data.HopperNpz, "--env_id", "Hopper-v4", "--dsr_out", "out/x_dsr.pt",
                "--epochs", "200", "--batch_size", "256", "--threads", "1"]
            : ["pretrain-bc", "--offline_path", data.HopperNpz, "--env_id", "Hopper-v4", "--out_actor", "out/x.pt",
                "--epochs", "500", "--batch_size", "256"];
        using var child = ChildProcess.Start(dir, args);
        child.WaitForOutput("epoch 2/", Patience);
        child.Signal(signal);
        var code = child.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.Equal(signal == ChildProcess.SigTerm ? 143 : 130, code);
        var line = LastLine(child.Err);
        Assert.Contains($"o2o {command}: stopped by {(signal == ChildProcess.SigTerm ? "SIGTERM" : "SIGINT")}; "
            + "this command keeps no checkpoint and left no partial file: rerun to start over: ", line);
        Assert.Equal(args, CommandAfter(line, "rerun to start over: "));
        Assert.False(child.Out.Contains("wrote ", StringComparison.Ordinal), child.Out);
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(dir, "out")), f => !Path.GetFileName(f).StartsWith('.'));
    }
}
