using System.Text.RegularExpressions;
using O2O.Core;

namespace O2O.Data;

/// <summary>
/// One of the MuJoCo locomotion environments the D4RL datasets cover, with its dims and reference returns.
/// </summary>
/// <param name="Name">D4RL's env name ("hopper").</param>
/// <param name="EnvId">Gymnasium id ("Hopper-v4").</param>
/// <param name="ObsDim">Observation width.</param>
/// <param name="ActDim">Action width.</param>
/// <param name="RandomReturn">D4RL REF_MIN_SCORE: return of a uniform random policy.</param>
/// <param name="ExpertReturn">D4RL REF_MAX_SCORE: return of the expert (SAC) policy.</param>
public sealed record KnownEnv(
    string Name,
    string EnvId,
    int ObsDim,
    int ActDim,
    double RandomReturn,
    double ExpertReturn);

/// <summary>The D4RL gym-mujoco table: env ids, task names and normalised scores.</summary>
public static partial class D4rlScores
{
    /// <summary>
    /// The three environments. Dims from Gymnasium's v4 docs; reference returns from D4RL's
    /// <c>infos.py</c> (REF_MIN_SCORE / REF_MAX_SCORE of the -v2 gym-mujoco tasks).
    /// </summary>
    public static IReadOnlyList<KnownEnv> Envs { get; } =
    [
        new("hopper", "Hopper-v4", 11, 3, -20.272305, 3234.3),
        new("walker2d", "Walker2d-v4", 17, 6, 1.629008, 4592.3),
        new("halfcheetah", "HalfCheetah-v4", 17, 6, -280.178953, 12135.0),
    ];

    /// <summary>Dataset qualities of the -v2 tasks.</summary>
    public static IReadOnlyList<string> Qualities { get; } = ["random", "medium", "medium-replay", "medium-expert",
        "expert"];

    /// <summary>Every task name: "hopper-medium-v2", …</summary>
    public static IEnumerable<string> Tasks => Envs.SelectMany(e => Qualities.Select(q => $"{e.Name}-{q}-v2"));

    /// <summary>
    /// The env for an env id ("Hopper-v4", any version, any case), a task name ("hopper-medium-v2"),
    /// a D4RL file name ("hopper_medium-v2.hdf5") or a bare name ("hopper"); null when unknown.
    /// </summary>
    public static KnownEnv? Find(string envOrTask)
    {
        if (string.IsNullOrWhiteSpace(envOrTask)) return null;
        var s = envOrTask.Trim().ToLowerInvariant();
        var m = EnvPrefix().Match(s);
        if (!m.Success) return null;
        var head = m.Groups[1].Value;
        var rest = s[head.Length..];
        // Anything after the name must be a version, quality or file suffix: "walker2dfoo" is not walker2d.
        if (rest.Length > 0 && rest[0] is not ('-' or '_' or '.')) return null;
        return Envs.First(e => e.Name == head);
    }

    /// <summary>The env, or a <see cref="UserError"/> that lists the known names.</summary>
    public static KnownEnv Require(string envOrTask) =>
        Find(envOrTask) ?? throw new UserError(
            $"unknown environment or task '{envOrTask}'; known: {string.Join(", ", Envs.Select(e => e.EnvId))} and " +
            $"tasks such as {string.Join(", ", Envs.Select(e => e.Name + "-medium-v2"))} (qualities: " +
            $"{string.Join(", ", Qualities)})");

    /// <summary>The reference returns for an env id or task name; false when unknown.</summary>
    public static bool TryGetReference(string envOrTask, out double random, out double expert)
    {
        var e = Find(envOrTask);
        random = e?.RandomReturn ?? double.NaN;
        expert = e?.ExpertReturn ?? double.NaN;
        return e is not null;
    }

    /// <summary>D4RL normalised score: 100 · (R − random) / (expert − random).</summary>
    /// <exception cref="UserError">Unknown env or task (the message lists the known ones).</exception>
    public static double Normalize(string envOrTask, double ret)
    {
        var e = Require(envOrTask);
        return 100.0 * (ret - e.RandomReturn) / (e.ExpertReturn - e.RandomReturn);
    }

    [GeneratedRegex("^(halfcheetah|walker2d|hopper)")] private static partial Regex EnvPrefix();
}

/// <summary>A D4RL gym-mujoco task name split into env and quality, e.g. hopper-medium-replay-v2.</summary>
public sealed record D4rlTask(KnownEnv Env, string Quality)
{
    /// <summary>"hopper-medium-v2".</summary>
    public string Name => $"{Env.Name}-{Quality}-v2";
    /// <summary>
    /// The server's file name: "{env}_{quality with _}-v2.hdf5", e.g. walker2d_medium_replay-v2.hdf5.
    /// </summary>
    public string ServerFileName => $"{Env.Name}_{Quality.Replace('-', '_')}-v2.hdf5";
    /// <summary>The local file name the notebook uses: "{task}.hdf5", e.g. hopper-medium-v2.hdf5.</summary>
    public string LocalFileName => Name + ".hdf5";

    /// <summary>Parse a task name; a <see cref="UserError"/> lists the valid ones.</summary>
    public static D4rlTask Parse(string task)
    {
        var s = (task ?? "").Trim().ToLowerInvariant();
        foreach (var e in D4rlScores.Envs)
            foreach (var q in D4rlScores.Qualities)
                if (s == $"{e.Name}-{q}-v2") return new D4rlTask(e, q);
        throw new UserError($"unknown D4RL task '{task}'; use ENV-QUALITY-v2 with ENV one of " +
            $"{string.Join(", ", D4rlScores.Envs.Select(e => e.Name))} and QUALITY one of " +
            $"{string.Join(", ", D4rlScores.Qualities)} (e.g. hopper-medium-v2)");
    }
}
