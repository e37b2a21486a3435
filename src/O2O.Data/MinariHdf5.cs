using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using O2O.Core;
using PureHDF;

namespace O2O.Data;

/// <summary>
/// Minari's HDF5 layout (docs/data.md, "Minari"): one group <c>episode_N</c> per episode holding
/// <c>observations</c> (steps + 1 rows: the final observation too), <c>actions</c>, <c>rewards</c>,
/// <c>terminations</c>, <c>truncations</c> and optionally <c>infos</c> (nested groups, not read). Dataset metadata
/// comes from the root attributes (Minari 0.4) and from <c>metadata.json</c> beside the file (Minari 0.5 and later),
/// the latter winning. Read with PureHDF and flattened into one <see cref="OfflineDataset"/> whose next
/// observations come from the episodes' own rows.
/// </summary>
internal static partial class MinariHdf5
{
    /// <summary>The data file's name inside a Minari dataset's <c>data/</c> folder.</summary>
    internal const string MainFile = "main_data.hdf5";
    /// <summary>The metadata file beside it (Minari 0.5 and later).</summary>
    internal const string MetadataFile = "metadata.json";

    static readonly string[] Required = ["observations", "actions", "rewards", "terminations", "truncations"];

    /// <summary>True when the HDF5 file at <paramref name="path"/> has episode_N groups and no D4RL keys.</summary>
    internal static bool IsMinariFile(string path)
    {
        try
        {
            Hdf5Guard.Check(path, $"'{path}'");
            using var f = H5File.OpenRead(path);
            if (f.LinkExists("observations")) return false;
            return f.Children().Any(c => c is IH5Group && EpisodeIndex(c.Name) >= 0);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;  // D4rlHdf5.Read reports what is wrong with the file
        }
    }

    /// <summary>N of a group called episode_N, else -1.</summary>
    static int EpisodeIndex(string name) =>
        name.StartsWith("episode_", StringComparison.Ordinal)
        && int.TryParse(name.AsSpan(8), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;

    /// <summary>Dataset metadata: the root attributes, then metadata.json beside the file (which wins).</summary>
    internal static Dictionary<string, string> ReadMetadata(string path)
    {
        var meta = new Dictionary<string, string>();
        try
        {
            Hdf5Guard.Check(path, $"'{path}'");
            using var f = H5File.OpenRead(path);
            foreach (var a in f.Attributes())
                if (AttributeText(a) is { } v) meta[a.Name] = v;
        }
        catch (Exception e) when (e is not OutOfMemoryException and not UserError)
        {
            throw new UserError($"cannot read HDF5 file '{path}' ({e.GetType().Name}: {e.Message.TrimEnd('.')}); " +
                "the file may be truncated or corrupt — download or write it again", e);
        }
        var json = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, MetadataFile);
        if (File.Exists(json))
        {
            JsonObject? obj;
            try
            {
                obj = JsonNode.Parse(Sanitize(File.ReadAllText(json))) as JsonObject;
                _ = obj?.Count;  // builds its dictionary now: a duplicated key throws here, not later
            }
            catch (Exception e) when (e is JsonException or ArgumentException)
            {
                throw new UserError($"'{json}' is not valid JSON ({e.Message.Split('\n')[0].TrimEnd('.')}); " +
                    "download the dataset again");
            }
            if (obj is null) throw new UserError($"'{json}' is not a JSON object; download the dataset again");
            foreach (var (k, v) in obj)
                if (v is JsonValue jv) meta[k] = jv.TryGetValue<string>(out var s) ? s : jv.ToJsonString();
        }
        if (meta.TryGetValue("env_spec", out var spec) && EnvSpecId(spec) is { } id) meta["env_id"] = id;
        return meta;
    }

    /// <summary>The "id" of an env spec's JSON, or null.</summary>
    internal static string? EnvSpecId(string specJson) =>
        ParseObject(specJson)?["id"] is JsonValue v && v.TryGetValue<string>(out var id) ? id : null;

    /// <summary>A JSON object from Python's json.dumps (Infinity and NaN as bare words), or null.</summary>
    internal static JsonObject? ParseObject(string json)
    {
        try
        {
            var obj = JsonNode.Parse(Sanitize(json)) as JsonObject;
            _ = obj?.Count;  // a duplicated key throws when the dictionary is built: now
            return obj;
        }
        catch (Exception e) when (e is JsonException or ArgumentException) { return null; }
    }

    /// <summary>Python's bare Infinity, -Infinity and NaN (outside strings) → null, for System.Text.Json.</summary>
    static string Sanitize(string json) => PythonNonFinite().Replace(json, m => m.Groups[1].Success ? m.Value : "null");

    [GeneratedRegex("(\"(?:[^\"\\\\]|\\\\.)*\")|-?Infinity|NaN")]
    private static partial Regex PythonNonFinite();

    static string? AttributeText(IH5Attribute a)
    {
        try
        {
            var t = a.Type;
            var dims = a.Space.Dimensions;
            if (dims.Length > 1 || (dims.Length == 1 && dims[0] != 1)) return null;
            return t.Class switch
            {
                H5DataTypeClass.String or H5DataTypeClass.VariableLength =>
                    dims.Length == 0 ? a.Read<string>() : a.Read<string[]>()[0],
                H5DataTypeClass.FloatingPoint =>
                    (t.Size == 8 ? a.Read<double[]>()[0] : a.Read<float[]>()[0])
                        .ToString("R", CultureInfo.InvariantCulture),
                H5DataTypeClass.FixedPoint when t.Size == 8 && t.FixedPoint.IsSigned =>
                    a.Read<long[]>()[0].ToString(CultureInfo.InvariantCulture),
                H5DataTypeClass.FixedPoint when t.Size == 4 && t.FixedPoint.IsSigned =>
                    a.Read<int[]>()[0].ToString(CultureInfo.InvariantCulture),
                H5DataTypeClass.Enumerated or H5DataTypeClass.FixedPoint when t.Size == 1 =>
                    a.Read<byte[]>()[0] != 0 ? "True" : "False",
                _ => null,
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;  // an attribute of an exotic type must not make the dataset unreadable
        }
    }

    /// <summary>
    /// Read and flatten a Minari main_data.hdf5 (<paramref name="path"/>): rows are every episode's steps in episode
    /// order, next observations are the following row of the same episode (the final one for the last step),
    /// terminals = terminations and timeouts = truncations. An episode other than the last that ends with neither
    /// flag (a cut the file does not mark) gets a timeout there, so episode boundaries survive; the metadata
    /// records how many (<c>o2o/cut_episodes</c>).
    /// </summary>
    internal static OfflineDataset Read(string path) => D4rlHdf5.Bounded(path, () => ReadFile(path));

    static OfflineDataset ReadFile(string path)
    {
        var src = $"'{path}'";
        var meta = ReadMetadata(path);
        meta["format"] = "minari";
        CheckSpace(meta, "observation_space", src);
        CheckSpace(meta, "action_space", src);
        try
        {
            using var f = H5File.OpenRead(path);
            var episodes = f.Children().OfType<IH5Group>()
                .Select(g => (Index: EpisodeIndex(g.Name), Group: g)).Where(e => e.Index >= 0)
                .OrderBy(e => e.Index).ToList();
            if (episodes.Count == 0)
                throw new UserError($"{src} has no episode_N groups (it has: "
                    + $"{string.Join(", ", f.Children().Select(c => Printable.Of(c.Name, 40)))}); "
                    + "it is not a Minari dataset");
            if (meta.TryGetValue("total_episodes", out var te) && long.TryParse(te, CultureInfo.InvariantCulture,
                out var total) && total != episodes.Count)
                throw new UserError($"{src} has {episodes.Count} episode groups but its metadata says " +
                    $"total_episodes = {total}; the download may be incomplete — download the dataset again");
            var parts = new List<Episode>(episodes.Count);
            foreach (var (_, g) in episodes) parts.Add(ReadEpisode(g, src));
            var first = parts[0];
            foreach (var p in parts)
                if (p.ObsDim != first.ObsDim || p.ActDim != first.ActDim)
                    throw new UserError($"{src}: {p.Name} has obs dim {p.ObsDim} and action dim {p.ActDim} but " +
                        $"{first.Name} has {first.ObsDim} and {first.ActDim}; every episode must have the same dims");
            return Flatten(parts, meta, src);
        }
        catch (UserError) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new UserError($"cannot read Minari file '{path}' ({e.GetType().Name}: {e.Message.TrimEnd('.')}); " +
                "the file may be truncated or corrupt — download the dataset again", e);
        }
    }

    /// <summary>Dict, Tuple and other non-Box spaces are refused with one line.</summary>
    static void CheckSpace(Dictionary<string, string> meta, string key, string src)
    {
        if (!meta.TryGetValue(key, out var json)) return;
        var type = ParseObject(json)?["type"] is JsonValue t && t.TryGetValue<string>(out var name) ? name : null;
        if (type is null or "Box") return;
        throw new UserError($"{src}: the {key.Replace('_', ' ')} is a {type} space; O2O reads Box (flat vector) " +
            $"{(key.StartsWith("obs", StringComparison.Ordinal) ? "observations" : "actions")} only — " +
            $"{type} spaces are not supported");
    }

    sealed record Episode(string Name, int Steps, int ObsDim, int ActDim, float[] Obs, float[] Act, float[] Rew,
        bool[] Term, bool[] Trunc);

    static Episode ReadEpisode(IH5Group g, string src)
    {
        var name = g.Name;
        foreach (var key in Required)
            if (!g.LinkExists(key))
                throw new UserError($"{src}: {name} has no '{key}' (it has: "
                    + $"{string.Join(", ", g.Children().Select(c => Printable.Of(c.Name, 40)))}); a Minari episode "
                    + $"needs {string.Join(", ", Required)} — download the dataset again");
        if (g.Get("observations") is IH5Group)
            throw new UserError($"{src}: {name}/observations is a group (a Dict or Tuple observation space); " +
                "O2O reads Box (flat vector) observations only — Dict observation spaces are not supported");
        if (g.Get("actions") is IH5Group)
            throw new UserError($"{src}: {name}/actions is a group (a Dict or Tuple action space); " +
                "O2O reads Box (flat vector) actions only — Dict action spaces are not supported");
        var where = $"{src} {name}";
        var (obs, nObs, obsDim) = D4rlHdf5.ReadFloat32(g, "observations", where, rank2: true);
        var (act, steps, actDim) = D4rlHdf5.ReadFloat32(g, "actions", where, rank2: true);
        if (nObs != steps + 1)
            throw new UserError($"{where}: 'observations' has {nObs} rows and 'actions' {steps}; Minari stores one " +
                "more observation than actions (the final one) — download the dataset again");
        var (rew, nr, w) = D4rlHdf5.ReadFloat32(g, "rewards", where, rank2: false);
        if (w != 1) throw new UserError($"{where}: 'rewards' has {w} columns, expected one reward per step");
        if (nr != steps)
            throw new UserError(
                $"{where}: 'rewards' has {nr} rows but 'actions' has {steps}; download the dataset again");
        var term = D4rlHdf5.ReadFlags(g, "terminations", where, steps, "actions");
        var trunc = D4rlHdf5.ReadFlags(g, "truncations", where, steps, "actions");
        return new Episode(name, steps, obsDim, actDim, obs, act, rew, term, trunc);
    }

    static OfflineDataset Flatten(List<Episode> parts, Dictionary<string, string> meta, string src)
    {
        var d = parts[0].ObsDim;
        var a = parts[0].ActDim;
        var n = parts.Sum(p => (long)p.Steps);
        if (n > int.MaxValue / Math.Max(d, a))
            throw new UserError($"{src} has {n} steps, more than O2O holds in memory at once; use a smaller dataset");
        var rows = (int)n;
        var obs = new float[(long)rows * d];
        var next = new float[(long)rows * d];
        var act = new float[(long)rows * a];
        var rew = new float[rows];
        var term = new bool[rows];
        var tout = new bool[rows];
        var at = 0;
        var cut = 0;
        for (var e = 0; e < parts.Count; e++)
        {
            var p = parts[e];
            if (p.Steps == 0) continue;
            Array.Copy(p.Obs, 0, obs, (long)at * d, (long)p.Steps * d);
            Array.Copy(p.Obs, d, next, (long)at * d, (long)p.Steps * d);
            Array.Copy(p.Act, 0, act, (long)at * a, (long)p.Steps * a);
            Array.Copy(p.Rew, 0, rew, at, p.Steps);
            Array.Copy(p.Term, 0, term, at, p.Steps);
            Array.Copy(p.Trunc, 0, tout, at, p.Steps);
            at += p.Steps;
            if (e < parts.Count - 1 && !term[at - 1] && !tout[at - 1]) { tout[at - 1] = true; cut++; }
        }
        if (cut > 0) meta["o2o/cut_episodes"] = cut.ToString(CultureInfo.InvariantCulture);
        return new OfflineDataset(rows, d, a, obs, act, rew, next, term, tout, metadata: meta, source: src);
    }

    /// <summary>
    /// Write <paramref name="ds"/> in Minari's layout: <c>{folder}/data/main_data.hdf5</c> (episode groups, the
    /// metadata also as root attributes, as Minari 0.4 kept it) and <c>{folder}/data/metadata.json</c> (as Minari 0.5
    /// and later keep it). Episodes are cut at terminals and timeouts; each stores its final observation (the last
    /// step's next observation), so the data needs next observations that agree with the following row inside an
    /// episode. Each file is written atomically.
    /// </summary>
    internal static void Write(string folder, OfflineDataset ds, MinariWriteInfo info)
    {
        var src = ds.Metadata.TryGetValue("dataset_id", out var sid) ? $"'{sid}'" : "the dataset";
        var next = ds.NextObservations ?? throw new UserError($"{src} has no next observations; Minari's layout " +
            "stores each episode's final observation - collect the data here or convert a file with next_observations");
        var d = ds.ObsDim;
        var starts = ds.EpisodeStarts();
        var root = new H5File();
        var episodes = 0;
        for (var e = 0; e < starts.Length; e++)
        {
            var s = starts[e];
            var end = e + 1 < starts.Length ? starts[e + 1] : ds.Count;
            var steps = end - s;
            for (var i = s; i < end - 1; i++)
                if (!next.AsSpan(i * d, d).SequenceEqual(ds.Observations.AsSpan((i + 1) * d, d)))
                    throw new UserError($"{src}: the next observation of row {i} differs from row {i + 1} of the " +
                        "same episode; Minari's layout cannot store that — write it as D4RL HDF5 instead");
            var obs = new float[(long)(steps + 1) * d];
            Array.Copy(ds.Observations, (long)s * d, obs, 0, (long)steps * d);
            Array.Copy(next, (long)(end - 1) * d, obs, (long)steps * d, d);
            var g = new H5Group
            {
                ["observations"] = new H5Dataset<float[]>(obs, fileDims: [(ulong)(steps + 1), (ulong)d]),
                ["actions"] = new H5Dataset<float[]>(ds.Actions[(s * ds.ActDim)..(end * ds.ActDim)],
                    fileDims: [(ulong)steps, (ulong)ds.ActDim]),
                ["rewards"] = (ds.Rewards ?? new float[ds.Count])[s..end],
                ["terminations"] = Flags(ds.Terminals, s, end),
                ["truncations"] = Flags(ds.Timeouts, s, end),
            };
            g.Attributes["id"] = (long)e;
            g.Attributes["total_steps"] = (long)steps;
            root[$"episode_{e}"] = g;
            episodes++;
        }
        var meta = MetadataOf(ds, info, episodes);
        foreach (var (k, v) in meta)
            if (v is not null) root.Attributes[k] = v is JsonValue jv && jv.TryGetValue<string>(out var str)
                ? str : v.ToJsonString();
        foreach (var k in new[] { "total_episodes", "total_steps" }) root.Attributes[k] = meta[k]!.GetValue<long>();
        foreach (var k in new[] { "ref_min_score", "ref_max_score" })
            if (meta[k] is JsonValue jv && jv.TryGetValue<double>(out var x)) root.Attributes[k] = x;
        var dataDir = Path.Combine(folder, "data");
        var h5 = Path.Combine(dataDir, MainFile);
        AtomicFile.EnsureWritableFolder(h5, "output");
        AtomicFile.Write(h5, tmp => root.Write(tmp));
        AtomicFile.WriteText(Path.Combine(dataDir, MetadataFile),
            meta.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    static D4rlHdf5.H5Bool[] Flags(bool[]? flags, int s, int end)
    {
        var r = new D4rlHdf5.H5Bool[end - s];
        if (flags is not null)
            for (var i = s; i < end; i++) r[i - s] = flags[i] ? D4rlHdf5.H5Bool.TRUE : D4rlHdf5.H5Bool.FALSE;
        return r;
    }

    static JsonObject MetadataOf(OfflineDataset ds, MinariWriteInfo info, int episodes)
    {
        static string Box(int dim, double low, double high)
        {
            string Bound(double v) => double.IsInfinity(v) ? (v < 0 ? "-Infinity" : "Infinity")
                : v.ToString("R", CultureInfo.InvariantCulture);
            var lows = string.Join(", ", Enumerable.Repeat(Bound(low), dim));
            var highs = string.Join(", ", Enumerable.Repeat(Bound(high), dim));
            return $"{{\"type\": \"Box\", \"dtype\": \"float32\", \"shape\": [{dim}], \"low\": [{lows}], " +
                $"\"high\": [{highs}]}}";
        }
        var spec = info.EnvSpecJson ?? new JsonObject
        {
            ["id"] = info.EnvId, ["max_episode_steps"] = 1000, ["kwargs"] = new JsonObject(),
        }.ToJsonString();
        var m = new JsonObject();
        // Our own metadata first (generated_by, policy, seed…), then Minari's keys, which win.
        foreach (var (k, v) in ds.Metadata.OrderBy(k => k.Key, StringComparer.Ordinal))
            if (k is not ("format" or "env_id" or "o2o/cut_episodes")) m[k] = v;
        m["dataset_id"] = info.DatasetId;
        m["env_spec"] = spec;
        m["data_format"] = "hdf5";
        m["total_episodes"] = (long)episodes;
        m["total_steps"] = (long)ds.Count;
        m["observation_space"] = Box(ds.ObsDim, double.NegativeInfinity, double.PositiveInfinity);
        m["action_space"] = Box(ds.ActDim, -1, 1);
        m["ref_min_score"] = info.RefMinScore is double lo ? JsonValue.Create(lo) : null;
        m["ref_max_score"] = info.RefMaxScore is double hi ? JsonValue.Create(hi) : null;
        return m;
    }
}

/// <summary>What a Minari-layout dataset written here says about itself.</summary>
/// <param name="DatasetId">Minari id, e.g. "o2o/hopper/random-v0".</param>
/// <param name="EnvId">The env the data was recorded in (Gymnasium id).</param>
/// <param name="EnvSpecJson">Gymnasium's env spec as JSON; null writes {"id", "max_episode_steps": 1000,
/// "kwargs": {}}.</param>
/// <param name="RefMinScore">Reference return of a random policy, for normalised scores; null when unknown.</param>
/// <param name="RefMaxScore">Reference return of an expert policy; null when unknown.</param>
public sealed record MinariWriteInfo(
    string DatasetId, string EnvId, string? EnvSpecJson = null, double? RefMinScore = null,
    double? RefMaxScore = null);
