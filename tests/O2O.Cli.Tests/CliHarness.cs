namespace O2O.Cli.Tests;

/// <summary>Runs the CLI in-process and captures what it prints.</summary>
internal static class CliHarness
{
    /// <summary>Run one command line with its own writers (commands write nowhere else).</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>Assert a failed run printed exactly one error line with all the given fragments and no stack
    /// trace.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) r, params string[] fragments)
    {
        Assert.NotEqual(0, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one error line, got:\n{r.Err}");
        Assert.DoesNotContain("   at ", r.Err);
        foreach (var f in fragments) Assert.Contains(f, r.Err);
    }
}
