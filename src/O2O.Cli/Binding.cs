// The options records whose properties flags can set, each with the name the commands declare its flags by.
global using BcFlags = O2O.Cli.Binder<O2O.Learning.Bc.BcOptions>;
global using CollectFlags = O2O.Cli.Binder<O2O.Experiments.CollectOptions>;
global using ConvertFlags = O2O.Cli.Binder<O2O.Data.ConvertOptions>;
global using DsrFlags = O2O.Cli.Binder<O2O.Learning.Dsr.DsrOptions>;
global using PpoFlags = O2O.Cli.Binder<O2O.Learning.Ppo.PpoOptions>;
global using QualityFlags = O2O.Cli.Binder<O2O.Experiments.QualityOptions>;
global using ReportFlags = O2O.Cli.Binder<O2O.Experiments.ReportOptions>;
global using RunFlags = O2O.Cli.Binder<O2O.Experiments.PipelineOptions>;
global using SacFlags = O2O.Cli.Binder<O2O.Learning.OffPolicy.SacOptions>;
global using IqlFlags = O2O.Cli.Binder<O2O.Learning.OffPolicy.IqlOptions>;
global using CqlFlags = O2O.Cli.Binder<O2O.Learning.OffPolicy.CqlOptions>;
global using ShapingFlags = O2O.Cli.Binder<O2O.Learning.Ppo.DsrShapingOptions>;

using System.Globalization;
using System.Reflection;
using O2O.Cli.Commands;
using O2O.Data;
using O2O.Experiments;
using O2O.Learning.Bc;
using O2O.Learning.Dsr;
using O2O.Learning.OffPolicy;
using O2O.Learning.Ppo;

namespace O2O.Cli;

/// <summary>
/// The default-constructed options records: the one source of every default a bound flag documents. Records
/// with required members get placeholders here, and only here; those members are never read as defaults.
/// </summary>
public static class RecordDefaults
{
    static readonly Dictionary<Type, object> Instances = new()
    {
        [typeof(PpoOptions)] = new PpoOptions { EnvId = "" },
        [typeof(BcOptions)] = new BcOptions { EnvId = "" },
        [typeof(DsrOptions)] = new DsrOptions(),
        [typeof(DsrShapingOptions)] = new DsrShapingOptions(),
        [typeof(PipelineOptions)] = PipelineProfiles.Default,
        [typeof(QualityOptions)] = new QualityOptions("", "", 0, 0, ""),
        [typeof(CollectOptions)] = new CollectOptions("", new BehaviourPolicy.Random()),
        [typeof(ConvertOptions)] = new ConvertOptions("", ""),
        [typeof(SacOptions)] = new SacOptions(),
        [typeof(IqlOptions)] = new IqlOptions(),
        [typeof(CqlOptions)] = new CqlOptions(),
        [typeof(ReportOptions)] = new ReportOptions(),
    };

    /// <summary>The default-constructed record of type <paramref name="record"/>.</summary>
    public static object Of(Type record) =>
        Instances.TryGetValue(record, out var o) ? o
            : throw new InvalidOperationException($"no default instance of {record.Name} in RecordDefaults");

    /// <summary>The default of a record property as the help text writes it (null: no value to show).</summary>
    public static string? TextOf(PropertyInfo property) => Text(property.GetValue(Of(property.DeclaringType!)));

    /// <summary>
    /// A value as a flag spells it: invariant culture, doubles in shortest round-trip form, widths as "64,64",
    /// booleans as true/false, the DSR enums by their word; null has no text.
    /// </summary>
    public static string? Text(object? value) => value switch
    {
        null => null,
        string s => s,
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        int[] widths => string.Join(",", widths.Select(w => w.ToString(CultureInfo.InvariantCulture))),
        DsrKind k => k.Word(),
        SupportMode m => m.Word(),
        DsrScore s => s.Word(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}

/// <summary>
/// Declares the flags that set properties of the options record <typeparamref name="T"/> and applies them:
/// a flag's name defaults to the property's in snake case, its documented default comes from
/// <see cref="RecordDefaults"/>, and <see cref="Apply"/> sets the properties of the flags given on the command line
/// (a flag not given leaves the record's own default).
/// </summary>
public static class Binder<T> where T : class
{
    static readonly Dictionary<Type, Func<string, object>> WordParsers = new()
    {
        [typeof(DsrKind)] = s => DsrKind.Parse(s),
        [typeof(SupportMode)] = s => SupportMode.Parse(s),
        [typeof(DsrScore)] = s => DsrScore.Parse(s),
    };

    /// <summary>A flag bound to <paramref name="property"/> of <typeparamref name="T"/>.</summary>
    /// <param name="note">Words for a default the command decides at run time; no value is then documented.</param>
    public static OptionSpec Flag(string property, string help, string? name = null,
        double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        string[]? choices = null, string? nullWord = null, string? note = null,
        bool manual = false, bool required = false)
    {
        var p = typeof(T).GetProperty(property)
            ?? throw new InvalidOperationException($"{typeof(T).Name} has no property {property}");
        var text = required || note is not null ? null : RecordDefaults.TextOf(p) ?? nullWord;
        return new OptionSpec(name ?? Snake(property), help, text, p.PropertyType == typeof(bool), required)
        {
            Property = p, DefaultNote = note, Min = min, Max = max, Choices = choices, NullWord = nullWord,
            Manual = manual,
        };
    }

    /// <summary>Set on <paramref name="target"/>, a fresh record, every bound non-manual flag that was given.</summary>
    public static T Apply(ParsedArgs a, T target)
    {
        foreach (var o in a.Command.Options)
            if (o.Property?.DeclaringType == typeof(T) && !o.Manual && a.Has(o.Name))
                o.Property.SetValue(target, Value(a, o));
        return target;
    }

    static object? Value(ParsedArgs a, OptionSpec o)
    {
        var name = o.Name;
        if (o.NullWord is not null && a.RequiredString(name).Equals(o.NullWord, StringComparison.OrdinalIgnoreCase))
            return null;
        var type = o.Property!.PropertyType;
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int))
            return a.Int(name, (int)Math.Max(o.Min, int.MinValue), (int)Math.Min(o.Max, int.MaxValue));
        if (type == typeof(long)) return a.Long(name, (long)Math.Max(o.Min, long.MinValue));
        if (type == typeof(double)) return a.Double(name, o.Min, o.Max);
        if (type == typeof(bool)) return a.Bool(name);
        if (type == typeof(string)) return o.Choices is null ? a.RequiredString(name) : a.Choice(name, o.Choices);
        if (type == typeof(int[])) return CommonOptions.Widths(a, name);
        if (WordParsers.TryGetValue(type, out var parse)) return parse(a.RequiredString(name));
        throw new InvalidOperationException($"--{name}: no parser for {type.Name}");
    }

    static string Snake(string property) =>
        string.Concat(property.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c)
            : char.ToLowerInvariant(c).ToString()));
}
