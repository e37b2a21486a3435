using System.Runtime.InteropServices;
using O2O.Core;

namespace O2O.Cli;

/// <summary>Entry point: find the command, parse, run, and turn errors into one line and an exit code.</summary>
public static class Program
{
    static volatile CommandSpec? running;
    static volatile TextWriter? runningError;
    static IReadOnlyList<string> runningArgs = [];
    static ParsedArgs? runningParsed;
    static int signalCount, stopSignal;

    public static int Main(string[] args)
    {
        // SIGTERM (a scheduler pre-empting the job) and SIGINT (Ctrl-C) stop a command cleanly: see OnSignal.
        using var cts = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => OnSignal(c, cts));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => OnSignal(c, cts));
        return Run(args, Console.Out, Console.Error, CommandTable.All, cts.Token, !Console.IsOutputRedirected);
    }

    /// <summary>
    /// A first signal while the command is at a stop point (the run harness, a download) cancels it: it stops at
    /// the end of the current epoch, after its checkpoint, and <see cref="Run"/> prints how to resume. Otherwise (a
    /// phase that keeps no checkpoint, or a second signal) the process prints the same line and exits at once: every
    /// file is written atomically, so none is left partial, and the last checkpoint stays complete.
    /// </summary>
    static void OnSignal(PosixSignalContext c, CancellationTokenSource cts)
    {
        var spec = running;
        var err = runningError;
        if (spec is null || err is null) return;  // no command yet: the signal's default action
        c.Cancel = true;
        var first = Interlocked.Increment(ref signalCount) == 1;
        if (first) Interlocked.Exchange(ref stopSignal, (int)c.Signal);
        if (first && spec.StopsOnCancel && Interruption.AtStopPoint)
        {
            err.WriteLine($"o2o {spec.Name}: {SignalName(c.Signal)}: stopping at the end of the current epoch, "
                + "after its checkpoint (signal again to stop at once)");
            err.Flush();
            cts.Cancel();
            return;
        }
        err.WriteLine(StopLine(spec, runningArgs, runningParsed, c.Signal));
        err.Flush();
        Console.Out.Flush();
        // Not Environment.Exit: libtorch's static destructors would run while a worker thread is still inside it
        // (SIGSEGV). Nothing needs finishing: the files are written atomically, the checkpoint is complete.
        ExitNow(ExitCode(c.Signal));
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void ExitNow(int code);

    /// <summary>130 for SIGINT, 143 for SIGTERM (128 + the signal's number, as a shell reports it).</summary>
    internal static int ExitCode(PosixSignal signal) => signal == PosixSignal.SIGTERM ? 143 : 130;

    static string SignalName(PosixSignal signal) => signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";

    /// <summary>
    /// The line printed when a signal stops <paramref name="spec"/>: what is kept and the exact command that goes
    /// on (with --resume for a command that resumes by flag, once a checkpoint exists).
    /// </summary>
    internal static string StopLine(
        CommandSpec spec, IReadOnlyList<string> args, ParsedArgs? parsed, PosixSignal signal)
    {
        var head = $"o2o {spec.Name}: stopped by {SignalName(signal)}";
        var saved = Interruption.Checkpoint;
        var kept = saved is null ? "" : $"; checkpoint {saved} is complete";
        switch (spec.Resume)
        {
            case ResumeStyle.ResumeFlag:
                var resumed = parsed is not null && spec.Options.Any(o => o.Name == "resume") && parsed.Bool("resume");
                if (saved is null && !resumed)
                    return $"{head} before its first checkpoint; nothing to resume: start again with: "
                        + Command(args);
                return $"{head}{kept}; resume with: {Command(WithResume(args))}";
            case ResumeStyle.Rerun:
                return $"{head}{kept}; finished steps are kept: rerun to continue: {Command(args)}";
            default:
                return $"{head}; this command keeps no checkpoint and left no partial file: rerun to start over: "
                    + Command(args);
        }
    }

    /// <summary><paramref name="args"/> with any --resume flag (and its value) replaced by one --resume at the end.
    /// </summary>
    static List<string> WithResume(IReadOnlyList<string> args)
    {
        var list = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var name = ParsedArgs.Canonical(args[i].Split('=')[0]);
            if (name != "--resume") { list.Add(args[i]); continue; }
            if (!args[i].Contains('=') && i + 1 < args.Count
                && args[i + 1].ToLowerInvariant() is "true" or "false" or "1" or "0" or "yes" or "no")
                i++;
        }
        list.Add("--resume");
        return list;
    }

    /// <summary>The command line as a shell reads it back: `o2o` and each argument quoted where needed.</summary>
    static string Command(IEnumerable<string> args) => "o2o " + string.Join(' ', args.Select(Quote));

    static string Quote(string a) =>
        a.Length > 0 && a.All(ch => char.IsAsciiLetterOrDigit(ch) || "_-./:=,@+%".Contains(ch))
            ? a : "'" + a.Replace("'", "'\\''") + "'";

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
        ParsedArgs? parsed = null;
        try
        {
            parsed = ParsedArgs.Parse(spec, rest);
            Interruption.Reset();
            (runningArgs, runningParsed, signalCount, stopSignal) = (args, parsed, 0, 0);
            runningError = stderr;
            running = spec;
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
            // Cancelled by a signal (see OnSignal), or by the caller's token (in-process: as Ctrl-C).
            var signal = stopSignal == 0 ? PosixSignal.SIGINT : (PosixSignal)stopSignal;
            stderr.WriteLine(StopLine(spec, args, parsed, signal));
            return ExitCode(signal);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            // A writer without its own message (TensorBoard events, a log appended by a sweep): still one line.
            stderr.WriteLine($"o2o {spec.Name}: error: disk full ({OneLine(e.Message)}); free some space or choose "
                + "a folder on another disk, then rerun — finished steps are kept");
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("O2O_DEBUG") is null or "" or "0")
        {
            stderr.WriteLine($"o2o {spec.Name}: internal error ({e.GetType().Name}): {OneLine(e.Message)} "
                + "— rerun with O2O_DEBUG=1 for the stack trace and report it");
            return 70;
        }
        finally
        {
            running = null;
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
