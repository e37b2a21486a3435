namespace O2O.Cli.Tests;

public class CommandLineTests
{
    static readonly CommandSpec Spec = new(
        "demo", "a demo",
        [
            new("env_id", "env", Required: true),
            new("epochs", "epochs", "20"),
            new("rate", "a rate", "0.5"),
            new("resume", "resume", "false", IsFlag: true),
        ],
        _ => 0);

    [Fact]
    public void Notebook_and_kebab_spellings_are_the_same_flag()
    {
        var a = ParsedArgs.Parse(Spec, ["--env_id", "Hopper-v4", "--epochs=5"]);
        var b = ParsedArgs.Parse(Spec, ["--env-id", "Hopper-v4", "--epochs", "5"]);
        Assert.Equal(a.String("env_id"), b.String("env_id"));
        Assert.Equal(5, a.Int("epochs"));
        Assert.Equal(5, b.Int("epochs"));
        Assert.Equal(0.5, a.Double("rate"));
    }

    [Fact]
    public void Flags_take_an_optional_boolean()
    {
        Assert.True(ParsedArgs.Parse(Spec, ["--env_id", "x", "--resume"]).Bool("resume"));
        Assert.False(ParsedArgs.Parse(Spec, ["--env_id", "x", "--resume", "false"]).Bool("resume"));
        Assert.True(ParsedArgs.Parse(Spec, ["--resume", "--env_id", "x"]).Bool("resume"));
    }

    [Theory]
    [InlineData(new[] { "--env_id", "x", "--epoch", "3" }, "unknown flag '--epoch'", "did you mean --epochs")]
    [InlineData(new[] { "--epochs", "3" }, "--env_id is required")]
    [InlineData(new[] { "--env_id" }, "--env_id needs a value")]
    [InlineData(new[] { "--env_id", "x", "--env_id", "y" }, "given twice")]
    [InlineData(new[] { "--env_id", "x", "stray" }, "unexpected argument 'stray'")]
    public void Bad_command_lines_are_usage_errors(string[] args, params string[] fragments)
    {
        var e = Assert.Throws<UsageError>(() => ParsedArgs.Parse(Spec, args));
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        Assert.Equal(2, e.ExitCode);
    }

    [Fact]
    public void Typed_getters_reject_bad_values_with_the_flag_name()
    {
        var a = ParsedArgs.Parse(Spec, ["--env_id", "x", "--epochs", "-3", "--rate", "nan"]);
        Assert.Contains("--epochs must be ≥ 1", Assert.Throws<UsageError>(() => a.Int("epochs", 1)).Message);
        Assert.Contains("--rate 'nan' is not a finite number",
            Assert.Throws<UsageError>(() => a.Double("rate")).Message);
        var b = ParsedArgs.Parse(Spec, ["--env_id", "x", "--epochs", "ten"]);
        Assert.Contains("not an integer", Assert.Throws<UsageError>(() => b.Int("epochs")).Message);
    }

    [Fact]
    public void Underscored_budgets_parse_like_python_literals()
    {
        var a = ParsedArgs.Parse(Spec, ["--env_id", "x", "--epochs", "300_000"]);
        Assert.Equal(300_000, a.Int("epochs"));
    }

    [Fact]
    public void Help_lists_every_flag_with_its_default()
    {
        var help = Spec.HelpText();
        Assert.Contains("--env_id", help);
        Assert.Contains("(required)", help);
        Assert.Contains("(default: 20)", help);
    }
}

public class ProgramTests
{
    [Fact]
    public void Unknown_command_lists_the_known_ones()
    {
        var r = CliHarness.Run("trian-online");
        CliHarness.AssertOneLineError(r, "unknown command 'trian-online'", "train-online");
        Assert.Equal(2, r.Code);
    }

    [Fact]
    public void Notebook_script_names_resolve_to_commands()
    {
        foreach (var name in new[] { "train_online", "train_online.py", "train-online" })
        {
            var r = CliHarness.Run(name, "--help");
            Assert.Equal(0, r.Code);
            Assert.Contains("usage: o2o train-online", r.Out);
        }
    }

    [Fact]
    public void Overview_lists_the_commands()
    {
        var r = CliHarness.Run("--help");
        Assert.Equal(0, r.Code);
        foreach (var c in CommandTable.All) Assert.Contains(c.Name, r.Out);
    }

    [Fact]
    public void Cuda_on_this_build_is_a_one_line_error()
    {
        var r = CliHarness.Run("eval", "--env_id", "Hopper-v4", "--actor", "x.pt", "--device", "cuda");
        CliHarness.AssertOneLineError(r, "no CUDA", "--device cpu");
    }

    [Fact]
    public void Bad_device_word_is_a_usage_error()
    {
        var r = CliHarness.Run("eval", "--env_id", "Hopper-v4", "--actor", "x.pt", "--device", "tpu");
        CliHarness.AssertOneLineError(r, "--device 'tpu' must be one of: cpu, cuda, auto");
        Assert.Equal(2, r.Code);
    }
}
