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

    /// <summary>
    /// Run <paramref name="script"/> on <paramref name="input"/> (JSON it reads from argv[1]); it prints a JSON object
    /// of named number lists. Each must equal <paramref name="ours"/> to <paramref name="relative"/> relative error.
    /// </summary>
    public static void AssertSameNumbers(string script, string input, Dictionary<string, double[]> ours,
        double relative = 1e-5)
    {
        var (code, stdout, stderr) = Run(script, input);
        Assert.True(code == 0, stderr);
        var theirs = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double[]>>(stdout)!;
        Assert.Equal(theirs.Keys.Order(), ours.Keys.Order());
        foreach (var (name, expected) in theirs)
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(ours[name][i] - expected[i]) <= relative * Math.Max(1e-3, Math.Abs(expected[i])),
                    $"{name}[{i}]: ours {ours[name][i]:R}, PyTorch {expected[i]:R}");
    }
}
