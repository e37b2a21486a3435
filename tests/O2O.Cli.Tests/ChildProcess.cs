using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace O2O.Cli.Tests;

/// <summary>
/// `o2o` started as a child process (the o2o.dll built beside the tests), so that tests can send it real signals:
/// its output is collected line by line, and a test waits for a line before acting.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    public const int SigInt = 2, SigKill = 9, SigTerm = 15;

    /// <summary>
    /// True when this process ignores SIGINT, as a job started with `&amp;` by a non-interactive shell does: its children
    /// inherit the ignored signal and, as Unix programs should, do not take it back, so SIGINT cannot reach them.
    /// </summary>
    public static bool SigIntIgnored
    {
        get
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null && (Convert.ToUInt64(line[7..].Trim(), 16) & (1UL << (SigInt - 1))) != 0;
        }
    }

    public const string SigIntIgnoredReason =
        "this test process ignores SIGINT (started in the background by a non-interactive shell), so its children do too";

    /// <summary>The process id.</summary>
    public int Pid => process.Id;

    readonly Process process;
    readonly StringBuilder stdout = new(), stderr = new();
    readonly object gate = new();

    ChildProcess(Process process) => this.process = process;

    /// <summary>Start `o2o ARGS` in <paramref name="workDir"/>.</summary>
    public static ChildProcess Start(string workDir, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "o2o.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        var p = new Process { StartInfo = info };
        var child = new ChildProcess(p);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (child.gate) child.stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child.gate) child.stderr.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>Run `o2o ARGS` to the end; its exit code and output.</summary>
    public static (int Code, string Out, string Err) Run(string workDir, params string[] args)
    {
        using var c = Start(workDir, args);
        var code = c.WaitForExit(TimeSpan.FromMinutes(5));
        return (code, c.Out, c.Err);
    }

    public string Out { get { lock (gate) return stdout.ToString(); } }
    public string Err { get { lock (gate) return stderr.ToString(); } }

    /// <summary>Wait until stdout contains <paramref name="text"/>; fails if the process ends first or times out.
    /// </summary>
    public void WaitForOutput(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Out.Contains(text, StringComparison.Ordinal))
        {
            Assert.False(process.HasExited, $"o2o ended before printing '{text}':\n{Err}\n{Out}");
            Assert.True(clock.Elapsed < timeout, $"o2o did not print '{text}' within {timeout}:\n{Err}\n{Out}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Send a signal (<see cref="SigInt"/>, <see cref="SigTerm"/>) to the process.</summary>
    public void Signal(int signal) => Assert.Equal(0, Kill(process.Id, signal));

    /// <summary>Wait for the end; the exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"o2o did not end within {timeout}:\n{Err}\n{Out}");
        }
        process.WaitForExit();  // drains the output
        return process.ExitCode;
    }

    [DllImport("libc", EntryPoint = "kill")]
    static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.Dispose();
    }
}
