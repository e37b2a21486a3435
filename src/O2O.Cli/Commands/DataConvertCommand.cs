using O2O.Data;

namespace O2O.Cli.Commands;

/// <summary>`o2o data convert`: the notebook's h5_to_npz.</summary>
public static class DataConvertCommand
{
    public static readonly CommandSpec Spec = new(
        "data convert",
        "convert a D4RL HDF5 file to the NPZ the training commands read "
            + "(states, actions [+ rewards, next_states, terminals, timeouts])",
        [
            ConvertFlags.Flag(nameof(ConvertOptions.InputPath), "input D4RL .hdf5 file (an .npz is accepted too)", "h5",
                required: true, manual: true),
            ConvertFlags.Flag(nameof(ConvertOptions.OutputPath), "output .npz path (written atomically)", "out",
                required: true, manual: true),
            ConvertFlags.Flag(nameof(ConvertOptions.MaxSamples),
                "keep a random subset of this many rows (seeded permutation, without replacement)", min: 1),
            ConvertFlags.Flag(nameof(ConvertOptions.Seed), "seed of the subset"),
            ConvertFlags.Flag(nameof(ConvertOptions.AllowNonFinite), "accept NaN/Inf values instead of refusing",
                "allow_nonfinite"),
        ],
        Execute);

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var options = ConvertFlags.Apply(a, new ConvertOptions(a.RequiredString("h5"), a.RequiredString("out")));
        var r = DatasetConversion.H5ToNpz(options);
        var sub = r.Rows < r.SourceRows ? $" (random subset of {r.SourceRows})" : "";
        ctx.Log($"wrote {r.OutputPath}: {r.Rows} rows{sub}, states ({r.Rows}, {r.ObsDim}) float32, "
            + $"actions ({r.Rows}, {r.ActDim}) float32; keys: {string.Join(", ", r.Keys)}");
        return 0;
    }
}
