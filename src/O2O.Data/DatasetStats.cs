using System.Globalization;
using System.Text;

namespace O2O.Data;

/// <summary>
/// Summary of an offline dataset: sizes, per-dimension mean/std, episode returns, the behaviour data's D4RL
/// normalised score when the env is known, flag fractions, and every problem found.
/// Return statistics are over complete episodes (ended by a terminal or timeout); the cut-off tail episode of a
/// D4RL file is left out unless no episode is complete. Non-finite values are skipped in means and reported.
/// </summary>
public sealed record DatasetStats(
    int Transitions, int Episodes, int CompleteEpisodes, int ObsDim, int ActDim,
    double[] ObsMean, double[] ObsStd, double[] ActMean, double[] ActStd,
    double[] EpisodeReturns, double? ReturnMean, double? ReturnStd, double? ReturnMin, double? ReturnMax,
    KnownEnv? Env, string EnvNote, double? NormalizedScore,
    double TerminalFraction, double TimeoutFraction, bool HasTerminals, bool HasTimeouts,
    IReadOnlyList<string> Problems)
{
    /// <summary>
    /// Where the normalised score's reference returns come from: D4RL's table, or a Minari dataset's own
    /// ref_min_score / ref_max_score.
    /// </summary>
    public string ScoreNote { get; init; } = "D4RL: 100·(R − random)/(expert − random)";

    /// <summary>The env the dataset names itself (a Minari dataset's env spec, e.g. Hopper-v5), else null.</summary>
    public string? NamedEnvId { get; init; }
    /// <summary>Mean length of the complete episodes (all episodes when none is complete).</summary>
    public double? LengthMean { get; init; }

    /// <summary>
    /// Compute the statistics; <paramref name="fileName"/> helps guess the env (e.g. "hopper-medium-v2.hdf5").
    /// </summary>
    public static DatasetStats Compute(OfflineDataset ds, string? fileName = null)
    {
        ArgumentNullException.ThrowIfNull(ds);
        var problems = new List<string>();
        foreach (var bad in ds.FindNonFinite()) problems.Add(bad.ToString());

        var (obsMean, obsStd) = Moments(ds.Observations, ds.Count, ds.ObsDim);
        var (actMean, actStd) = Moments(ds.Actions, ds.Count, ds.ActDim);
        var starts = ds.EpisodeStarts();
        double[] returns = [];
        double? mean = null, std = null, min = null, max = null;
        var complete = ds.LastEpisodeComplete ? starts.Length : Math.Max(0, starts.Length - 1);
        if (ds.Rewards is { } rew)
        {
            returns = new double[starts.Length];
            for (var e = 0; e < starts.Length; e++)
            {
                var end = e + 1 < starts.Length ? starts[e + 1] : ds.Count;
                double sum = 0;
                for (var i = starts[e]; i < end; i++) if (float.IsFinite(rew[i])) sum += rew[i];
                returns[e] = sum;
            }
            var used = complete > 0 ? returns[..complete] : returns;
            if (used.Length > 0)
            {
                mean = used.Average();
                var m = mean.Value;
                std = Math.Sqrt(used.Sum(r => (r - m) * (r - m)) / used.Length);
                min = used.Min(); max = used.Max();
            }
        }
        else problems.Add("no 'rewards': returns and normalised score cannot be computed");
        if (ds.Terminals is null && ds.Timeouts is null)
            problems.Add("no 'terminals' or 'timeouts': the whole dataset counts as one episode");

        var (env, note) = GuessEnv(ds, fileName, problems);
        double? score = env is not null && mean is not null
            ? 100.0 * (mean.Value - env.RandomReturn) / (env.ExpertReturn - env.RandomReturn) : null;
        var scoreNote = "D4RL: 100·(R − random)/(expert − random)";
        string? named = null;
        if (Minari.IsMinari(ds))
        {
            named = ds.Metadata.TryGetValue("env_id", out var id) ? id : null;
            if (Minari.ReferenceScores(ds.Metadata) is var (lo, hi))
            {
                score = mean is null ? null : 100.0 * (mean.Value - lo) / (hi - lo);
                scoreNote = FormattableString.Invariant(
                    $"the dataset's own reference returns: 100·(R − {lo:G6})/({hi:G6} − {lo:G6})");
            }
            else if (score is not null)
                scoreNote = "D4RL's table — the Minari dataset has no ref_min_score/ref_max_score";
        }
        double Frac(bool[]? f) => f is null || ds.Count == 0 ? 0 : f.Count(x => x) / (double)ds.Count;
        return new DatasetStats(
            ds.Count, starts.Length, complete, ds.ObsDim, ds.ActDim, obsMean, obsStd, actMean, actStd,
            returns, mean, std, min, max, env, note, score, Frac(ds.Terminals), Frac(ds.Timeouts),
            ds.Terminals is not null, ds.Timeouts is not null, problems)
        {
            ScoreNote = scoreNote, NamedEnvId = named, LengthMean = MeanLength(starts, complete, ds.Count),
        };
    }

    static double? MeanLength(int[] starts, int complete, int rows)
    {
        var n = complete > 0 ? complete : starts.Length;
        if (n == 0) return null;
        var end = n < starts.Length ? starts[n] : rows;
        return (double)end / n;
    }

    static (double[] mean, double[] std) Moments(float[] x, int rows, int width)
    {
        var sum = new double[width];
        var sq = new double[width];
        var n = new long[width];
        for (var i = 0; i < rows; i++)
        {
            var off = i * width;
            for (var j = 0; j < width; j++)
            {
                double v = x[off + j];
                if (!double.IsFinite(v)) continue;
                sum[j] += v; sq[j] += v * v; n[j]++;
            }
        }
        var mean = new double[width];
        var std = new double[width];
        for (var j = 0; j < width; j++)
        {
            if (n[j] == 0) { mean[j] = std[j] = double.NaN; continue; }
            mean[j] = sum[j] / n[j];
            std[j] = Math.Sqrt(Math.Max(0, sq[j] / n[j] - mean[j] * mean[j]));
        }
        return (mean, std);
    }

    /// <summary>
    /// The env from metadata (env_id, env, task), then the file name, then the dims (17/6 is ambiguous).
    /// </summary>
    static (KnownEnv? env, string note) GuessEnv(OfflineDataset ds, string? fileName, List<string> problems)
    {
        var byDims = D4rlScores.Envs.Where(e => e.ObsDim == ds.ObsDim && e.ActDim == ds.ActDim).ToList();
        string Dims(KnownEnv e) => $"obs {e.ObsDim} / act {e.ActDim}";
        foreach (var key in new[] { "env_id", "env", "task", "env_name", "task_name" })
        {
            if (!ds.Metadata.TryGetValue(key, out var v) || D4rlScores.Find(v) is not { } e) continue;
            if (e.ObsDim != ds.ObsDim || e.ActDim != ds.ActDim)
            {
                problems.Add($"metadata/{key} says {v} ({Dims(e)}) but the data has obs {ds.ObsDim} / act {ds.ActDim}");
                return (null, $"metadata names {v}, but the dims do not match it");
            }
            return (e, $"from metadata/{key} = {v}");
        }
        if (!string.IsNullOrEmpty(fileName))
        {
            var name = Path.GetFileName(fileName).ToLowerInvariant();
            var hit = D4rlScores.Envs.FirstOrDefault(e => name.Contains(e.Name, StringComparison.Ordinal));
            if (hit is not null && byDims.Contains(hit))
                return (hit, $"from the file name '{Path.GetFileName(fileName)}'");
        }
        if (byDims.Count == 1) return (byDims[0], $"from the dims ({Dims(byDims[0])})");
        if (byDims.Count > 1)
            return (null, $"obs {ds.ObsDim} / act {ds.ActDim} fits " +
                $"{string.Join(" and ", byDims.Select(e => e.EnvId))}: ambiguous; " +
                $"name the env in metadata/env_id or in the file name");
        problems.Add($"dims obs {ds.ObsDim} / act {ds.ActDim} match no known env " +
            $"({string.Join(", ", D4rlScores.Envs.Select(e => $"{e.EnvId} {e.ObsDim}/{e.ActDim}"))})");
        return (null, "unknown: the dims match no known env");
    }

    /// <summary>A human-readable report, one fact per line (the dataset summary a front end prints).</summary>
    public string Format(string? title = null)
    {
        static string F(double? v, string fmt = "F2") =>
            v is null ? "n/a" : v.Value.ToString(fmt, CultureInfo.InvariantCulture);
        static string V(double[] a) =>
            "[" + string.Join(", ", a.Select(x => x.ToString("G4", CultureInfo.InvariantCulture))) + "]";
        var w = new StringBuilder();
        if (title is not null) w.AppendLine(title);
        w.AppendLine($"transitions:      {Transitions}");
        var cutOff = Episodes > CompleteEpisodes ? ", the last one cut off" : "";
        w.AppendLine($"episodes:         {Episodes} ({CompleteEpisodes} complete{cutOff})");
        w.AppendLine($"episode length:   mean {F(LengthMean, "F1")} (complete episodes)");
        w.AppendLine($"obs dim:          {ObsDim}");
        w.AppendLine($"act dim:          {ActDim}");
        w.AppendLine(NamedEnvId is not null
            ? $"env:              {NamedEnvId} (from the Minari env spec)"
            : $"env:              {Env?.EnvId ?? "unknown"} ({EnvNote})");
        w.AppendLine($"return:           mean {F(ReturnMean)}  std {F(ReturnStd)}  " +
            $"min {F(ReturnMin)}  max {F(ReturnMax)}  (complete episodes)");
        var score = NormalizedScore is null
            ? "n/a" + (Env is null ? " (env unknown)" : " (no rewards)")
            : F(NormalizedScore) + $" ({ScoreNote})";
        w.AppendLine($"normalised score: {score}");
        w.AppendLine($"terminals:        {(HasTerminals ? F(TerminalFraction * 100, "F3") + " % of rows" : "absent")}");
        w.AppendLine($"timeouts:         {(HasTimeouts ? F(TimeoutFraction * 100, "F3") + " % of rows" : "absent")}");
        w.AppendLine($"obs mean:         {V(ObsMean)}");
        w.AppendLine($"obs std:          {V(ObsStd)}");
        w.AppendLine($"act mean:         {V(ActMean)}");
        w.AppendLine($"act std:          {V(ActStd)}");
        if (Problems.Count == 0) w.AppendLine("problems:         none");
        else foreach (var p in Problems) w.AppendLine($"problem:          {p}");
        return w.ToString();
    }
}
