using O2O.Core;

namespace O2O.Sim;

/// <summary>The environments O2O knows, by Gymnasium id ("Hopper-v4" → a fresh <see cref="IEnv"/>).</summary>
public static class EnvRegistry
{
    static readonly (EnvSpec Spec, LocomotionKind Kind, string D4rlName)[] Entries =
    [
        // Dimensions and timing from Gymnasium's v4 docs; LocomotionEnv checks them against the compiled MJCF.
        (new EnvSpec("Hopper-v4", ObsDim: 11, ActDim: 3, Dt: 0.008, FrameSkip: 4, MaxEpisodeSteps: 1000,
                NqPos: 6, NqVel: 6),
            LocomotionKind.Hopper, "hopper"),
        (new EnvSpec("Walker2d-v4", ObsDim: 17, ActDim: 6, Dt: 0.008, FrameSkip: 4, MaxEpisodeSteps: 1000,
                NqPos: 9, NqVel: 9),
            LocomotionKind.Walker2d, "walker2d"),
        (new EnvSpec("HalfCheetah-v4", ObsDim: 17, ActDim: 6, Dt: 0.05, FrameSkip: 5, MaxEpisodeSteps: 1000,
                NqPos: 9, NqVel: 9),
            LocomotionKind.HalfCheetah, "halfcheetah"),
    ];

    /// <summary>Every registered spec, in a fixed order.</summary>
    public static IReadOnlyList<EnvSpec> Specs { get; } = Entries.Select(e => e.Spec).ToArray();

    /// <summary>True when <paramref name="id"/> is a registered id (exact, case-sensitive, like Gymnasium).</summary>
    public static bool IsKnown(string id) => Array.FindIndex(Entries, e => e.Spec.Id == id) >= 0;

    /// <summary>
    /// The spec of <paramref name="id"/>; an unknown id is a <see cref="UserError"/> listing the known ones.
    /// </summary>
    public static EnvSpec Get(string id) => Entries[IndexOf(id)].Spec;

    /// <summary>A new env for <paramref name="id"/> (not yet reset). Loads and checks MuJoCo on first use.</summary>
    public static IEnv Make(string id)
    {
        var entry = Entries[IndexOf(id)];
        return new LocomotionEnv(entry.Kind, entry.Spec);
    }

    internal static EnvSpec SpecOf(LocomotionKind kind) => Entries.First(e => e.Kind == kind).Spec;

    /// <summary>
    /// The env id of a D4RL task name: "hopper-medium-v2" → "Hopper-v4" (prefixes hopper, walker2d, halfcheetah).
    /// Unknown prefixes are a <see cref="UserError"/>.
    /// </summary>
    public static string ForTask(string task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var prefix = task.Split(['-', '_'], 2)[0].ToLowerInvariant();
        foreach (var e in Entries)
            if (e.D4rlName == prefix) return e.Spec.Id;
        throw new UserError($"task '{task}' names no known environment; " +
            $"D4RL tasks start with {string.Join(", ", Entries.Select(e => e.D4rlName))} (e.g. hopper-medium-v2)");
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
