using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Learning.Nn;
using static TorchSharp.torch;

namespace O2O.Learning.Checkpoints;

/// <summary>
/// A Gaussian actor with what is needed to act in an environment: its env id and the observation
/// normalisation it was trained with. Saved as `*_actor.pt` (BC and PPO alike).
/// </summary>
public sealed class ActorBundle : IDisposable
{
    public const string Format = "o2o.actor";

    public ActorBundle(string envId, GaussianActor actor, RunningNorm obsNorm, string source)
    {
        EnvId = envId;
        Actor = actor;
        ObsNorm = obsNorm;
        Source = source;
    }

    public string EnvId { get; }
    public GaussianActor Actor { get; }
    public RunningNorm ObsNorm { get; }
    /// <summary>What produced the actor: "bc", "ppo", …</summary>
    public string Source { get; }
    /// <summary>Free-form facts written into the checkpoint (options, scores).</summary>
    public JsonObject Extra { get; init; } = new();

    /// <summary>Write the actor atomically as a PyTorch state dict with metadata.</summary>
    public void Save(string path)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in Actor.state_dict()) tensors[k] = v;
        tensors["obs_rms.mean"] = tensor(ObsNorm.Mean);
        tensors["obs_rms.var"] = tensor(ObsNorm.Var);
        tensors["obs_rms.count"] = tensor(new[] { ObsNorm.Count });
        var meta = new JsonObject
        {
            ["format"] = Format,
            ["version"] = 1,
            ["env_id"] = EnvId,
            ["obs_dim"] = Actor.ObsDim,
            ["act_dim"] = Actor.ActDim,
            ["hidden"] = new JsonArray(Actor.Mean.Hidden.Select(h => (JsonNode)h).ToArray()),
            ["activation"] = Actor.Mean.Act.ToString().ToLowerInvariant(),
            ["source"] = Source,
            ["o2o_version"] = typeof(ActorBundle).Assembly.GetName().Version?.ToString(),
            ["extra"] = Extra.DeepClone(),
        };
        StateDictFile.Save(path, tensors, meta);
    }

    /// <summary>
    /// Load an actor; when <paramref name="expectedEnvId"/> or dims are given they must match, else a
    /// one-line <see cref="UserError"/> names both values.
    /// </summary>
    public static ActorBundle Load(string path, string? expectedEnvId = null, int? obsDim = null, int? actDim = null)
    {
        var (tensors, meta) = StateDictFile.Load(path, "actor checkpoint");
        try
        {
            if (meta is null || (string?)meta["format"] != Format)
                throw new UserError($"'{path}' is not an O2O actor checkpoint (format " +
                    $"{(string?)meta?["format"] ?? "none"}); pass an actor checkpoint (a *_actor.pt written by " +
                    $"behaviour cloning or online training)");
            var env = (string)meta["env_id"]!;
            var od = (int)meta["obs_dim"]!;
            var ad = (int)meta["act_dim"]!;
            if (expectedEnvId is not null && !string.Equals(env, expectedEnvId, StringComparison.Ordinal))
                throw new UserError($"actor '{path}' was trained for {env}, not {expectedEnvId}; " +
                    $"use an actor trained on {expectedEnvId}");
            if (obsDim is not null && od != obsDim)
                throw new UserError($"actor '{path}' expects {od}-dim observations, the environment gives {obsDim}");
            if (actDim is not null && ad != actDim)
                throw new UserError($"actor '{path}' outputs {ad}-dim actions, the environment needs {actDim}");
            var hidden = meta["hidden"]!.AsArray().Select(n => (int)n!).ToArray();
            var act = Enum.Parse<Activation>((string)meta["activation"]!, ignoreCase: true);
            var actor = new GaussianActor(od, ad, hidden, act);
            var sd = actor.state_dict();
            using (no_grad())
                foreach (var (k, v) in sd)
                {
                    if (!tensors.TryGetValue(k, out var t))
                        throw new UserError($"actor '{path}' lacks '{k}'; the file is damaged, train it again");
                    if (!t.shape.SequenceEqual(v.shape))
                        throw new UserError($"actor '{path}': '{k}' has shape [{string.Join(",", t.shape)}], " +
                            $"expected [{string.Join(",", v.shape)}]");
                    v.copy_(t);
                }
            var norm = new RunningNorm(od);
            norm.Set(tensors["obs_rms.mean"].data<double>().ToArray(), tensors["obs_rms.var"].data<double>().ToArray(),
                tensors["obs_rms.count"].data<double>()[0]);
            return new ActorBundle(env, actor, norm, (string?)meta["source"] ?? "unknown")
            {
                Extra = meta["extra"]?.DeepClone().AsObject() ?? new JsonObject(),
            };
        }
        catch (Exception e) when (e is InvalidOperationException or NullReferenceException or KeyNotFoundException
                                   or FormatException or ArgumentException or IndexOutOfRangeException)
        {
            throw new UserError(
                $"actor checkpoint '{path}' has incomplete metadata ({e.Message}); save the actor again");
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    public void Dispose() => Actor.Dispose();
}
