using O2O.Core;

namespace O2O.Data;

/// <summary>
/// An offline RL dataset in memory: row-major float32 observations and actions, optional rewards,
/// next observations, fall (terminal) and time-limit (timeout) flags, MuJoCo state infos and metadata.
/// Immutable once built; the constructor checks that every array has the same number of rows.
/// </summary>
public sealed class OfflineDataset
{
    /// <summary>
    /// Build a dataset; every array is checked against <paramref name="count"/> rows (arrays are kept, not copied).
    /// </summary>
    /// <exception cref="UserError">An array's length does not match count × width.</exception>
    public OfflineDataset(
        int count, int obsDim, int actDim,
        float[] observations, float[] actions,
        float[]? rewards = null, float[]? nextObservations = null,
        bool[]? terminals = null, bool[]? timeouts = null,
        double[]? infosQpos = null, int infosQposWidth = 0,
        double[]? infosQvel = null, int infosQvelWidth = 0,
        double[]? infosActionLogProbs = null,
        IReadOnlyDictionary<string, string>? metadata = null,
        string source = "dataset")
    {
        if (count < 0) throw new UserError($"{source}: negative row count {count}");
        if (obsDim <= 0)
            throw new UserError($"{source}: observations need at least one column, got {obsDim}; " +
                $"check the file's 'observations' shape");
        if (actDim <= 0)
            throw new UserError(
                $"{source}: actions need at least one column, got {actDim}; check the file's 'actions' shape");
        Check(source, "observations", observations, (long)count * obsDim, obsDim);
        Check(source, "actions", actions, (long)count * actDim, actDim);
        Check(source, "rewards", rewards, count, 1);
        Check(source, "next_observations", nextObservations, (long)count * obsDim, obsDim);
        Check(source, "terminals", terminals, count, 1);
        Check(source, "timeouts", timeouts, count, 1);
        Check(source, "infos/action_log_probs", infosActionLogProbs, count, 1);
        if (infosQpos is not null)
        {
            if (infosQposWidth <= 0)
                throw new UserError($"{source}: infos/qpos given without a width; pass infosQposWidth");
            Check(source, "infos/qpos", infosQpos, (long)count * infosQposWidth, infosQposWidth);
        }
        if (infosQvel is not null)
        {
            if (infosQvelWidth <= 0)
                throw new UserError($"{source}: infos/qvel given without a width; pass infosQvelWidth");
            Check(source, "infos/qvel", infosQvel, (long)count * infosQvelWidth, infosQvelWidth);
        }
        Count = count; ObsDim = obsDim; ActDim = actDim;
        Observations = observations; Actions = actions; Rewards = rewards; NextObservations = nextObservations;
        Terminals = terminals; Timeouts = timeouts;
        InfosQpos = infosQpos; InfosQposWidth = infosQpos is null ? 0 : infosQposWidth;
        InfosQvel = infosQvel; InfosQvelWidth = infosQvel is null ? 0 : infosQvelWidth;
        InfosActionLogProbs = infosActionLogProbs;
        Metadata = metadata is null ? new Dictionary<string, string>() : new Dictionary<string, string>(metadata);
    }

    static void Check<T>(string source, string key, T[]? a, long expected, int width)
    {
        if (a is null || a.LongLength == expected) return;
        var rows = expected / Math.Max(width, 1);
        throw new UserError(width == 1
            ? $"{source}: '{key}' has {a.LongLength} entries but the dataset has {rows} rows; " +
                $"all keys must have the same number of rows — fix or regenerate the file"
            : $"{source}: '{key}' has {a.LongLength} values, expected {rows} rows × {width} = {expected}; " +
                $"all keys must have the same number of rows — fix or regenerate the file");
    }

    /// <summary>Number of transitions (rows).</summary>
    public int Count { get; }
    /// <summary>Observation width.</summary>
    public int ObsDim { get; }
    /// <summary>Action width.</summary>
    public int ActDim { get; }
    /// <summary>Count × ObsDim, row-major.</summary>
    public float[] Observations { get; }
    /// <summary>Count × ActDim, row-major.</summary>
    public float[] Actions { get; }
    /// <summary>Count rewards, when the source has them.</summary>
    public float[]? Rewards { get; }
    /// <summary>
    /// Count × ObsDim next observations, when the source has them (see <see cref="ToQLearningTransitions"/> to derive
    /// them).
    /// </summary>
    public float[]? NextObservations { get; }
    /// <summary>True where the episode ended by a fall (no bootstrap).</summary>
    public bool[]? Terminals { get; }
    /// <summary>True where the episode was cut by the time limit (bootstrap).</summary>
    public bool[]? Timeouts { get; }
    /// <summary>Count × <see cref="InfosQposWidth"/> MuJoCo qpos, when present.</summary>
    public double[]? InfosQpos { get; }
    /// <summary>Width of <see cref="InfosQpos"/> (0 when absent).</summary>
    public int InfosQposWidth { get; }
    /// <summary>Count × <see cref="InfosQvelWidth"/> MuJoCo qvel, when present.</summary>
    public double[]? InfosQvel { get; }
    /// <summary>Width of <see cref="InfosQvel"/> (0 when absent).</summary>
    public int InfosQvelWidth { get; }
    /// <summary>Behaviour policy's log-probability of each action, when present.</summary>
    public double[]? InfosActionLogProbs { get; }
    /// <summary>Scalar metadata (D4RL's metadata/* strings and numbers, e.g. algorithm, env_id, seed).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Observation row <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> Observation(int i) => Observations.AsSpan(i * ObsDim, ObsDim);
    /// <summary>Action row <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> Action(int i) => Actions.AsSpan(i * ActDim, ActDim);

    /// <summary>True if row <paramref name="i"/> ends an episode (terminal or timeout).</summary>
    public bool EndsEpisode(int i) => (Terminals?[i] ?? false) || (Timeouts?[i] ?? false);

    /// <summary>
    /// Index of each episode's first row: row 0, then every row after a terminal or timeout.
    /// With neither flag the whole dataset is one episode. The last episode may be cut off
    /// (D4RL files end mid-episode); <see cref="LastEpisodeComplete"/> tells.
    /// </summary>
    public int[] EpisodeStarts()
    {
        if (Count == 0) return [];
        var starts = new List<int> { 0 };
        for (var i = 0; i < Count - 1; i++)
            if (EndsEpisode(i)) starts.Add(i + 1);
        return [.. starts];
    }

    /// <summary>True when the last row ends an episode by a terminal or timeout.</summary>
    public bool LastEpisodeComplete => Count > 0 && EndsEpisode(Count - 1);

    /// <summary>A new dataset with the given rows, in the given order (rows may repeat). Metadata is kept.</summary>
    public OfflineDataset Subset(int[] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        foreach (var r in rows)
            if ((uint)r >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(rows), $"row {r} is outside [0, {Count})");
        return new OfflineDataset(rows.Length, ObsDim, ActDim,
            Gather(Observations, rows, ObsDim)!, Gather(Actions, rows, ActDim)!,
            Gather(Rewards, rows, 1), Gather(NextObservations, rows, ObsDim),
            Gather(Terminals, rows, 1), Gather(Timeouts, rows, 1),
            Gather(InfosQpos, rows, InfosQposWidth), InfosQposWidth,
            Gather(InfosQvel, rows, InfosQvelWidth), InfosQvelWidth,
            Gather(InfosActionLogProbs, rows, 1), Metadata);
    }

    static T[]? Gather<T>(T[]? src, int[] rows, int width)
    {
        if (src is null) return null;
        var dst = new T[(long)rows.Length * width];
        for (var k = 0; k < rows.Length; k++)
            Array.Copy(src, (long)rows[k] * width, dst, (long)k * width, width);
        return dst;
    }

    /// <summary>
    /// The transitions D4RL's <c>qlearning_dataset</c> builds: (s, a, r, s', terminal) with s' = the next row's
    /// observation. As there, the last row is dropped (it has no next row) and so is every timeout row, because
    /// its next row belongs to the next episode; terminal rows are kept (s' is then unused: no bootstrap).
    /// Without a timeouts key, a row ends an episode by time limit when it is the <paramref name="maxEpisodeSteps"/>-th
    /// step since the last episode end (D4RL's fallback to <c>env._max_episode_steps</c>).
    /// If the dataset already has next observations it is returned unchanged.
    /// </summary>
    public OfflineDataset ToQLearningTransitions(int maxEpisodeSteps = 1000)
    {
        if (NextObservations is not null) return this;
        var keep = new List<int>(Count);
        var episodeStep = 0;
        for (var i = 0; i < Count - 1; i++)
        {
            var done = Terminals?[i] ?? false;
            var final = Timeouts is not null ? Timeouts[i] : episodeStep == maxEpisodeSteps - 1;
            if (final) { episodeStep = 0; continue; }
            if (done) episodeStep = 0;
            keep.Add(i);
            episodeStep++; // after a terminal D4RL counts from 1: kept as is, to select the same rows
        }
        var rows = keep.ToArray();
        var next = new float[(long)rows.Length * ObsDim];
        for (var k = 0; k < rows.Length; k++)
            Array.Copy(Observations, (long)(rows[k] + 1) * ObsDim, next, (long)k * ObsDim, ObsDim);
        var sub = Subset(rows);
        return new OfflineDataset(sub.Count, ObsDim, ActDim, sub.Observations, sub.Actions, sub.Rewards, next,
            sub.Terminals ?? new bool[sub.Count], sub.Timeouts ?? new bool[sub.Count],
            sub.InfosQpos, sub.InfosQposWidth, sub.InfosQvel, sub.InfosQvelWidth, sub.InfosActionLogProbs, Metadata);
    }

    /// <summary>Copy with extra or replaced metadata entries.</summary>
    public OfflineDataset WithMetadata(IReadOnlyDictionary<string, string> extra)
    {
        var md = new Dictionary<string, string>(Metadata);
        foreach (var (k, v) in extra) md[k] = v;
        return new OfflineDataset(
            Count, ObsDim, ActDim, Observations, Actions, Rewards, NextObservations, Terminals, Timeouts,
            InfosQpos, InfosQposWidth, InfosQvel, InfosQvelWidth, InfosActionLogProbs, md);
    }

    /// <summary>
    /// First non-finite value (NaN or ±Inf) of each float key: (key, count, first flat index, first row), for
    /// observations, actions, rewards, next_observations. Empty when all are finite.
    /// </summary>
    public IReadOnlyList<NonFiniteReport> FindNonFinite()
    {
        var list = new List<NonFiniteReport>();
        void Scan(string key, float[]? a, int width)
        {
            if (a is null) return;
            long n = 0, first = -1;
            for (long i = 0; i < a.LongLength; i++)
                if (!float.IsFinite(a[i])) { n++; if (first < 0) first = i; }
            if (n > 0) list.Add(new NonFiniteReport(key, n, first, (int)(first / width), (int)(first % width)));
        }
        Scan("observations", Observations, ObsDim);
        Scan("actions", Actions, ActDim);
        Scan("rewards", Rewards, 1);
        Scan("next_observations", NextObservations, ObsDim);
        return list;
    }
}

/// <summary>Non-finite values found in one key: how many, and where the first one is.</summary>
public sealed record NonFiniteReport(string Key, long Count, long FirstFlatIndex, int FirstRow, int FirstColumn)
{
    /// <summary>One-phrase description, e.g. "observations has 3 NaN/Inf values, first at row 7, column 2".</summary>
    public override string ToString() =>
        $"'{Key}' has {Count} NaN/Inf value{(Count == 1 ? "" : "s")}, first at row {FirstRow}, column {FirstColumn}";
}
