using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Commands;

/// <summary>`o2o data info PATH`: what a dataset holds and what is wrong with it.</summary>
public static class DataInfoCommand
{
    public static readonly CommandSpec Spec = new(
        "data info",
        "describe a dataset (D4RL HDF5, Minari or NPZ): sizes, returns, normalised score, flags, problems",
        [],
        Execute,
        Positional: "path",
        PositionalHelp: "dataset file (.hdf5/.h5 or .npz), Minari dataset folder or id (e.g. mujoco/hopper/medium-v0)");

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var path = a.PositionalValue ?? throw new UsageError("give the dataset file: o2o data info PATH");
        var ds = DatasetIO.Load(path, allowNonFinite: true);
        var stats = DatasetStats.Compute(ds, path);
        var kind = Minari.IsMinari(ds) ? "Minari" : DatasetIO.DetectKind(path).ToString();
        ctx.Out.Write(stats.Format($"{path} ({kind})"));
        if (ds.Metadata.ContainsKey("generated_by"))
        {
            // Generated here: which recipe made it, and what its behaviour training did (docs/data.md).
            ctx.Out.WriteLine($"recipe:           {DatasetRecipe.Describe(ds.Metadata)}");
            foreach (var (k, v) in ds.Metadata.Where(m => m.Key.StartsWith("behaviour_", StringComparison.Ordinal)))
                ctx.Out.WriteLine($"  {k}: {v}");
        }
        // As sha256sum prints it, to compare with a published checksum.
        var file = Minari.Locate(path) ?? path;
        ctx.Out.WriteLine($"sha256 {FileHash.Sha256(file)}  {file}");
        return 0;
    }
}
