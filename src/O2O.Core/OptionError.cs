namespace O2O.Core;

/// <summary>
/// A setting of an options record is invalid. The message names the record's properties as they are
/// spelled in code (e.g. "StepsPerEpoch 1024 is not divisible by NumEnvs 3; choose a multiple of 3"), and
/// <see cref="Options"/> lists those property names, so that a front end can reword them in its own
/// language: the CLI maps each property to its `--flag`. The library never speaks of flags.
/// </summary>
public sealed class OptionError(string message, params string[] options) : UserError(message)
{
    /// <summary>Throw an OptionError with <paramref name="message"/> unless <paramref name="ok"/>.</summary>
    public static void Require(bool ok, string message, params string[] options)
    {
        if (!ok) throw new OptionError(message, options);
    }

    /// <summary>Property names that the message mentions, as written in it.</summary>
    public IReadOnlyList<string> Options { get; } = options;

    /// <summary>The message with each property that <paramref name="rename"/> knows replaced by its new name.</summary>
    public string Reword(Func<string, string?> rename)
    {
        var text = Message;
        foreach (var p in Options.OrderByDescending(p => p.Length))
            if (rename(p) is { } name)
                text = System.Text.RegularExpressions.Regex.Replace(text, $@"(?<![\w-]){p}(?!\w)", name);
        return text;
    }
}
