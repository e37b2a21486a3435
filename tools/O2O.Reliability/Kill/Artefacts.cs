using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using O2O.Core;
using O2O.Data;
using O2O.Learning.Checkpoints;
using TorchSharp;

namespace O2O.Reliability.Kill;

/// <summary>
/// What a run leaves, checked after a kill (every file under a final name reads back whole) and compared with an
/// uninterrupted run's (the same content, wall-clock columns, timestamps and the root's path aside).
/// </summary>
public static partial class Artefacts
{
    /// <summary>Files under final names: not a writer's temporary (.tmp-*), not in a checkpoint being swapped
    /// (NAME.ckpt.new, NAME.ckpt.old), not a lock.</summary>
    public static List<string> FinalFiles(string root) =>
    [
        .. Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f))
            .Where(f => !f.Split('/').Any(p => p.StartsWith(".tmp-", StringComparison.Ordinal)
                || p.EndsWith(".new", StringComparison.Ordinal) || p.EndsWith(".old", StringComparison.Ordinal)))
            .Where(f => !f.EndsWith(".lock", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal),
    ];

    /// <summary>Writers' temporaries left in <paramref name="root"/> (by killed processes).</summary>
    public static List<string> Leftovers(string root) =>
    [
        .. Directory.GetFileSystemEntries(root, ".tmp-*", SearchOption.AllDirectories)
            .Concat(Directory.GetDirectories(root, "*.new", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal),
    ];

    /// <summary>Check that a final-named file is whole: it loads as what its name says. Null when it is, else why.
    /// </summary>
    public static string? Validate(string path)
    {
        try
        {
            switch (Path.GetExtension(path))
            {
                case ".hdf5" or ".npz":
                    DatasetIO.Load(path);
                    break;
                case ".pt":
                    var (t, _) = StateDictFile.Load(path, "file");
                    foreach (var x in t.Values) x.Dispose();
                    break;
                case ".csv":
                    return ValidateCsv(path);
                case ".json":
                    JsonNode.Parse(File.ReadAllText(path));
                    break;
                case ".png":
                    var b = File.ReadAllBytes(path);
                    if (b.Length < 20 || b[1] != 'P' || b[2] != 'N' || b[3] != 'G'
                        || Encoding.ASCII.GetString(b, b.Length - 8, 4) != "IEND")
                        return "not a whole PNG";
                    break;
                case ".md":
                    var text = File.ReadAllText(path);
                    if (text.Length == 0 || !text.EndsWith('\n')) return "markdown without its final newline";
                    break;
            }
            return null;
        }
        catch (Exception e) when (e is UserError or System.Text.Json.JsonException or IOException)
        {
            return e.Message;
        }
    }

    static string? ValidateCsv(string path)
    {
        var text = File.ReadAllText(path);
        if (text.Length == 0 || !text.EndsWith('\n')) return "a CSV whose last row is cut";
        var lines = text.TrimEnd('\n').Split('\n');
        var width = lines[0].Split(',').Length;
        for (var i = 1; i < lines.Length; i++)
        {
            var f = lines[i].Split(',');
            if (f.Length != width) return $"row {i} has {f.Length} fields, the header {width}";
            foreach (var v in f)
                if (v.Length > 0 && v != "nan"
                    && !double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                    return $"row {i} holds '{v}'";
        }
        return null;
    }

    /// <summary>
    /// Differences between the same file of two runs (empty when the content is the same): arrays of datasets and
    /// NPZs, every tensor of a .pt and its metadata, every CSV column but wall_s and time/*, JSON and markdown; the
    /// roots' paths, timestamps (created_utc, wall_s) and wall-time rows do not count. PNGs are not compared.
    /// </summary>
    public static List<string> Compare(string refRoot, string root, string rel)
    {
        string A(string r) => Path.Combine(r, rel);
        var diffs = new List<string>();
        switch (Path.GetExtension(rel))
        {
            case ".hdf5":
            {
                var (a, b) = (DatasetIO.Load(A(refRoot)), DatasetIO.Load(A(root)));
                Same(diffs, "observations", a.Observations, b.Observations);
                Same(diffs, "actions", a.Actions, b.Actions);
                Same(diffs, "rewards", a.Rewards, b.Rewards);
                Same(diffs, "next_observations", a.NextObservations, b.NextObservations);
                Same(diffs, "terminals", a.Terminals, b.Terminals);
                Same(diffs, "timeouts", a.Timeouts, b.Timeouts);
                Same(diffs, "infos/qpos", a.InfosQpos, b.InfosQpos);
                Same(diffs, "infos/qvel", a.InfosQvel, b.InfosQvel);
                Same(diffs, "infos/action_log_probs", a.InfosActionLogProbs, b.InfosActionLogProbs);
                foreach (var k in a.Metadata.Keys.Union(b.Metadata.Keys).Where(k => k != "created_utc"))
                    if (Norm(a.Metadata.GetValueOrDefault(k), refRoot) != Norm(b.Metadata.GetValueOrDefault(k), root))
                        diffs.Add($"metadata/{k}");
                break;
            }
            case ".npz":
            {
                var (a, b) = (Npz.Read(A(refRoot)), Npz.Read(A(root)));
                foreach (var k in a.Keys.Union(b.Keys))
                    if (!a.TryGetValue(k, out var x) || !b.TryGetValue(k, out var y) || x.DType != y.DType
                        || !x.Shape.SequenceEqual(y.Shape) || !x.ToFloat64().SequenceEqual(y.ToFloat64()))
                        diffs.Add($"array {k}");
                break;
            }
            case ".pt":
            {
                var (ta, ma) = StateDictFile.Load(A(refRoot), "file");
                var (tb, mb) = StateDictFile.Load(A(root), "file");
                foreach (var k in ta.Keys.Union(tb.Keys))
                    if (!ta.TryGetValue(k, out var x) || !tb.TryGetValue(k, out var y)
                        || !Bytes(x).SequenceEqual(Bytes(y)))
                        diffs.Add($"tensor {k}");
                if (Json(ma, refRoot) != Json(mb, root)) diffs.Add("metadata");
                foreach (var t in ta.Values.Concat(tb.Values)) t.Dispose();
                break;
            }
            case ".csv":
                if (!LearningColumns(A(refRoot)).SequenceEqual(LearningColumns(A(root)))) diffs.Add("learning columns");
                break;
            case ".json":
                if (Json(JsonNode.Parse(File.ReadAllText(A(refRoot))), refRoot)
                    != Json(JsonNode.Parse(File.ReadAllText(A(root))), root))
                    diffs.Add("content");
                break;
            case ".md":
                // What describes this session aside: wall times, where it found the data ("generated here" or
                // "(cached)"), and the threads of the offline phases it trained (absent when they were cached).
                static string Text(string path, string r) => Norm(string.Join('\n', File.ReadAllLines(path)
                    .Where(l => !l.Contains("wall time", StringComparison.Ordinal)
                        && !l.StartsWith("| dataset |", StringComparison.Ordinal)
                        && !l.StartsWith("| libtorch threads", StringComparison.Ordinal))), r)!;
                if (Text(A(refRoot), refRoot) != Text(A(root), root)) diffs.Add("text");
                break;
        }
        return [.. diffs.Select(d => $"{rel}: {d} differs")];
    }

    static void Same<T>(List<string> diffs, string key, T[]? a, T[]? b)
    {
        if (a is null && b is null) return;
        if (a is null || b is null || !a.AsSpan().SequenceEqual(b)) diffs.Add(key);
    }

    static byte[] Bytes(torch.Tensor t) => t.contiguous().bytes.ToArray();

    static string? Norm(string? s, string root) => s?.Replace(Path.GetFullPath(root), "ROOT");

    /// <summary>JSON with the root's path replaced and wall-clock values dropped.</summary>
    static string Json(JsonNode? node, string root)
    {
        if (node is null) return "null";
        var copy = node.DeepClone();
        Strip(copy);
        return Norm(copy.ToJsonString(), root)!;
    }

    static void Strip(JsonNode? n)
    {
        if (n is JsonObject o)
        {
            foreach (var k in o.Select(p => p.Key).ToList())
                if (Volatile().IsMatch(k)) o.Remove(k); else Strip(o[k]);
        }
        else if (n is JsonArray a) foreach (var x in a) Strip(x);
    }

    [GeneratedRegex("^(wall_s|created_utc|seconds|time_s|elapsed.*)$|_seconds$")]
    private static partial Regex Volatile();

    /// <summary>The CSV without its wall-clock columns (wall_s, time/…).</summary>
    public static List<string> LearningColumns(string csv)
    {
        var rows = File.ReadAllLines(csv).Select(l => l.Split(',')).ToList();
        var keep = Enumerable.Range(0, rows[0].Length)
            .Where(i => rows[0][i] != "wall_s" && !rows[0][i].StartsWith("time/", StringComparison.Ordinal)).ToList();
        return [.. rows.Select(r => string.Join(',', keep.Select(i => i < r.Length ? r[i] : "?")))];
    }
}
