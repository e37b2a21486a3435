using O2O.Data;

namespace O2O.Cli.Commands;

/// <summary>`o2o data convert`: the notebook's h5_to_npz.</summary>
public static class DataConvertCommand
{
    public static readonly CommandSpec Spec = new(
        "data convert",
        "convert a D4RL HDF5 file to the NPZ the training commands read (states, actions [+ rewards, next_states, terminals, timeouts])",
        [
            new OptionSpec("h5", "input D4RL .hdf5 file (an .npz is accepted too)", Required: true),
            new OptionSpec("out", "output .npz path (written atomically)", Required: true),
            new OptionSpec("max_samples", "keep a random subset of this many rows (seeded permutation, without replacement)"),
            new OptionSpec("seed", "seed of the subset", "0"),
            new OptionSpec("allow_nonfinite", "accept NaN/Inf values instead of refusing", "false", IsFlag: true),
        ],
        Execute);

    static int Execute(ParsedArgs a)
    {
        var r = DatasetConversion.H5ToNpz(new ConvertOptions(
            a.RequiredString("h5"), a.RequiredString("out"),
            a.Has("max_samples") ? a.Int("max_samples", 1) : null,
            a.Int("seed"), a.Bool("allow_nonfinite")));
        var sub = r.Rows < r.SourceRows ? $" (random subset of {r.SourceRows})" : "";
        Console.WriteLine($"wrote {r.OutputPath}: {r.Rows} rows{sub}, states ({r.Rows}, {r.ObsDim}) float32, actions ({r.Rows}, {r.ActDim}) float32; keys: {string.Join(", ", r.Keys)}");
        return 0;
    }
}
