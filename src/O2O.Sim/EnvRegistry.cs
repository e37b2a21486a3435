using O2O.Core;

namespace O2O.Sim;

/// <summary>
/// The environments O2O knows, by Gymnasium id ("Hopper-v4" → a fresh <see cref="IEnv"/>): Hopper, Walker2d and
/// HalfCheetah in Gymnasium's v4 (D4RL's datasets) and v5 (Minari's datasets).
/// </summary>
public static class EnvRegistry
{
    static EnvSpec Hopper(string id) =>
        new(id, ObsDim: 11, ActDim: 3, Dt: 0.008, FrameSkip: 4, MaxEpisodeSteps: 1000, NqPos: 6, NqVel: 6);
    static EnvSpec Walker2d(string id) =>
        new(id, ObsDim: 17, ActDim: 6, Dt: 0.008, FrameSkip: 4, MaxEpisodeSteps: 1000, NqPos: 9, NqVel: 9);
    static EnvSpec HalfCheetah(string id) =>
        new(id, ObsDim: 17, ActDim: 6, Dt: 0.05, FrameSkip: 5, MaxEpisodeSteps: 1000, NqPos: 9, NqVel: 9);

    // Dimensions and timing from Gymnasium's docs (the same in v4 and v5); LocomotionEnv checks them against the
    // compiled MJCF. The first entry of a kind is the one a D4RL task name maps to.
    static readonly (EnvSpec Spec, LocomotionKind Kind, int Version, string D4rlName)[] Entries =
    [
        (Hopper("Hopper-v4"), LocomotionKind.Hopper, 4, "hopper"),
        (Walker2d("Walker2d-v4"), LocomotionKind.Walker2d, 4, "walker2d"),
        (HalfCheetah("HalfCheetah-v4"), LocomotionKind.HalfCheetah, 4, "halfcheetah"),
        (Hopper("Hopper-v5"), LocomotionKind.Hopper, 5, "hopper"),
        (Walker2d("Walker2d-v5"), LocomotionKind.Walker2d, 5, "walker2d"),
        (HalfCheetah("HalfCheetah-v5"), LocomotionKind.HalfCheetah, 5, "halfcheetah"),
    ];

    /// <summary>Every registered spec, in a fixed order.</summary>
    public static IReadOnlyList<EnvSpec> Specs { get; } = Entries.Select(e => e.Spec).ToArray();

    /// <summary>True when <paramref name="id"/> is a registered id (exact, case-sensitive, like Gymnasium).</summary>
    public static bool IsKnown(string id) => Array.FindIndex(Entries, e => e.Spec.Id == id) >= 0;

    /// <summary>
    /// The spec of <paramref name="id"/>; an unknown id is a <see cref="UserError"/> listing the known ones.
    /// </summary>
    public static EnvSpec Get(string id) => Entries[IndexOf(id)].Spec;

    /// <summary>
    /// A new env for <paramref name="id"/> (not yet reset), with Gymnasium's constructor arguments
    /// (<paramref name="args"/>; null = the defaults). Loads and checks MuJoCo on first use.
    /// </summary>
    public static IEnv Make(string id, LocomotionArgs? args = null)
    {
        var entry = Entries[IndexOf(id)];
        return new LocomotionEnv(entry.Kind, entry.Spec, entry.Version, args);
    }

    internal static EnvSpec SpecOf(LocomotionKind kind) => Entries.First(e => e.Kind == kind).Spec;

    /// <summary>
    /// The env id of a D4RL task name: "hopper-medium-v2" → "Hopper-v4" (prefixes hopper, walker2d, halfcheetah;
    /// always the v4 id: O2O pairs D4RL's -v2 tasks with v4, Minari's datasets name their v5 env themselves).
    /// Unknown prefixes are a <see cref="UserError"/>.
    /// </summary>
    public static string ForTask(string task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var prefix = task.Split(['-', '_'], 2)[0].ToLowerInvariant();
        foreach (var e in Entries)
            if (e.D4rlName == prefix) return e.Spec.Id;
        throw new UserError($"task '{task}' names no known environment; " +
            $"D4RL tasks start with {string.Join(", ", Entries.Select(e => e.D4rlName).Distinct())} " +
            "(e.g. hopper-medium-v2)");
    }

    static int IndexOf(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        var i = Array.FindIndex(Entries, e => e.Spec.Id == id);
        if (i < 0)
            throw new UserError($"unknown env id '{id}'; known: {string.Join(", ", Entries.Select(e => e.Spec.Id))}");
        return i;
    }
}
