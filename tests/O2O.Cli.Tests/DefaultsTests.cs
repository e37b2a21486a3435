using System.Text.RegularExpressions;
using O2O.Cli.Commands;
using O2O.Core;
using O2O.Learning.Ppo;

namespace O2O.Cli.Tests;

/// <summary>Every documented default comes from an options record; the library's property names become flags.</summary>
public class DefaultsTests
{
    /// <summary>Flags that document a default but set no options-record property, each with the reason.</summary>
    static readonly Dictionary<string, string> CliOnly = new()
    {
        ["--device"] = "the libtorch device of this process; no options record carries it",
        ["train-online --resume"] = "an argument of PpoTrainer.Run, not a setting of the run",
        ["train-online --algo"] = "chooses the learner (PpoTrainer or SacTrainer), not a setting of either",
        ["train-online --offline_path"] = "the dataset IQL fine-tuning keeps; the command loads it",
        ["train-offline --algo"] = "chooses the learner (IqlTrainer today), not a setting of it",
        ["train-offline --resume"] = "an argument of IqlTrainer.Run, not a setting of the run",
        ["pretrain-bc --threads"] = "every core unless given: BcOptions.TorchThreads keeps 1 for library callers",
        ["data collect --policy"] = "chooses the BehaviourPolicy case: random, or an actor file",
        ["data collect --deterministic"] = "a field of BehaviourPolicy.Actor, which the command builds",
        ["data collect --format"] = "chooses the writer: DatasetIO.SaveHdf5/SaveNpz or Minari.Save",
        ["eval --episodes"] = "an argument of Evaluation.Run",
        ["eval --deterministic"] = "an argument of Evaluation.Run",
        ["eval --seed"] = "an argument of Evaluation.Run",
        ["envs --steps"] = "an argument of RandomRollout.Run",
        ["envs --seed"] = "an argument of RandomRollout.Run",
        ["data download --dir"] = "an argument of D4rlDownload.Fetch",
        ["data download --base_url"] = "an argument of D4rlDownload.Fetch; the text is D4rlDownload.DefaultBaseUrl",
        ["data download --timeout"] = "an argument of D4rlDownload.Fetch",
        ["compare --metric"] = "an argument of Comparison.Summarise",
        ["compare --title"] = "an argument of Comparison.Plot",
        ["sweep run --backend"] = "chooses LocalRunner or SlurmBackend, not a setting of either",
        ["sweep run --dry_run"] = "the command prints the plan instead of running it",
        ["--wait"] = "the command polls SlurmBackend.States after submitting",
    };

    /// <summary>Bound flags whose default the command works out at run time although the record has a value.</summary>
    static readonly Dictionary<string, string> RunTimeDefaults = new()
    {
        ["train-online --eval_every"] =
            "PpoOptions.EvalEvery is a number; the CLI evaluates once per epoch of any size",
        ["train-online --run_name"] = "named after the env and seed; PpoOptions.RunName is a placeholder",
        ["train-offline --log_csv"] = "the folder of --out; IqlOptions.LogDir is a placeholder",
        ["train-offline --run_name"] = "the name of --out; IqlOptions.RunName is a placeholder",
    };

    static readonly Regex DefaultText = new(@"\(default: (?<d>.*)\)$");

    /// <summary>Each flag's documented default, read from the help text as a user sees it (null: none).</summary>
    static Dictionary<string, string?> Documented(CommandSpec spec)
    {
        var byFlag = new Dictionary<string, string?>();
        foreach (var line in spec.HelpText().Split('\n').Select(l => l.TrimEnd('\r')))
        {
            var m = Regex.Match(line, @"^  --(?<f>\w+) ");
            if (!m.Success) continue;
            var d = DefaultText.Match(line);
            byFlag[m.Groups["f"].Value] = d.Success ? d.Groups["d"].Value : null;
        }
        return byFlag;
    }

    static string? Listed(Dictionary<string, string> list, CommandSpec spec, OptionSpec o) =>
        list.TryGetValue($"{spec.Name} --{o.Name}", out var why) || list.TryGetValue($"--{o.Name}", out why)
            ? why : null;

    [Fact]
    public void Every_documented_default_is_its_records_default()
    {
        var problems = new List<string>();
        foreach (var spec in CommandTable.All)
        {
            var documented = Documented(spec);
            foreach (var o in spec.Options.Where(o => !o.Required))
            {
                var shown = documented[o.Name];
                var where = $"o2o {spec.Name} --{o.Name}";
                if (o.Property is null)
                {
                    // A note ("the last logged step") describes, it states no value that could drift.
                    if (shown is not null && shown != o.DefaultNote && Listed(CliOnly, spec, o) is null)
                        problems.Add($"{where} documents '{shown}' but is bound to no record property");
                    continue;
                }
                var record = RecordDefaults.TextOf(o.Property) ?? o.NullWord;
                var owner = $"{o.Property.DeclaringType!.Name}.{o.Property.Name}";
                if (o.DefaultNote is not null)
                {
                    if (shown != o.DefaultNote)
                        problems.Add($"{where} shows '{shown}', not its note '{o.DefaultNote}'");
                    if (record is not null && Listed(RunTimeDefaults, spec, o) is null)
                        problems.Add($"{where} documents '{shown}' while {owner} defaults to '{record}'");
                }
                else if (shown != record)
                    problems.Add($"{where} documents '{shown ?? "no default"}' but {owner} is '{record ?? "null"}'");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void The_allowlists_name_only_flags_that_exist()
    {
        var flags = CommandTable.All.SelectMany(c => c.Options.Select(o => (c, o))).ToList();
        foreach (var key in CliOnly.Keys.Concat(RunTimeDefaults.Keys))
            Assert.True(flags.Any(f => key == $"{f.c.Name} --{f.o.Name}" || key == $"--{f.o.Name}"), key);
    }

    [Theory]
    [InlineData(1e-3, "0.001")]
    [InlineData(3e-4, "0.0003")]
    [InlineData(4.0, "4")]
    public void Doubles_are_written_in_shortest_round_trip_form(double value, string text) =>
        Assert.Equal(text, RecordDefaults.Text(value));

    [Fact]
    public void Widths_booleans_enums_and_null_have_their_flag_spelling()
    {
        Assert.Equal("64,64", RecordDefaults.Text(new[] { 64, 64 }));
        Assert.Equal("true", RecordDefaults.Text(true));
        Assert.Equal("gated", RecordDefaults.Text(O2O.Learning.Dsr.SupportMode.Gated));
        Assert.Null(RecordDefaults.Text(null));
    }

    [Fact]
    public void Flags_not_given_leave_the_records_defaults()
    {
        var a = ParsedArgs.Parse(TrainOnlineCommand.Spec, ["--env_id", "Hopper-v4", "--lr", "0.001", "--beta", "auto"]);
        var o = TrainOnlineCommand.Options(a);
        var d = new PpoOptions { EnvId = "Hopper-v4" };
        Assert.Equal(0.001, o.Lr);
        Assert.Equal(d.Hidden, o.Hidden);
        Assert.Equal((d.TotalSteps, d.NumEnvs, d.Gamma, d.AnnealLr), (o.TotalSteps, o.NumEnvs, o.Gamma, o.AnnealLr));
        Assert.Equal(o.StepsPerEpoch, o.EvalEvery);
        Assert.Null(TrainOnlineCommand.ShapingOptions(a).Beta);
    }

    [Fact]
    public void A_library_option_error_names_the_commands_flags()
    {
        var e = new OptionError("StepsPerEpoch 1024 is not divisible by NumEnvs 3; choose a multiple of 3",
            nameof(PpoOptions.StepsPerEpoch), nameof(PpoOptions.NumEnvs));
        Assert.Equal("--steps_per_epoch 1024 is not divisible by --num_envs 3; choose a multiple of 3",
            TrainOnlineCommand.Spec.Reword(e));
        var dsr = new OptionError("LearningRate -1: must be a positive number", "LearningRate");
        Assert.Equal("--lr -1: must be a positive number", TrainDsrCommand.Spec.Reword(dsr));
    }

    [Fact]
    public void Program_rewords_an_option_error_in_one_line_with_exit_code_1()
    {
        var spec = new CommandSpec("demo", "a demo", [Binder<PpoOptions>.Flag(nameof(PpoOptions.NumEnvs), "envs")],
            _ => throw new OptionError("NumEnvs 3 is odd; choose an even number", nameof(PpoOptions.NumEnvs)));
        var (o, e) = (new StringWriter(), new StringWriter());
        var code = Program.Run(["demo", "--num_envs", "3"], o, e, [spec], CancellationToken.None, interactive: false);
        Assert.Equal(1, code);
        Assert.Equal("o2o demo: error: --num_envs 3 is odd; choose an even number", e.ToString().Trim());
        Assert.Equal("", o.ToString());
    }
}
