using System.Diagnostics;

namespace O2O.Cli.Tests;

/// <summary>
/// Untrusted checkpoints (issue 17, item 5): `.pt` files whose pickle would run a command when loaded — made with
/// Debian's python3, and shown to create a marker file when Python unpickles them — are refused with one line by
/// every command that loads a `.pt`, and the marker is never created.
/// </summary>
public sealed class UntrustedCheckpointTests(LearningData data) : IClassFixture<LearningData>
{
    const string Python = "/usr/bin/python3";

    /// <summary>Writes OrderedDict(w=evil) as archive/data.pkl of a torch-style zip: os.system (protocol 2, GLOBAL
    /// posix.system) or builtins.eval (protocol 4, STACK_GLOBAL); both would create argv[1].</summary>
    const string MakeEvil = """
        import collections, os, pickle, sys, zipfile
        marker, kind, out = sys.argv[1:4]
        class System:
            def __reduce__(self): return (os.system, ("touch " + marker,))
        class Eval:
            def __reduce__(self): return (eval, ("open(%r, 'w').close()" % marker,))
        evil, proto = (System(), 2) if kind == "system" else (Eval(), 4)
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps(collections.OrderedDict(w=evil), protocol=proto))
            z.writestr("archive/version", "3\n")
        """;

    static (int Code, string Err) RunPython(params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err.Result);
    }

    /// <summary>An evil .pt and the marker it would create; checks that Python's unpickling does create it.</summary>
    (string Pt, string Marker) Evil(string kind)
    {
        var dir = data.NewFolder("evil-" + kind);
        var marker = Path.Combine(dir, "EXECUTED");
        var pt = Path.Combine(dir, kind + ".pt");
        var made = RunPython("-c", MakeEvil, marker, kind, pt);
        Assert.True(made.Code == 0, made.Err);
        var load = RunPython("-c", "import pickle, sys, zipfile; "
            + "pickle.loads(zipfile.ZipFile(sys.argv[1]).read('archive/data.pkl'))", pt);
        Assert.True(load.Code == 0, load.Err);
        Assert.True(File.Exists(marker), "the test pickle should run its command when Python loads it");
        File.Delete(marker);
        return (pt, marker);
    }

    string[] Command(string flag, string pt, string logs) => flag switch
    {
        "--actor" => ["eval", "--env_id", "Hopper-v4", "--actor", pt, "--episodes", "1"],
        "--init_actor" => ["train-online", "--env_id", "Hopper-v4", "--init_actor", pt, "--total_steps", "1024",
            "--steps_per_epoch", "1024", "--num_envs", "2", "--log_csv", logs],
        "--dsr_path" => ["train-online", "--env_id", "Hopper-v4", "--dsr_path", pt, "--total_steps", "1024",
            "--steps_per_epoch", "1024", "--num_envs", "2", "--log_csv", logs],
        "--dsr_path sac" => ["train-online", "--algo", "sac", "--env_id", "Hopper-v4", "--dsr_path", pt,
            "--total_steps", "1000", "--steps_per_epoch", "500", "--log_csv", logs],
        "--init_agent iql" => ["train-online", "--algo", "iql", "--env_id", "Hopper-v4", "--init_agent", pt,
            "--offline_data", "drop", "--total_steps", "1000", "--steps_per_epoch", "500", "--log_csv", logs],
        "--init_agent sac" => ["train-online", "--algo", "sac", "--env_id", "Hopper-v4", "--init_agent", pt,
            "--offline_data", "drop", "--total_steps", "1000", "--steps_per_epoch", "500", "--log_csv", logs],
        _ => throw new ArgumentException(flag),
    };

    [Theory]
    [InlineData("--actor", "system", "posix.system")]
    [InlineData("--init_actor", "eval", "builtins.eval")]
    [InlineData("--dsr_path", "system", "posix.system")]
    [InlineData("--dsr_path sac", "eval", "builtins.eval")]
    [InlineData("--init_agent iql", "eval", "builtins.eval")]
    [InlineData("--init_agent sac", "system", "posix.system")]
    public void A_pickle_that_would_run_code_is_refused_in_one_line_and_nothing_runs(
        string flag, string kind, string callee)
    {
        var (pt, marker) = Evil(kind);
        var logs = data.NewFolder("evil-logs");
        var r = CliHarness.Run(Command(flag, pt, logs));
        Assert.Equal(1, r.Code);
        CliHarness.AssertOneLineError(r, $"'{pt}' is refused: its pickle calls {callee}, which a state dict never "
            + "needs", "use a checkpoint from a source you trust");
        Assert.False(File.Exists(marker), "the pickle's command ran");
    }

    [Fact]
    public void A_run_checkpoint_replaced_by_an_evil_pickle_is_refused_on_resume()
    {
        var (pt, marker) = Evil("system");
        var logs = data.NewFolder("evil-resume");
        string[] run = ["train-online", "--env_id", "Hopper-v4", "--total_steps", "1024", "--steps_per_epoch", "1024",
            "--num_envs", "2", "--eval_episodes", "0", "--log_csv", logs];
        Assert.Equal(0, CliHarness.Run(run).Code);
        var model = Path.Combine(logs, "Hopper-v4_ppo_s1.ckpt", "model.pt");
        File.Copy(pt, model, overwrite: true);
        var r = CliHarness.Run([.. run, "--resume"]);
        CliHarness.AssertOneLineError(r, "is refused: its pickle calls posix.system");
        Assert.False(File.Exists(marker));
    }
}
