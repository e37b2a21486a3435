using System.Globalization;
using System.Text.RegularExpressions;
using O2O.Core;

namespace O2O.Data;

/// <summary>
/// Minari datasets on disk (Farama's successor of D4RL): where they live, what they say about themselves, and
/// writing one. A dataset is a folder <c>{root}/{namespace}/{name}-v{N}/data/main_data.hdf5</c>; the root is
/// <c>MINARI_DATASETS_PATH</c> or <c>~/.minari/datasets</c>. Reading goes through <see cref="DatasetIO.Load"/>.
/// </summary>
public static partial class Minari
{
    /// <summary>The environment variable that moves Minari's root folder.</summary>
    public const string RootVariable = "MINARI_DATASETS_PATH";

    /// <summary><c>MINARI_DATASETS_PATH</c> when set, else <c>~/.minari/datasets</c> (Minari's default).</summary>
    public static string Root =>
        Environment.GetEnvironmentVariable(RootVariable) is { Length: > 0 } r
            ? r
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".minari", "datasets");

    /// <summary>
    /// True when <paramref name="s"/> is written like a Minari id ("mujoco/hopper/medium-v0", "door-human-v0"):
    /// names separated by '/', ending in -v and a number, with no file extension.
    /// </summary>
    public static bool LooksLikeId(string s) => IdPattern().IsMatch(s);

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*-v[0-9]+$")]
    private static partial Regex IdPattern();

    /// <summary>
    /// The main_data.hdf5 of a Minari dataset given as a dataset folder, its data/ folder, the file itself, or an
    /// id under <see cref="Root"/>; null when <paramref name="pathOrId"/> is an existing file in another format, or
    /// neither an existing path nor written like an id.
    /// </summary>
    /// <exception cref="UserError">A folder that is not a Minari dataset, or an id with no dataset under the root.
    /// </exception>
    public static string? Locate(string pathOrId)
    {
        ArgumentNullException.ThrowIfNull(pathOrId);
        if (Directory.Exists(pathOrId))
        {
            foreach (var candidate in new[]
            {
                Path.Combine(pathOrId, "data", MinariHdf5.MainFile), Path.Combine(pathOrId, MinariHdf5.MainFile),
            })
                if (File.Exists(candidate)) return candidate;
            throw new UserError($"'{pathOrId}' is a folder but not a Minari dataset (no data/{MinariHdf5.MainFile} " +
                "in it); give a Minari dataset folder, a dataset file (.hdf5 or .npz) or a Minari id such as " +
                "mujoco/hopper/medium-v0");
        }
        if (File.Exists(pathOrId))
            return DatasetIO.DetectKind(pathOrId) == DatasetFileKind.Hdf5 && MinariHdf5.IsMinariFile(pathOrId)
                ? pathOrId : null;
        if (!LooksLikeId(pathOrId)) return null;
        var root = Root;
        var file = Path.Combine(root, Path.Combine(pathOrId.Split('/')), "data", MinariHdf5.MainFile);
        if (File.Exists(file)) return file;
        throw new UserError($"no Minari dataset '{pathOrId}' under {root} (the root is ${RootVariable} or " +
            $"~/.minari/datasets); download it with Minari (minari download {pathOrId}), set {RootVariable}, " +
            "or give the dataset's folder");
    }

    /// <summary>
    /// The metadata of the Minari dataset at <paramref name="pathOrId"/> without reading its episodes (root
    /// attributes and metadata.json; "env_id" from the env spec), or null when it is not a Minari dataset.
    /// </summary>
    public static IReadOnlyDictionary<string, string>? PeekMetadata(string pathOrId) =>
        Locate(pathOrId) is { } file ? MinariHdf5.ReadMetadata(file) : null;

    /// <summary>
    /// The dataset's own reference returns (ref_min_score, ref_max_score) when its metadata has both, else null.
    /// </summary>
    public static (double Min, double Max)? ReferenceScores(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        double? Get(string key) =>
            metadata.TryGetValue(key, out var s) && double.TryParse(s, NumberStyles.Float,
                CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : null;
        return Get("ref_min_score") is double lo && Get("ref_max_score") is double hi && hi > lo ? (lo, hi) : null;
    }

    /// <summary>True when the dataset was read from Minari's layout.</summary>
    public static bool IsMinari(OfflineDataset ds) =>
        ds.Metadata.TryGetValue("format", out var f) && f == "minari";

    /// <summary>
    /// Write <paramref name="ds"/> as a Minari dataset folder: <c>{folder}/data/main_data.hdf5</c> and
    /// <c>{folder}/data/metadata.json</c> (docs/data.md, "Minari"). Each episode stores its final observation, so
    /// the data needs next observations; the files are written atomically.
    /// </summary>
    /// <exception cref="UserError">No next observations, next observations that disagree with the next row inside
    /// an episode, or an unwritable folder.</exception>
    public static void Save(string folder, OfflineDataset ds, MinariWriteInfo info)
    {
        ArgumentNullException.ThrowIfNull(ds);
        ArgumentNullException.ThrowIfNull(info);
        if (File.Exists(folder))
            throw new UserError($"'{folder}' is a file; a Minari dataset is a folder — give a folder path");
        try { MinariHdf5.Write(folder, ds, info); }
        catch (IOException e)
        {
            throw new UserError(
                $"cannot write '{folder}' ({e.Message.TrimEnd('.')}); free some space or choose another location");
        }
    }
}
