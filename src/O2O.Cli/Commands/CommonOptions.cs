using System.Globalization;
using O2O.Core;
using O2O.Data;
using O2O.Experiments;
using O2O.Sim;

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
        new("offline_path", "dataset: the notebook's .npz (states/actions), a D4RL .hdf5, or a Minari dataset "
            + "(folder, main_data.hdf5, or id such as mujoco/hopper/medium-v0)", Required: true),
        new("env_id", "environment the data comes from, e.g. Hopper-v4 (required unless the data is a Minari "
            + "dataset, whose env spec names it)"),
    ];

    /// <summary>
    /// The env of --offline_path: --env_id, or the env a Minari dataset's spec names; both given must agree.
    /// </summary>
    public static EnvSpec OfflineEnv(ParsedArgs a)
    {
        var path = a.RequiredString("offline_path");
        var named = DatasetEnv.Named(Minari.PeekMetadata(path), $"--offline_path '{path}'");
        var flag = a.String("env_id");
        if (flag is not null && named is not null && flag != named)
            throw new UserError($"--offline_path '{path}' was recorded in {named} (its Minari env spec) but --env_id "
                + $"is {flag}; drop --env_id or pass --env_id {named}");
        if (flag is null && named is null)
        {
            DatasetIO.DetectKind(path);  // a missing file says so first
            throw new UsageError($"--env_id is required: '{path}' does not name its environment (only Minari "
                + "datasets do); e.g. --env_id Hopper-v4");
        }
        return EnvRegistry.Get(flag ?? named!);
    }

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
