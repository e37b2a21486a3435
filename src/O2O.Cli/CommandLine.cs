using System.Globalization;
using System.Reflection;
using O2O.Core;

namespace O2O.Cli;

/// <summary>A bad command line: the message names the flag and what it accepts. Exit code 2.</summary>
public sealed class UsageError(string message) : UserError(message)
{
    public override int ExitCode => 2;
}

/// <summary>
/// One flag of a command. Names are canonical with underscores (the notebook's spelling). A flag that sets a
/// property of an options record carries it in <see cref="Property"/> (see <see cref="Binder{T}"/>): its
/// documented default is then read from a default-constructed record, and an <see cref="OptionError"/> naming
/// the property is reworded with this flag's name.
/// </summary>
public sealed record OptionSpec(string Name, string Help, string? Default = null, bool IsFlag = false,
    bool Required = false)
{
    /// <summary>The record property this flag sets; null for a flag of the command line only.</summary>
    public PropertyInfo? Property { get; init; }

    /// <summary>Words for a default decided at run time (e.g. "every epoch"); shown when there is no value.</summary>
    public string? DefaultNote { get; init; }

    /// <summary>Smallest accepted number (ints, longs, doubles).</summary>
    public double Min { get; init; } = double.NegativeInfinity;

    /// <summary>Largest accepted number (ints, doubles).</summary>
    public double Max { get; init; } = double.PositiveInfinity;

    /// <summary>For a string property: the accepted words.</summary>
    public string[]? Choices { get; init; }

    /// <summary>For a nullable property: the word that stands for null (e.g. --beta auto).</summary>
    public string? NullWord { get; init; }

    /// <summary>The command reads this flag itself; <see cref="Binder{T}.Apply"/> leaves the property alone.</summary>
    public bool Manual { get; init; }

    /// <summary>The default as the help text shows it, or null when none is shown.</summary>
    public string? DocumentedDefault => Default ?? DefaultNote;
}

/// <summary>What a command runs with: its arguments, where to write, and a token that Ctrl-C cancels.</summary>
public sealed record CommandContext(ParsedArgs Args, TextWriter Out, TextWriter Error,
    CancellationToken Cancel = default, bool Interactive = false) : IStatusLog
{
    readonly StatusWriter statusOut = new(Out, Interactive);

    /// <summary>
    /// Writes one line to <see cref="Out"/>: the progress log handed to library calls. Through it they also reach
    /// <see cref="Status"/> (<see cref="PhaseProgress"/>).
    /// </summary>
    public void Log(string line) => statusOut.Line(line);

    /// <summary>True when stdout is a terminal: the status line is redrawn in place.</summary>
    public bool Live => Interactive;

    /// <summary>The live status line on a terminal; elsewhere a plain line at most every 10 s.</summary>
    public void Status(string text) => statusOut.Status(text);
}

/// <summary>How a command stopped by a signal is continued.</summary>
public enum ResumeStyle
{
    /// <summary>Nothing is kept mid-way: the same command starts over.</summary>
    StartOver,
    /// <summary>The same command with --resume continues from the checkpoint.</summary>
    ResumeFlag,
    /// <summary>The same command again continues: it reuses what is done and resumes the rest by itself.</summary>
    Rerun,
}

/// <summary>A command: its flags, an optional positional argument, and what it runs.</summary>
public sealed record CommandSpec(
    string Name,
    string Summary,
    IReadOnlyList<OptionSpec> Options,
    Func<CommandContext, int> Run,
    string? Positional = null,
    string? PositionalHelp = null)
{
    /// <summary>The command watches <see cref="CommandContext.Cancel"/>: Ctrl-C stops it, not kills it.</summary>
    public bool StopsOnCancel { get; init; }

    /// <summary>How a stopped (SIGTERM, SIGINT) run of this command goes on: see <see cref="ResumeStyle"/>.</summary>
    public ResumeStyle Resume { get; init; }

    /// <summary>Help text: usage line, summary and every flag with its default.</summary>
    public string HelpText()
    {
        var w = new System.Text.StringBuilder();
        w.Append("usage: o2o ").Append(Name);
        if (Positional is not null) w.Append(' ').Append(Positional.ToUpperInvariant());
        w.AppendLine(" [options]").AppendLine().AppendLine(Summary).AppendLine();
        if (Positional is not null) w.AppendLine($"  {Positional.ToUpperInvariant(),-26} {PositionalHelp}");
        foreach (var o in Options)
        {
            var flag = "--" + o.Name + (o.IsFlag ? " [true|false]" : " VALUE");
            var dflt = o.Required ? " (required)" : o.DocumentedDefault is { } d ? $" (default: {d})" : "";
            w.AppendLine($"  {flag,-26} {o.Help}{dflt}");
        }
        w.AppendLine($"  {"--help",-26} show this text");
        w.AppendLine().AppendLine("Flags are accepted with underscores (--env_id) or dashes (--env-id).");
        return w.ToString();
    }

    /// <summary>The `--flag` that sets <paramref name="property"/> in this command, or null when none does.</summary>
    /// A flag of the command line only (no property) answers for the property of its name in PascalCase, e.g.
    /// --device for Device, the run parameter the library calls Resume for --resume.
    public string? FlagFor(string property) =>
        (Options.FirstOrDefault(o => o.Property?.Name == property)
            ?? Options.FirstOrDefault(o => o.Property is null && Pascal(o.Name) == property)) is { } o
            ? "--" + o.Name
            : null;

    static string Pascal(string flag) =>
        string.Concat(flag.Split('_').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]));

    /// <summary>The library's message in this command's words: each property it names becomes its `--flag`.</summary>
    public string Reword(OptionError e) => e.Reword(FlagFor);
}

/// <summary>The parsed command line of one command, with typed, validated getters.</summary>
public sealed class ParsedArgs
{
    readonly Dictionary<string, string> values;
    readonly CommandSpec spec;

    ParsedArgs(CommandSpec spec, Dictionary<string, string> values, string? positional)
    {
        this.spec = spec;
        this.values = values;
        PositionalValue = positional;
    }

    /// <summary>The command these arguments were parsed for.</summary>
    public CommandSpec Command => spec;

    /// <summary>The positional argument, if the command takes one and it was given.</summary>
    public string? PositionalValue { get; }

    /// <summary>Canonical flag name: dashes become underscores.</summary>
    public static string Canonical(string name) => name.Replace('-', '_');

    /// <summary>Parse <paramref name="args"/> against <paramref name="spec"/>; bad flags are usage errors.</summary>
    public static ParsedArgs Parse(CommandSpec spec, IReadOnlyList<string> args)
    {
        var byName = spec.Options.ToDictionary(o => o.Name);
        var values = new Dictionary<string, string>();
        string? positional = null;
        for (var i = 0; i < args.Count; i++)
        {
            var tok = args[i];
            if (!tok.StartsWith("--", StringComparison.Ordinal))
            {
                if (spec.Positional is null || positional is not null)
                    throw new UsageError($"unexpected argument '{tok}'; see 'o2o {spec.Name} --help'");
                positional = tok;
                continue;
            }
            var body = tok[2..];
            string? inline = null;
            var eq = body.IndexOf('=');
            if (eq >= 0) { inline = body[(eq + 1)..]; body = body[..eq]; }
            var name = Canonical(body);
            if (!byName.TryGetValue(name, out var opt))
            {
                var near = byName.Keys.OrderBy(k => Levenshtein(k, name)).FirstOrDefault();
                var hint = near is not null && Levenshtein(near, name) <= 3 ? $" (did you mean --{near}?)" : "";
                throw new UsageError(
                    $"unknown flag '--{body}' for 'o2o {spec.Name}'{hint}; see 'o2o {spec.Name} --help'");
            }
            string value;
            if (inline is not null) value = inline;
            else if (opt.IsFlag)
            {
                var next = i + 1 < args.Count ? args[i + 1].ToLowerInvariant() : null;
                if (next is "true" or "false" or "1" or "0" or "yes" or "no") { value = next; i++; }
                else value = "true";
            }
            else
            {
                if (i + 1 >= args.Count) throw new UsageError($"--{name} needs a value; see 'o2o {spec.Name} --help'");
                value = args[++i];
            }
            if (values.ContainsKey(name)) throw new UsageError($"--{name} given twice; give it once");
            values[name] = value;
        }
        foreach (var o in spec.Options)
            if (o.Required && !values.ContainsKey(o.Name))
                throw new UsageError($"--{o.Name} is required ({o.Help}); see 'o2o {spec.Name} --help'");
        return new ParsedArgs(spec, values, positional);
    }

    /// <summary>The declaration of a flag of this command.</summary>
    public OptionSpec Spec(string name) =>
        spec.Options.FirstOrDefault(o => o.Name == name)
        ?? throw new InvalidOperationException($"flag --{name} is not declared by 'o2o {spec.Name}'");

    /// <summary>True when the flag was given on the command line.</summary>
    public bool Has(string name) { Spec(name); return values.ContainsKey(name); }

    /// <summary>The raw value, or the declared default.</summary>
    public string? String(string name) => values.TryGetValue(name, out var v) ? v : Spec(name).Default;

    /// <summary>The value as a required string.</summary>
    public string RequiredString(string name) =>
        String(name) ?? throw new UsageError($"--{name} is required ({Spec(name).Help})");

    /// <summary>An integer in [min, max].</summary>
    public int Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = RequiredString(name).Replace("_", "");
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageError($"--{name} '{String(name)}' is not an integer");
        if (v < min || v > max)
            throw new UsageError(max == int.MaxValue
                ? $"--{name} must be ≥ {min}, got {v}" : $"--{name} must be in [{min}, {max}], got {v}");
        return v;
    }

    /// <summary>A 64-bit integer ≥ min (budgets such as --total_steps 300_000).</summary>
    public long Long(string name, long min = long.MinValue)
    {
        var s = RequiredString(name).Replace("_", "");
        if (!long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageError($"--{name} '{String(name)}' is not an integer");
        if (v < min) throw new UsageError($"--{name} must be ≥ {min}, got {v}");
        return v;
    }

    /// <summary>A finite real number in [min, max].</summary>
    public double Double(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var s = RequiredString(name);
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new UsageError($"--{name} '{s}' is not a finite number");
        if (v < min || v > max)
            throw new UsageError(
                string.Create(CultureInfo.InvariantCulture, $"--{name} must be in [{min}, {max}], got {s}"));
        return v;
    }

    /// <summary>A boolean: true/false, 1/0, yes/no.</summary>
    public bool Bool(string name)
    {
        var s = String(name) ?? "false";
        return s.ToLowerInvariant() switch
        {
            "true" or "1" or "yes" => true,
            "false" or "0" or "no" => false,
            _ => throw new UsageError($"--{name} '{s}' must be true or false"),
        };
    }

    /// <summary>One of a fixed set of words.</summary>
    public string Choice(string name, params string[] allowed)
    {
        var s = RequiredString(name).ToLowerInvariant();
        if (!allowed.Contains(s))
            throw new UsageError($"--{name} '{String(name)}' must be one of: {string.Join(", ", allowed)}");
        return s;
    }

    static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1),
                    d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
