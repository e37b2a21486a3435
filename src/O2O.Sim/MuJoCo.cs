using System.Runtime.InteropServices;
using O2O.Core;
using O2O.Sim.Interop;

namespace O2O.Sim;

/// <summary>
/// The MuJoCo library this process uses: version, start-up check and loader errors a user can act on.
/// </summary>
public static class MuJoCo
{
    /// <summary>
    /// mj_version() of the only MuJoCo release whose struct layout <see cref="MuJoCoOffsets"/> describes.
    /// </summary>
    public const int RequiredVersion = MuJoCoOffsets.HeaderVersion;

    static readonly Lazy<int> Loaded = new(LoadAndCheck, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The loaded library's version as text, e.g. "2.2.2". Loads and checks the library on first use.
    /// </summary>
    public static string Version => FormatVersion(EnsureLoaded());

    /// <summary>
    /// Load libmujoco and check its version once; returns mj_version(). Throws <see cref="UserError"/> when it cannot
    /// be used.
    /// </summary>
    public static int EnsureLoaded() => Loaded.Value;

    static int LoadAndCheck()
    {
        int version;
        try
        {
            version = NativeMethods.mj_version();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw TranslateLoadError(e);
        }
        CheckVersion(version);
        return version;
    }

    /// <summary>Fail unless <paramref name="version"/> is the one the generated offsets were made for.</summary>
    internal static void CheckVersion(int version)
    {
        if (version != RequiredVersion)
            throw new UserError(
                $"MuJoCo {FormatVersion(version)} was loaded from {NativeMethods.Lib}, " +
                $"but O2O is built for MuJoCo {FormatVersion(RequiredVersion)} " +
                "(mjModel/mjData layouts differ between versions); install Debian's libmujoco2.2.2 (`sudo apt-get " +
                "install libmujoco2.2.2`)");
    }

    /// <summary>Map a failure to load or bind libmujoco to a one-line error naming the package to install.</summary>
    internal static Exception TranslateLoadError(Exception e) => e switch
    {
        DllNotFoundException => new UserError(
            $"MuJoCo 2.2.2 is not installed ({NativeMethods.Lib} not found): " +
            $"run `sudo apt-get install libmujoco2.2.2` (the repository's launcher script installs it for you)", e),
        EntryPointNotFoundException => new UserError(
            $"{NativeMethods.Lib} does not export a function O2O needs ({FirstLine(e.Message)}); " +
            $"reinstall it with `sudo apt reinstall libmujoco2.2.2`", e),
        BadImageFormatException => new UserError(
            $"{NativeMethods.Lib} could not be loaded ({FirstLine(e.Message)}); it must be the x86-64 build: " +
            $"`sudo apt reinstall libmujoco2.2.2`", e),
        _ => e,
    };

    /// <summary>222 → "2.2.2" (MuJoCo encodes major·100 + minor·10 + patch).</summary>
    internal static string FormatVersion(int version) => $"{version / 100}.{version / 10 % 10}.{version % 10}";

    static string FirstLine(string s)
    {
        var i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }
}
