using System.Diagnostics;

namespace O2O.Sim.Tests;

/// <summary>Paths and helpers shared by the tests.</summary>
internal static class TestSupport
{
    /// <summary>The repository root (the folder holding O2O.slnx), found from the test binary's folder.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "O2O.slnx"))) return dir.FullName;
            throw new InvalidOperationException($"no O2O.slnx above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>The full path of <paramref name="exe"/> on PATH, or null.</summary>
    public static string? OnPath(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, exe)).FirstOrDefault(File.Exists);

    /// <summary>Run a process to completion; returns exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(
            exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Uniform random actions in [-1, 1) from a fixed seed.</summary>
    public static void RandomActions(ref Pcg32 rng, Span<float> action, double scale = 1.0)
    {
        for (var i = 0; i < action.Length; i++) action[i] = (float)(scale * rng.Uniform(-1, 1));
    }
}

/// <summary>A fact that needs gcc and the MuJoCo headers; skipped with the reason when either is missing.</summary>
public sealed class GccFactAttribute : FactAttribute
{
    public GccFactAttribute()
    {
        if (TestSupport.OnPath("gcc") is null)
            Skip = "gcc is not on PATH (apt-get install gcc) — cannot compile the offsets generator";
        else if (!File.Exists("/usr/include/mujoco/mujoco.h"))
            Skip = "MuJoCo headers missing (apt-get install libmujoco-dev) — cannot compile the offsets generator";
    }
}
