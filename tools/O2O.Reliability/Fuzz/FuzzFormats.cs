using System.Globalization;
using System.Text;
using O2O.Core;
using O2O.Data;
using O2O.Experiments;
using O2O.Experiments.Sweeps;
using O2O.Learning.Checkpoints;
using O2O.Learning.Dsr;
using O2O.Learning.Nn;
using PureHDF;
using static TorchSharp.torch;

namespace O2O.Reliability.Fuzz;

/// <summary>A valid input: its files (relative path → bytes); <see cref="FuzzFormat.MainFile"/> is the one read.
/// </summary>
public sealed record FuzzSeed(string Name, IReadOnlyDictionary<string, byte[]> Files);

/// <summary>
/// One reader under fuzzing: the valid seeds it starts from, the structure of its files (boundaries to cut at,
/// integer fields to inflate, key names to duplicate), its mutations, and the call that reads a case.
/// </summary>
public abstract class FuzzFormat
{
    public abstract string Name { get; }
    /// <summary>The file of a case the reader opens, relative to the case's folder.</summary>
    public abstract string MainFile { get; }
    /// <summary>Write the seeds, one folder each, into <paramref name="dir"/>; <paramref name="repo"/> is the
    /// repository (for committed fixtures).</summary>
    public abstract void MakeSeeds(string dir, string repo);
    /// <summary>Offsets where the main file's structures start (truncation points).</summary>
    public abstract IReadOnlyList<int> Boundaries(byte[] main);
    /// <summary>One mutation of a seed's files (usually of the main file).</summary>
    public abstract (Dictionary<string, byte[]> Files, string What) Mutate(FuzzSeed seed, Random r);
    /// <summary>Read a case: returns what was read; throws <see cref="UserError"/> for a refused input.</summary>
    public abstract string Read(string path, string seedName);

    /// <summary>Every format, by name.</summary>
    public static IReadOnlyList<FuzzFormat> All { get; } =
    [
        new D4rlFormat(), new MinariFormat(), new NpzFormat(), new NpyFormat(), new PtFormat(), new CsvFormat(),
        new SweepFormat(),
    ];

    protected static Dictionary<string, byte[]> With(FuzzSeed s, string file, byte[] bytes) =>
        new(s.Files) { [file] = bytes };

    protected static void Save(string dir, string name, string file, byte[] bytes)
    {
        var path = Path.Combine(dir, name, file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    protected static void SaveWith(string dir, string name, string file, Action<string> write)
    {
        var path = Path.Combine(dir, name, file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        write(path);
    }

    protected static string Fixture(string repo, string name) => Path.Combine(repo, "tests", "fixtures", name);

    /// <summary>A small dataset of <paramref name="n"/> rows whose next observations follow its episodes.</summary>
    internal static OfflineDataset Dataset(int n, int seed, bool full = true)
    {
        var r = new Random(seed);
        const int obsDim = 11, actDim = 3;
        var obs = new float[n * obsDim];
        var next = new float[n * obsDim];
        var act = new float[n * actDim];
        var rew = new float[n];
        var term = new bool[n];
        var tout = new bool[n];
        var state = new float[obsDim];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < obsDim; j++) obs[i * obsDim + j] = state[j];
            for (var k = 0; k < actDim; k++) act[i * actDim + k] = (float)(r.NextDouble() * 2 - 1);
            for (var j = 0; j < obsDim; j++) state[j] += (float)(r.NextDouble() - 0.5);
            for (var j = 0; j < obsDim; j++) next[i * obsDim + j] = state[j];
            rew[i] = (float)r.NextDouble();
            term[i] = i % 37 == 36;
            tout[i] = !term[i] && i % 50 == 49;
            if (term[i] || tout[i]) Array.Clear(state);
        }
        if (!full) return new OfflineDataset(n, obsDim, actDim, obs, act);
        var meta = new Dictionary<string, string>
        {
            ["generated_by"] = "o2o fuzz seed", ["env_id"] = "Hopper-v4", ["policy"] = "random",
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
        };
        var qpos = new double[n * 6];
        for (var i = 0; i < qpos.Length; i++) qpos[i] = r.NextDouble();
        return new OfflineDataset(n, obsDim, actDim, obs, act, rew, next, term, tout, qpos, 6, qpos, 6, null, meta);
    }

    protected static string Describe(OfflineDataset ds) => $"{ds.Count} rows, obs {ds.ObsDim}, act {ds.ActDim}";
}

/// <summary>HDF5 structures: signatures, the superblock, and the addresses the file stores.</summary>
static class Hdf5Structure
{
    static readonly string[] Signatures =
        ["OHDR", "OCHK", "TREE", "HEAP", "SNOD", "BTHD", "BTLF", "FRHP", "FHDB", "FHIB", "FSHD", "FSSE", "GCOL"];

    public static List<int> Boundaries(byte[] b)
    {
        var list = new List<int> { 0, 8, 9, 13, 16, 24, 40, 48, 56, 96 };
        foreach (var p in Mutations.Occurrences(b, Signatures)) list.AddRange([p, p + 4, p + 8, p + 16]);
        // 8-byte little-endian values that are offsets into the file: object headers, heaps, chunks.
        var addresses = new SortedSet<int>();
        for (var p = 0; p + 8 <= b.Length; p++)
        {
            var v = BitConverter.ToUInt64(b, p);
            if (v >= 48 && v < (ulong)b.Length) addresses.Add((int)v);
        }
        var step = Math.Max(1, addresses.Count / 300);
        list.AddRange(addresses.Where((_, i) => i % step == 0));
        list.Add(b.Length - 1);
        return [.. list.Where(x => x >= 0 && x <= b.Length).Distinct().Order()];
    }
}

/// <summary>D4RL HDF5 through <see cref="DatasetIO.Load"/> (format sniffing, the superblock check, D4rlHdf5.Read).
/// </summary>
public sealed class D4rlFormat : FuzzFormat
{
    public override string Name => "d4rl-hdf5";
    public override string MainFile => "data.hdf5";
    static readonly string[] Keys =
    [
        "observations", "actions", "rewards", "terminals", "timeouts", "metadata", "infos", "qpos", "qvel",
        "next_observations", "action_log_probs", "env_id", "policy", "seed",
    ];

    public override void MakeSeeds(string dir, string repo)
    {
        var ds = Dataset(120, 1);
        SaveWith(dir, "ours-plain", MainFile, p => DatasetIO.SaveHdf5(p, ds, new Hdf5WriteOptions(false, 32)));
        SaveWith(dir, "ours-gzip", MainFile, p => DatasetIO.SaveHdf5(p, ds, new Hdf5WriteOptions(true, 50)));
        SaveWith(dir, "ours-minimal", MainFile, p => DatasetIO.SaveHdf5(p, Dataset(40, 2, full: false)));
        foreach (var f in new[] { "d4rl_tiny_h5py.hdf5", "d4rl_tiny_f64_uint8.hdf5", "d4rl_tiny_fletcher32.hdf5" })
            Save(dir, "h5py-" + Path.GetFileNameWithoutExtension(f), MainFile, File.ReadAllBytes(Fixture(repo, f)));
        // Wrong dtypes and shapes, written as valid HDF5: the reader's type checks.
        const int n = 30;
        var obs = new float[n * 11];
        var act = new float[n * 3];
        void Variant(string name, H5File file) => SaveWith(dir, "dtype-" + name, MainFile, p => file.Write(p));
        Variant("int16-obs-bool-actions", new H5File
        {
            ["observations"] = new H5Dataset<short[]>(new short[n * 11], fileDims: [n, 11]),
            ["actions"] = new H5Dataset<byte[]>(new byte[n * 3], fileDims: [n, 3]),
            ["terminals"] = new H5Dataset<float[]>(new float[n], fileDims: [n]),
            ["timeouts"] = new H5Dataset<long[]>(new long[n], fileDims: [n]),
        });
        Variant("strings", new H5File
        {
            ["observations"] = Enumerable.Range(0, n).Select(i => $"row {i}").ToArray(),
            ["actions"] = new H5Dataset<float[]>(act, fileDims: [n, 3]),
            ["rewards"] = new H5Dataset<double[]>(new double[n * 2], fileDims: [n, 2]),
        });
        Variant("rank3-and-compound", new H5File
        {
            ["observations"] = new H5Dataset<float[]>(obs, fileDims: [n, 11, 1]),
            ["actions"] = new H5Dataset<Pair[]>(new Pair[n * 3], fileDims: [n, 3]),
            ["terminals"] = new H5Dataset<Pair[]>(new Pair[n], fileDims: [n]),
        });
        Variant("deep-metadata", new H5File
        {
            ["observations"] = new H5Dataset<float[]>(obs, fileDims: [n, 11]),
            ["actions"] = new H5Dataset<float[]>(act, fileDims: [n, 3]),
            ["metadata"] = new H5Group
            {
                ["a"] = new H5Group { ["b"] = new H5Group { ["c"] = "deep", ["n"] = 3L, ["x"] = 1.5 } },
                ["weights"] = new H5Dataset<float[]>(new float[4 * 11], fileDims: [4, 11]),
                ["flag"] = new H5Dataset<byte[]>([1], fileDims: [1]),
            },
        });
    }

    /// <summary>A compound (struct) element: not a number the reader takes.</summary>
    public struct Pair
    {
        public float A;
        public int B;
    }

    public override IReadOnlyList<int> Boundaries(byte[] main) => Hdf5Structure.Boundaries(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        var b = seed.Files[MainFile];
        var (o, what) = Mutations.Any(b, r, Boundaries(b), [120, 40, 30, 11, 3, 6], Keys);
        return (With(seed, MainFile, o), what);
    }

    public override string Read(string path, string seedName) => Describe(DatasetIO.Load(path));
}

/// <summary>Minari datasets through <see cref="DatasetIO.Load"/> on their main_data.hdf5 (and metadata.json).
/// </summary>
public sealed class MinariFormat : FuzzFormat
{
    public override string Name => "minari-hdf5";
    public override string MainFile => "data/main_data.hdf5";
    const string Json = "data/metadata.json";
    static readonly string[] Keys =
    [
        "episode_0", "episode_1", "episode_2", "episode_3", "observations", "terminations", "truncations",
        "actions", "rewards", "infos", "total_episodes", "total_steps", "env_spec", "dataset_id",
    ];

    public override void MakeSeeds(string dir, string repo)
    {
        foreach (var name in new[] { "tiny-v0", "tiny-attrs-v0" })
        {
            var from = Path.Combine(repo, "tests", "fixtures", "minari", "mujoco", "hopper", name, "data");
            foreach (var f in Directory.GetFiles(from))
                Save(dir, "h5py-" + name, "data/" + Path.GetFileName(f), File.ReadAllBytes(f));
        }
        SaveWith(dir, "ours", "x", p => Minari.Save(Path.GetDirectoryName(p)!, Dataset(60, 3),
            new MinariWriteInfo("o2o/hopper/fuzz-v0", "Hopper-v4", RefMinScore: -20, RefMaxScore: 3000)));
    }

    public override IReadOnlyList<int> Boundaries(byte[] main) => Hdf5Structure.Boundaries(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        if (seed.Files.TryGetValue(Json, out var json) && r.Next(7) == 0)
        {
            var (t, w) = TextMutations.Mutate(json, r, Keys);
            return (With(seed, Json, t), "metadata.json: " + w);
        }
        var b = seed.Files[MainFile];
        var (o, what) = Mutations.Any(b, r, Boundaries(b), [5, 4, 3, 2, 11, 60], Keys);
        return (With(seed, MainFile, o), what);
    }

    public override string Read(string path, string seedName) => Describe(DatasetIO.Load(path));
}

/// <summary>NPZ datasets through <see cref="DatasetIO.Load"/> (zip, CRC-32, the .npy reader, the dataset checks).
/// </summary>
public sealed class NpzFormat : FuzzFormat
{
    public override string Name => "npz";
    public override string MainFile => "data.npz";
    static readonly string[] Keys =
        ["states", "actions", "rewards", "terminals", "timeouts", "next_states", "observations", "steps"];

    public override void MakeSeeds(string dir, string repo)
    {
        var ds = Dataset(80, 4);
        SaveWith(dir, "ours-compressed", MainFile, p => DatasetIO.SaveNpz(p, ds));
        SaveWith(dir, "ours-stored", MainFile, p => DatasetIO.SaveNpz(p, ds, compress: false));
        foreach (var f in new[] { "tiny_numpy_compressed.npz", "tiny_numpy_stored.npz", "pickled_object.npz" })
            Save(dir, "numpy-" + Path.GetFileNameWithoutExtension(f), MainFile, File.ReadAllBytes(Fixture(repo, f)));
    }

    public override IReadOnlyList<int> Boundaries(byte[] main) => Zips.Boundaries(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        var b = seed.Files[MainFile];
        var pick = r.Next(10);
        if (pick < 4)
        {
            var (o, w) = Mutations.Any(b, r, Boundaries(b), Zips.Fields(b), Keys);
            return (With(seed, MainFile, o), w);
        }
        var items = Zips.Read(b);
        if (pick < 5)
        {
            var (z, w) = Zips.MutateEntries(items, r);
            return (With(seed, MainFile, z), w);
        }
        // Inside one entry, re-zipped with its true CRC so that the damage reaches the .npy reader.
        var i = r.Next(items.Count);
        var (npy, what) = NpyFormat.MutateArray(items[i].Data, r);
        items[i] = items[i] with { Data = npy };
        return (With(seed, MainFile, Zips.Write(items)), $"entry {items[i].Name}: {what}");
    }

    public override string Read(string path, string seedName) => Describe(DatasetIO.Load(path));
}

/// <summary>Single .npy arrays through <see cref="Npy.Read"/> and the element conversions.</summary>
public sealed class NpyFormat : FuzzFormat
{
    public override string Name => "npy";
    public override string MainFile => "a.npy";

    public override void MakeSeeds(string dir, string repo)
    {
        var k = 0;
        foreach (var npz in new[] { "tiny_numpy_stored.npz", "tiny_numpy_compressed.npz" })
            foreach (var e in Zips.Read(File.ReadAllBytes(Fixture(repo, npz))))
                Save(dir, $"numpy-{k++:00}-{Path.GetFileNameWithoutExtension(e.Name)}", MainFile, e.Data);
        void Array(string name, NpyArray a, int version = 1, string? descr = null)
        {
            var ms = new MemoryStream();
            Npy.Write(ms, a);
            var bytes = ms.ToArray();
            if (descr is not null || version != 1) bytes = Rewrite(bytes, descr, version);
            Save(dir, "ours-" + name, MainFile, bytes);
        }
        Array("f4", NpyArray.FromFloat32(Enumerable.Range(0, 60).Select(i => i * 0.5f).ToArray(), 20, 3));
        Array("f8-v2", NpyArray.FromFloat64(Enumerable.Range(0, 12).Select(i => i * 0.25).ToArray(), 4, 3), 2);
        Array("i8-v3", NpyArray.FromInt64([1, 2, 3, 4, 5, 6], 6), 3);
        Array("b1", NpyArray.FromBool([true, false, true, true], 4));
        Array("u1-3d", NpyArray.FromUInt8([1, 2, 3, 4, 5, 6, 7, 8], 2, 2, 2));
        Array("big-endian", NpyArray.FromFloat32([1, 2, 3, 4], 2, 2), descr: ">f4");
        Array("empty", NpyArray.FromFloat32([], 0, 3));
    }

    /// <summary>An .npy with its header dict's descr replaced and its format version changed.</summary>
    static byte[] Rewrite(byte[] npy, string? descr, int version)
    {
        var (dict, data) = Split(npy);
        if (descr is not null)
            dict = System.Text.RegularExpressions.Regex.Replace(dict, "'descr': '[^']*'", $"'descr': '{descr}'");
        if (descr == ">f4")
            for (var i = 0; i + 4 <= data.Length; i += 4) System.Array.Reverse(data, i, 4);
        return Join(dict, data, version);
    }

    static (string Dict, byte[] Data) Split(byte[] npy)
    {
        if (npy.Length < 10) return ("", npy);
        var v = npy[6];
        var lenBytes = v == 1 ? 2 : 4;
        var pre = 8 + lenBytes;
        if (npy.Length < pre) return ("", npy);
        var len = v == 1 ? BitConverter.ToUInt16(npy, 8) : (int)Math.Min(BitConverter.ToUInt32(npy, 8), int.MaxValue);
        if (pre + len > npy.Length) return ("", npy);
        return (Encoding.Latin1.GetString(npy, pre, len).TrimEnd(), npy[(pre + len)..]);
    }

    static byte[] Join(string dict, byte[] data, int version)
    {
        var pre = version == 1 ? 10 : 12;
        var total = (pre + dict.Length + 1 + 63) / 64 * 64;
        var header = dict + new string(' ', Math.Max(0, total - pre - dict.Length - 1)) + "\n";
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0]);
        if (version == 1) ms.Write(BitConverter.GetBytes((ushort)header.Length));
        else ms.Write(BitConverter.GetBytes((uint)header.Length));
        ms.Write(Encoding.Latin1.GetBytes(header));
        ms.Write(data);
        return ms.ToArray();
    }

    static readonly string[] Shapes =
    [
        "(1000000000000, 11)", "(1000000000000,)", "(0, 11)", "(-1, 3)", "(2147483647, 2147483647)", "()", "(5,)",
        "(3, 3, 3, 3, 3, 3, 3, 3)", "(1e3, 2)", "(2, 3,)", "(2 3)", "(", "(18446744073709551615,)", "(4294967296, 1)",
        "(65536, 65536)", "(1L, 2L)",
    ];

    static readonly string[] Descrs =
    [
        "<f8", ">f4", "|b1", "<i8", "|O", "<U5", "<c8", "<f2", "|V4", "<M8[ns]", "", "<f4", "|u1", "=f4", ">i2", "S3",
    ];

    /// <summary>
    /// Mutations of one .npy: its header's shape inflated or emptied, dtype changed, order flipped, keys duplicated
    /// or dropped, its length field and version changed, its data cut or extended; else byte-level damage.
    /// </summary>
    public static (byte[], string) MutateArray(byte[] npy, Random r)
    {
        var (dict, data) = Split(npy);
        var version = npy.Length > 6 ? npy[6] : 1;
        if (dict.Length == 0 || r.Next(4) == 0)
            return Mutations.Any(npy, r, Bounds(npy), [(ulong)data.Length, 11, 3], ["descr", "shape"]);
        string Sub(string pattern, string with) =>
            System.Text.RegularExpressions.Regex.Replace(dict, pattern, with.Replace("$", "$$"));
        switch (r.Next(9))
        {
            case 0:
            {
                var s = Shapes[r.Next(Shapes.Length)];
                return (Join(Sub(@"'shape': \([^)]*\)", $"'shape': {s}"), data, version), $"shape {s}");
            }
            case 1:
            {
                var d = Descrs[r.Next(Descrs.Length)];
                return (Join(Sub("'descr': '[^']*'", $"'descr': '{d}'"), data, version), $"descr {d}");
            }
            case 2:
                return (Join(Sub("False", "True").Replace("'fortran_order': True", r.Next(2) == 0
                    ? "'fortran_order': True" : "'fortran_order': False"), data, version), "fortran_order flipped");
            case 3:
            {
                var dup = r.Next(2) == 0 ? "'descr': '<f8', " : "'shape': (1000000000000, 11), ";
                return (Join(dict.Insert(1, dup), data, version), $"duplicate key {dup.Trim(' ', ',')}");
            }
            case 4:
            {
                var key = new[] { "'descr'", "'shape'", "'fortran_order'" }[r.Next(3)];
                return (Join(dict.Replace(key, "'other'"), data, version), $"drop {key}");
            }
            case 5:
            {
                var o = (byte[])npy.Clone();
                var huge = Mutations.Huge[r.Next(Mutations.Huge.Length)];
                if (version == 1) BitConverter.GetBytes((ushort)huge).CopyTo(o, 8);
                else if (o.Length >= 12) BitConverter.GetBytes((uint)Math.Min(huge, uint.MaxValue)).CopyTo(o, 8);
                return (o, $"header length -> {huge}");
            }
            case 6:
            {
                var v = new[] { 1, 2, 3, 0, 4, 255 }[r.Next(6)];
                var o = (byte[])npy.Clone();
                o[6] = (byte)v;
                return (o, $"version byte -> {v}");
            }
            case 7:
            {
                var cut = data.Length == 0 ? 0 : r.Next(data.Length);
                return r.Next(2) == 0
                    ? (Join(dict, data[..cut], version), $"data cut to {cut} of {data.Length}")
                    : (Join(dict, [.. data, .. new byte[1 + r.Next(64)]], version), "data extended");
            }
            default:
                return (Join(dict + "x" + new string(' ', r.Next(70000)), data, version), "long header");
        }
    }

    static List<int> Bounds(byte[] npy)
    {
        var list = new List<int> { 0, 6, 7, 8, 10, 12 };
        var nl = Array.IndexOf(npy, (byte)'\n');
        if (nl > 0) list.AddRange([nl, nl + 1, nl + 2, nl + 5, (nl + npy.Length) / 2]);
        list.Add(npy.Length - 1);
        return list;
    }

    public override IReadOnlyList<int> Boundaries(byte[] main) => Bounds(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        var (o, w) = MutateArray(seed.Files[MainFile], r);
        return (With(seed, MainFile, o), w);
    }

    public override string Read(string path, string seedName)
    {
        using var fs = File.OpenRead(path);
        var a = Npy.Read(fs, $"'{path}'");
        var n = a.DType is "|b1" ? a.ToBool("array").Length : a.ToFloat64().Length;
        return $"{a.DType} ({string.Join(", ", a.Shape)}), {n} values";
    }
}

/// <summary>
/// `.pt` checkpoints: actors (<see cref="ActorBundle.Load"/>), a DSR (<see cref="SupportModel.Load"/>) and state
/// dicts of several dtypes, ours and PyTorch's own (<see cref="StateDictFile.Load"/>): the zip, PickleGuard's scan,
/// the unpickler and the metadata checks.
/// </summary>
public sealed class PtFormat : FuzzFormat
{
    public override string Name => "pt";
    public override string MainFile => "model.pt";

    public override void MakeSeeds(string dir, string repo)
    {
        O2O.Learning.Runtime.TorchRuntime.EnsureLoaded();
        random.manual_seed(1);
        SaveWith(dir, "actor", MainFile, p =>
        {
            using var a = new ActorBundle("Hopper-v4", new GaussianActor(11, 3, [8]), new RunningNorm(11), "fuzz");
            a.Save(p);
        });
        SaveWith(dir, "state-dict", MainFile, p =>
        {
            using var f = tensor(new[] { 1.5f, 2.5f, 3.5f, 4.5f }).reshape(2, 2);
            using var d = tensor(new[] { 1.0, 2.0, 3.0 });
            using var l = tensor(new long[] { 7, 8, 9 });
            using var b = tensor(new[] { true, false });
            using var u = tensor(new byte[] { 1, 2, 3 });
            StateDictFile.Save(p, new Dictionary<string, Tensor> { ["w"] = f, ["d"] = d, ["l"] = l, ["b"] = b,
                ["u"] = u }, new System.Text.Json.Nodes.JsonObject { ["format"] = "o2o.fuzz" });
        });
        SaveWith(dir, "dsr", MainFile, p =>
        {
            var ds = Dataset(1200, 5);
            var options = new DsrOptions { Epochs = 1, BatchSize = 64, Hidden = 8, CouplingLayers = 2 };
            using var m = DsrTrainer.Train(options, ds.Observations, ds.Actions, ds.ObsDim, ds.ActDim,
                ds.EpisodeStarts(), "Hopper-v4", rewards: ds.Rewards);
            m.Save(p);
        });
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "dsr"), "*.json")) File.Delete(f);
        var torchMade = Fixture(repo, "torch_state_dict.pt");
        if (File.Exists(torchMade)) Save(dir, "torch", MainFile, File.ReadAllBytes(torchMade));
    }

    public override IReadOnlyList<int> Boundaries(byte[] main) => Zips.Boundaries(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        var b = seed.Files[MainFile];
        var pick = r.Next(10);
        if (pick < 3)
        {
            var (o, w) = Mutations.Any(b, r, Boundaries(b), Zips.Fields(b), ["data.pkl", "version", "byteorder"]);
            return (With(seed, MainFile, o), w);
        }
        var items = Zips.Read(b);
        if (pick < 4)
        {
            var (z, w) = Zips.MutateEntries(items, r);
            return (With(seed, MainFile, z), w);
        }
        var pkl = items.FindIndex(e => e.Name.EndsWith(".pkl", StringComparison.Ordinal));
        var i = pick < 8 && pkl >= 0 ? pkl : r.Next(items.Count);
        var (data, what) = i == pkl ? Pickles.Mutate(items[i].Data, r) : Mutations.Any(items[i].Data, r,
            [0, items[i].Data.Length / 2, Math.Max(0, items[i].Data.Length - 1)], [], []);
        items[i] = items[i] with { Data = data };
        return (With(seed, MainFile, Zips.Write(items)), $"entry {items[i].Name}: {what}");
    }

    public override string Read(string path, string seedName)
    {
        switch (seedName)
        {
            case "actor":
            {
                using var a = ActorBundle.Load(path);
                return $"actor {a.EnvId} obs {a.Actor.ObsDim} act {a.Actor.ActDim}";
            }
            case "dsr":
            {
                using var m = SupportModel.Load(path);
                return "DSR";
            }
            default:
            {
                var (tensors, meta) = StateDictFile.Load(path, "checkpoint");
                var n = tensors.Count;
                foreach (var t in tensors.Values) t.Dispose();
                return $"{n} tensors, meta {(meta is null ? "none" : "present")}";
            }
        }
    }
}

/// <summary>train-online CSV logs as `o2o compare` reads them (<see cref="Comparison.Summarise"/>).</summary>
public sealed class CsvFormat : FuzzFormat
{
    public override string Name => "csv";
    public override string MainFile => "run.csv";
    static readonly string[] Keys = ["env_steps", "eval/normalized", "dsr/oos_frac", "epoch", "wall_s"];

    public override void MakeSeeds(string dir, string repo)
    {
        void Log(string name, string[] columns, int rows, int evalEvery, int seed)
        {
            var r = new Random(seed);
            SaveWith(dir, name, MainFile, p =>
            {
                using var log = CsvLog.Create(p, columns);
                for (var e = 1; e <= rows; e++)
                {
                    var row = new Dictionary<string, double>
                    {
                        ["epoch"] = e, ["env_steps"] = e * 2048, ["wall_s"] = e * 0.7 + r.NextDouble(),
                        ["time/fps"] = 3000 + r.NextDouble() * 100, ["losses/policy"] = r.NextDouble() - 0.5,
                        ["dsr/oos_frac"] = r.NextDouble(),
                    };
                    if (e % evalEvery == 0 || e == rows)
                    {
                        row["eval/return_mean"] = 200 + e * 10 * r.NextDouble();
                        row["eval/normalized"] = 7 + e * r.NextDouble();
                    }
                    log.Write(row);
                }
            });
        }
        string[] ppo = RunHarnessColumns(["losses/policy"], ["dsr/oos_frac"]);
        Log("ppo-dsr", ppo, 10, 1, 1);
        Log("ppo-sparse-eval", ppo, 12, 4, 2);
        Log("sac", RunHarnessColumns(["losses/policy", "losses/q"], []), 6, 2, 3);
    }

    static string[] RunHarnessColumns(string[] metrics, string[] extra) =>
        O2O.Learning.Training.RunHarness.Columns(["time/env_s"], metrics, extra);

    public override IReadOnlyList<int> Boundaries(byte[] main) => TextMutations.Boundaries(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        var (o, w) = TextMutations.Mutate(seed.Files[MainFile], r, Keys);
        return (With(seed, MainFile, o), w);
    }

    public override string Read(string path, string seedName)
    {
        var rows = Comparison.Summarise([new VariantRuns("v", [path])], "eval/normalized", null, null);
        var md = Comparison.Markdown(rows, "eval/normalized");
        return $"{rows[0].Seeds} run, final {rows[0].Final.ToString("F1", CultureInfo.InvariantCulture)}, "
            + $"{md.Length} chars of markdown";
    }
}

/// <summary>Sweep specs through <see cref="SweepSpec.Parse"/> and <see cref="SweepPlan.Expand"/> (as --dry_run).
/// </summary>
public sealed class SweepFormat : FuzzFormat
{
    public override string Name => "sweep-spec";
    public override string MainFile => "spec.yaml";
    static readonly string[] Keys =
    [
        "name", "tasks", "seeds", "arms", "axes", "vars", "threads", "stages", "slurm", "compare", "per", "needs",
        "command", "resume", "result", "args", "metric", "baseline", "variants",
    ];

    public override void MakeSeeds(string dir, string repo)
    {
        foreach (var f in Directory.GetFiles(Path.Combine(repo, "experiments"), "*.yaml").Order())
            Save(dir, Path.GetFileNameWithoutExtension(f), MainFile, File.ReadAllBytes(f));
    }

    public override IReadOnlyList<int> Boundaries(byte[] main) => TextMutations.Boundaries(main);

    public override (Dictionary<string, byte[]>, string) Mutate(FuzzSeed seed, Random r)
    {
        var (o, w) = TextMutations.Mutate(seed.Files[MainFile], r, Keys);
        return (With(seed, MainFile, o), w);
    }

    public override string Read(string path, string seedName)
    {
        var spec = SweepSpec.Load(path);
        var plan = SweepPlan.Expand(spec, Path.Combine(Path.GetDirectoryName(path)!, "out"));
        return $"{plan.Jobs.Count} jobs";
    }
}
