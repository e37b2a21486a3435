using System.Text.RegularExpressions;

namespace O2O.Learning.Tests;

/// <summary>
/// Rules on the source text itself (issue 12). The libraries below the CLI never speak of command-line
/// flags or `o2o` commands — their errors name options by property (OptionError) and the CLI rewords them —
/// and no line under src/ is longer than 120 UTF-8 bytes (the build checks this too, as O2O0001; this test
/// gives the whole list at once). Code, strings and comments alike.
/// </summary>
public sealed class SourceRulesTests
{
    const int MaxLineLength = 120;
    const int MaxListed = 30;

    static readonly string[] LibraryFolders = ["src/O2O.Learning", "src/O2O.Sim", "src/O2O.Data"];

    // `--env_id`, `--total-steps`: a double dash followed by a letter. (No pre-decrement `--x` exists in
    // the code; if one is ever written, put a space or parentheses around it.)
    static readonly Regex FlagText = new(@"--[A-Za-z]", RegexOptions.CultureInvariant);

    // "o2o train-dsr", "'o2o run'": the command's name followed by one of its command words (those of
    // src/O2O.Cli/CommandTable.cs, in both spellings). "an o2o actor checkpoint" names the format, not a command.
    static readonly Regex CommandText = new(
        @"\bo2o (?:run|train[-_]dsr|pretrain[-_]bc|train[-_]online|eval|data|compare|envs|doctor)\b",
        RegexOptions.CultureInvariant);

    [Fact]
    public void LibrariesDoNotMentionCommandLineFlags()
    {
        var hits = Matches(LibraryFolders, FlagText);
        Assert.True(hits.Count == 0, Report(hits,
            "command-line flag text (`--name`) in a library; name the option's property instead "
            + "(OptionError) and let the CLI reword it"));
    }

    [Fact]
    public void LibrariesDoNotMentionO2OCommands()
    {
        var hits = Matches(LibraryFolders, CommandText);
        Assert.True(hits.Count == 0, Report(hits,
            "`o2o COMMAND` text in a library; the libraries do not know which front end calls them"));
    }

    [Fact]
    public void SourceLinesAreAtMost120Bytes()
    {
        var hits = new List<string>();
        foreach (var (file, line, text) in SourceLines(["src"]))
        {
            var length = System.Text.Encoding.UTF8.GetByteCount(text);
            if (length > MaxLineLength) hits.Add($"{file}:{line}: {length} bytes");
        }
        Assert.True(hits.Count == 0, Report(hits, $"lines longer than {MaxLineLength} UTF-8 bytes under src/"));
    }

    [Fact]
    public void RulesSeeTheSources()
    {
        // Guards the tests above against passing because they read nothing (a moved repository root, say).
        Assert.Contains(SourceLines(["src/O2O.Learning"]), l => l.Text.Contains("namespace O2O.Learning"));
    }

    static List<string> Matches(IEnumerable<string> folders, Regex pattern) =>
        SourceLines(folders)
            .Where(l => pattern.IsMatch(l.Text))
            .Select(l => $"{l.File}:{l.Line}: {Shorten(l.Text.Trim())}")
            .ToList();

    /// <summary>Every line of every C# file under the folders (relative to the repository root).</summary>
    static IEnumerable<(string File, int Line, string Text)> SourceLines(IEnumerable<string> folders)
    {
        var root = RepositoryRoot();
        foreach (var folder in folders)
        {
            var dir = Path.Combine(root, folder);
            Assert.True(Directory.Exists(dir), $"source folder '{dir}' does not exist");
            var files = Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
                .Where(f => !IsBuildOutput(Path.GetRelativePath(dir, f)))
                .Order(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
                var lines = File.ReadAllLines(file);
                for (var i = 0; i < lines.Length; i++) yield return (relative, i + 1, lines[i]);
            }
        }
    }

    static bool IsBuildOutput(string relativePath)
    {
        var parts = relativePath.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        return parts.Contains("obj") || parts.Contains("bin");
    }

    /// <summary>The folder holding O2O.slnx, found by walking up from the test binaries.</summary>
    static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "O2O.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no O2O.slnx above {AppContext.BaseDirectory}");
    }

    static string Shorten(string text) => text.Length <= 100 ? text : text[..97] + "...";

    static string Report(IReadOnlyList<string> hits, string what)
    {
        var listed = hits.Take(MaxListed).ToList();
        var more = hits.Count > listed.Count ? $"\n… and {hits.Count - listed.Count} more" : "";
        return $"{hits.Count} {what}:\n{string.Join('\n', listed)}{more}";
    }
}
