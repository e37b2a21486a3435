using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Learning.Checkpoints;
using O2O.Learning.Training;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// An offline agent as written by offline training: a PyTorch state dict with every network and the observation
/// normaliser, and metadata (format o2o.agent, the algorithm, env id, dims, widths, reward scale). Loading checks
/// that it is an agent of the expected algorithm for this environment, with one-line errors otherwise.
/// </summary>
public sealed class AgentFile : IDisposable
{
    public const string Format = "o2o.agent";

    AgentFile(TrainingState state, JsonObject meta)
    {
        State = state;
        Meta = meta;
    }

    /// <summary>The agent's tensors by state-dict key.</summary>
    public TrainingState State { get; }
    public JsonObject Meta { get; }
    public int[] Hidden => Meta["hidden"]!.AsArray().Select(n => (int)n!).ToArray();
    public double RewardScale => (double?)Meta["reward_scale"] ?? 1.0;

    /// <summary>Write <paramref name="state"/> as an agent of <paramref name="algo"/> with extra metadata.</summary>
    public static void Save(string path, TrainingState state, string algo, string envId, int obsDim, int actDim,
        IReadOnlyList<int> hidden, JsonObject extra)
    {
        var meta = new JsonObject
        {
            ["format"] = Format,
            ["algo"] = algo,
            ["env_id"] = envId,
            ["obs_dim"] = obsDim,
            ["act_dim"] = actDim,
            ["hidden"] = new JsonArray(hidden.Select(h => (JsonNode)h).ToArray()),
        };
        foreach (var (k, v) in extra) meta[k] = v?.DeepClone();
        StateDictFile.Save(path, state.Tensors, meta);
    }

    /// <summary>Load the agent at <paramref name="path"/>: one of <paramref name="algos"/>, for this env.</summary>
    public static AgentFile Load(string path, string envId, int obsDim, int actDim, params string[] algos)
    {
        if (!File.Exists(path))
            throw new OptionError($"InitAgent '{path}' does not exist; train an agent offline first", "InitAgent");
        var (tensors, meta) = StateDictFile.Load(path, "agent");
        var state = new TrainingState(tensors);
        try
        {
            var format = (string?)meta?["format"];
            if (format == ActorBundle.Format)
                throw new OptionError($"InitAgent '{path}' is an actor checkpoint (from BC or PPO), not an offline "
                    + "agent; pass the agent that offline training wrote", "InitAgent");
            if (meta is null || format != Format)
                throw new OptionError($"InitAgent '{path}' is not an O2O agent (format {format ?? "none"}); pass the "
                    + "agent that offline training wrote", "InitAgent");
            var algo = (string?)meta["algo"];
            if (!algos.Contains(algo))
                throw new OptionError($"InitAgent '{path}' was trained by {algo}, which this learner cannot continue; "
                    + $"pass an agent of {string.Join(" or ", algos)}", "InitAgent");
            if ((string?)meta["env_id"] != envId)
                throw new OptionError($"InitAgent '{path}' was trained for {(string?)meta["env_id"]}, not {envId}; "
                    + $"pass an agent trained on {envId}", "InitAgent");
            if ((int?)meta["obs_dim"] != obsDim || (int?)meta["act_dim"] != actDim)
                throw new UserError($"agent '{path}' has {(int?)meta["obs_dim"]} observation and "
                    + $"{(int?)meta["act_dim"]} action dims, the environment {obsDim} and {actDim}");
            return new AgentFile(state, meta);
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    public void Dispose() => State.Dispose();
}
