using System.Globalization;

namespace O2O.Cli.Commands;

/// <summary>Flags and parsing shared by several commands.</summary>
internal static class CommonOptions
{
    /// <summary>The libtorch device: a choice of the command line only, no options record carries it.</summary>
    public static OptionSpec Device => new("device", "cpu, cuda or auto (auto falls back to cpu)", "cpu");

    /// <summary>The environment id, a required flag.</summary>
    public static OptionSpec EnvId(string help = "environment, e.g. Hopper-v4") => new("env_id", help, Required: true);

    /// <summary>The offline dataset and its environment (train-dsr, pretrain-bc).</summary>
    public static OptionSpec[] OfflineData =>
    [
        new("offline_path", "dataset: the notebook's .npz (states/actions) or a D4RL .hdf5", Required: true),
        EnvId("environment the data comes from, e.g. Hopper-v4"),
    ];

    /// <summary>Parse a comma-separated list of layer widths, e.g. "256,256".</summary>
    public static int[] Widths(ParsedArgs a, string name)
    {
        var s = a.RequiredString(name);
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var widths = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out widths[i])
                || widths[i] <= 0 || widths[i] > 4096)
                throw new UsageError($"--{name} '{s}' must be comma-separated widths in 1..4096, e.g. 256,256");
        if (widths.Length == 0) throw new UsageError($"--{name} must name at least one hidden width, e.g. 64,64");
        return widths;
    }

    /// <summary>Check --device (cpu/cuda/auto) and load libtorch.</summary>
    public static void UseDevice(ParsedArgs a)
    {
        var d = a.Choice("device", "cpu", "cuda", "auto");
        O2O.Learning.Runtime.TorchRuntime.ResolveDevice(d);
    }
}
