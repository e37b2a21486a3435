using System.Diagnostics;

namespace O2O.Learning.Tests;

/// <summary>
/// Debian's python3 with python3-torch (./test.sh installs it): runs a check script against our files.
/// </summary>
internal static class PythonTorch
{
    public const string Python = "/usr/bin/python3";
    public const string SkipReason = "python3-torch is not installed (./test.sh installs it: " +
        "apt-get install python3-torch)";

    /// <summary>True when python3 can import torch.</summary>
    public static bool Available => File.Exists(Python) && Run("-c", "import torch").Code == 0;

    /// <summary>Run python3 with the arguments; returns the exit code and both streams.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderrTask.Result);
    }
}
