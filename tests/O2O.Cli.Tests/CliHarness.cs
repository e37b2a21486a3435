namespace O2O.Cli.Tests;

/// <summary>Runs the CLI in-process and captures what it prints.</summary>
internal static class CliHarness
{
    static readonly Lock ConsoleGate = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        // Commands print progress through Console.Out; capture it for the duration of the call.
        lock (ConsoleGate)
        {
            var o = new StringWriter();
            var e = new StringWriter();
            var oldOut = Console.Out;
            var oldErr = Console.Error;
            Console.SetOut(o);
            Console.SetError(e);
            try
            {
                var code = Program.Run(args, o, e);
                return (code, o.ToString(), e.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }

    /// <summary>Assert a failed run printed exactly one error line with all the given fragments and no stack trace.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) r, params string[] fragments)
    {
        Assert.NotEqual(0, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one error line, got:\n{r.Err}");
        Assert.DoesNotContain("   at ", r.Err);
        foreach (var f in fragments) Assert.Contains(f, r.Err);
    }
}
