using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Data;
using O2O.Sim;

namespace O2O.Experiments;

/// <summary>
/// The environment a dataset names itself (a Minari dataset's env spec), checked against what O2O simulates.
/// </summary>
public static class DatasetEnv
{
    /// <summary>Env-spec arguments that change rendering only, so a dataset may set them.</summary>
    static readonly HashSet<string> RenderOnly =
        ["render_mode", "width", "height", "camera_id", "camera_name", "default_camera_config", "visual_options"];

    /// <summary>
    /// The registered env id that <paramref name="metadata"/> names (Minari's env spec), or null when the dataset
    /// names none (D4RL files, NPZ). <paramref name="source"/> names the dataset in messages.
    /// </summary>
    /// <exception cref="UserError">An env O2O does not simulate (the message lists those it does), or env-spec
    /// arguments other than rendering ones, which O2O's commands cannot pass on.</exception>
    public static string? Named(IReadOnlyDictionary<string, string>? metadata, string source)
    {
        var minari = metadata is not null
            && (metadata.TryGetValue("format", out var f) && f == "minari" || metadata.ContainsKey("env_spec"));
        if (!minari) return null;
        if (!metadata!.TryGetValue("env_id", out var id))
            throw new UserError($"{source} is a Minari dataset without an env spec (no 'env_spec' with an 'id' in " +
                "its metadata), so its environment is unknown; download the dataset again");
        if (!EnvRegistry.IsKnown(id))
            throw new UserError($"{source} was recorded in {id}, which O2O does not simulate; registered here: " +
                $"{string.Join(", ", EnvRegistry.Specs.Select(s => s.Id))}");
        if (metadata.TryGetValue("env_spec", out var spec) && Kwargs(spec) is { } kwargs)
        {
            var set = kwargs.Where(kv => !RenderOnly.Contains(kv.Key) && !IsFrameSkipOf(kv, id)).ToList();
            if (set.Count > 0)
                throw new UserError($"{source}'s env spec makes {id} with {string.Join(", ", set.Select(kv =>
                    $"{kv.Key}={kv.Value?.ToJsonString() ?? "None"}"))}; O2O's commands run {id} with its " +
                    "default arguments only");
        }
        return id;
    }

    static JsonObject? Kwargs(string spec)
    {
        try { return (JsonNode.Parse(SafeJson(spec)) as JsonObject)?["kwargs"] as JsonObject; }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException) { return null; }
    }

    static bool IsFrameSkipOf(KeyValuePair<string, JsonNode?> kv, string id) =>
        kv.Key == "frame_skip" && kv.Value is JsonValue v && v.TryGetValue<int>(out var n)
        && n == EnvRegistry.Get(id).FrameSkip;

    /// <summary>Python's json.dumps writes Infinity and NaN; the spec is parsed only for its kwargs.</summary>
    static string SafeJson(string json) =>
        json.Replace("-Infinity", "null", StringComparison.Ordinal)
            .Replace("Infinity", "null", StringComparison.Ordinal).Replace("NaN", "null", StringComparison.Ordinal);

    /// <summary>
    /// Gymnasium's env spec of <paramref name="envId"/> as JSON (id, entry point, the 1000-step time limit, no
    /// arguments), for datasets written here in Minari's layout.
    /// </summary>
    public static string SpecJson(string envId)
    {
        var spec = EnvRegistry.Get(envId);
        var dash = envId.LastIndexOf("-v", StringComparison.Ordinal);
        var (module, cls) = envId[..dash] switch
        {
            "Hopper" => ("hopper", "HopperEnv"),
            "Walker2d" => ("walker2d", "Walker2dEnv"),
            _ => ("half_cheetah", "HalfCheetahEnv"),
        };
        return new JsonObject
        {
            ["id"] = envId,
            ["entry_point"] = $"gymnasium.envs.mujoco.{module}_v{envId[(dash + 2)..]}:{cls}",
            ["reward_threshold"] = null,
            ["nondeterministic"] = false,
            ["max_episode_steps"] = spec.MaxEpisodeSteps,
            ["order_enforce"] = true,
            ["disable_env_checker"] = false,
            ["kwargs"] = new JsonObject(),
            ["additional_wrappers"] = new JsonArray(),
            ["vector_entry_point"] = null,
        }.ToJsonString();
    }
}
