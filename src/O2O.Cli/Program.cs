using O2O.Core;

namespace O2O.Cli;

/// <summary>Entry point: find the command, parse, run, and turn errors into one line and an exit code.</summary>
public static class Program
{
    static volatile bool stopsOnCancel;

    public static int Main(string[] args)
    {
        // Ctrl-C cancels a command that stops on cancel (it stops at its next check and exits 130); any other
        // command is killed as usual.
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (!stopsOnCancel) return;
            e.Cancel = true;
            cts.Cancel();
        };
        return Run(args, Console.Out, Console.Error, CommandTable.All, cts.Token, !Console.IsOutputRedirected);
    }

    /// <summary>Run one command line; used in-process by the CLI tests.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr) =>
        Run(args, stdout, stderr, CommandTable.All, CancellationToken.None, interactive: false);

    /// <summary>
    /// Run one command line against <paramref name="commands"/>. Commands write only to the writers given
    /// (made thread-safe here: training logs from worker threads); <paramref name="interactive"/> says that
    /// stdout is a terminal (progress may redraw a line).
    /// </summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr,
        IReadOnlyList<CommandSpec> commands, CancellationToken cancel, bool interactive)
    {
        stdout = TextWriter.Synchronized(stdout);
        stderr = TextWriter.Synchronized(stderr);
        if (args.Count == 0 || args[0] is "--help" or "-h" or "help")
        {
            stdout.Write(Overview(commands));
            return args.Count == 0 ? 2 : 0;
        }
        if (args[0] is "--version") { stdout.WriteLine($"o2o {typeof(Program).Assembly.GetName().Version}"); return 0; }

        // Two-word commands ("data convert") and the notebook's script names ("train_dsr") both resolve.
        var (spec, rest) = Resolve(commands, args);
        if (spec is null)
        {
            var known = string.Join(", ", commands.Select(c => c.Name));
            stderr.WriteLine($"o2o: error: unknown command '{args[0]}'; known: {known}");
            return 2;
        }
        if (rest.Any(a => a is "--help" or "-h")) { stdout.Write(spec.HelpText()); return 0; }
        try
        {
            var parsed = ParsedArgs.Parse(spec, rest);
            stopsOnCancel = spec.StopsOnCancel;
            return spec.Run(new CommandContext(parsed, stdout, stderr, cancel, interactive));
        }
        catch (UserError e)
        {
            // The library names options by their record property; say the flag instead.
            var message = e is OptionError option ? spec.Reword(option) : e.Message;
            stderr.WriteLine($"o2o {spec.Name}: error: {OneLine(message)}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine($"o2o {spec.Name}: interrupted");
            return 130;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("O2O_DEBUG") is null or "" or "0")
        {
            stderr.WriteLine($"o2o {spec.Name}: internal error ({e.GetType().Name}): {OneLine(e.Message)} "
                + "— rerun with O2O_DEBUG=1 for the stack trace and report it");
            return 70;
        }
    }

    static (CommandSpec?, IReadOnlyList<string>) Resolve(
        IReadOnlyList<CommandSpec> commands, IReadOnlyList<string> args)
    {
        string Norm(string s) => s.Replace('_', '-').ToLowerInvariant();
        if (args.Count >= 2)
        {
            var two = Norm(args[0]) + " " + Norm(args[1]);
            var hit2 = commands.FirstOrDefault(c => c.Name == two);
            if (hit2 is not null) return (hit2, args.Skip(2).ToList());
        }
        var one = Norm(args[0]);
        if (one.EndsWith(".py", StringComparison.Ordinal)) one = one[..^3];
        var hit = commands.FirstOrDefault(c => c.Name == one);
        if (hit is null && commands.Any(c => c.Name.StartsWith(one + " ", StringComparison.Ordinal)))
        {
            var subs = commands.Where(c => c.Name.StartsWith(one + " ", StringComparison.Ordinal))
                .Select(c => c.Name[(one.Length + 1)..]);
            var group = new CommandSpec(one, $"subcommands: {string.Join(", ", subs)}", [], _ =>
                throw new UsageError($"'o2o {one}' needs a subcommand: {string.Join(", ", subs)}"));
            return (group, args.Skip(1).ToList());
        }
        return (hit, args.Skip(1).ToList());
    }

    static string OneLine(string s) =>
        string.Join(' ', s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    static string Overview(IReadOnlyList<CommandSpec> commands)
    {
        var w = new System.Text.StringBuilder();
        w.AppendLine("o2o — representation-first offline-to-online reinforcement learning").AppendLine();
        w.AppendLine("usage: o2o COMMAND [options]      (o2o COMMAND --help for its flags)").AppendLine();
        foreach (var c in commands) w.AppendLine($"  {c.Name,-16} {c.Summary}");
        return w.ToString();
    }
}
