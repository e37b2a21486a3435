using O2O.Core;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Training;
using O2O.Sim;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// A policy loaded from any file a learner writes: a BC or PPO actor (o2o.actor), a SAC actor (o2o.sac-actor), or
/// an offline or fine-tuned agent (o2o.agent: IQL's Gaussian actor, CQL's and Cal-QL's squashed one, each with
/// the observation normaliser it learned with). <see cref="Create"/> makes one policy per evaluation thread.
/// </summary>
public sealed class PolicyFile : IDisposable
{
    /// <summary>The format SAC writes its actor in (<see cref="SacLearner.SaveActor"/>).</summary>
    public const string SacActorFormat = "o2o.sac-actor";

    readonly Func<IPolicy> create;
    readonly IDisposable owner;

    PolicyFile(string kind, Func<IPolicy> create, IDisposable owner)
    {
        Kind = kind;
        this.create = create;
        this.owner = owner;
    }

    /// <summary>What the file holds, e.g. "ppo actor", "cql agent".</summary>
    public string Kind { get; }

    public IPolicy Create() => create();

    /// <summary>Load <paramref name="path"/> for <paramref name="spec"/>, with one-line errors for anything else.
    /// </summary>
    public static PolicyFile Load(string path, EnvSpec spec)
    {
        string? format, env;
        int? obsDim, actDim;
        var (tensors, meta) = StateDictFile.Load(path, "policy file");
        using (var peek = new TrainingState(tensors))
        {
            format = (string?)meta?["format"];
            env = (string?)meta?["env_id"];
            obsDim = (int?)meta?["obs_dim"];
            actDim = (int?)meta?["act_dim"];
        }
        if (format is not (ActorBundle.Format or SacActorFormat or AgentFile.Format))
            throw new UserError($"'{path}' is not an O2O actor or agent (format {format ?? "none"}); pass a "
                + "*_actor.pt or *_agent.pt written by o2o");
        if (env != spec.Id)
            throw new UserError($"'{path}' was trained for {env}, not {spec.Id}; use one trained on {spec.Id}");
        if (obsDim != spec.ObsDim || actDim != spec.ActDim)
            throw new UserError($"'{path}' has {obsDim} observation and {actDim} action dims, {spec.Id} has "
                + $"{spec.ObsDim} and {spec.ActDim}");
        return format switch
        {
            ActorBundle.Format => FromBundle(ActorBundle.Load(path, spec.Id, spec.ObsDim, spec.ActDim)),
            SacActorFormat => SacActor(path, meta!, spec),
            _ => Agent(AgentFile.Load(path, spec.Id, spec.ObsDim, spec.ActDim, "iql", "cql", "calql"), spec),
        };
    }

    static PolicyFile FromBundle(ActorBundle bundle) =>
        new($"{bundle.Source} actor", () => new PolicyRunner(bundle), bundle);

    static PolicyFile SacActor(string path, System.Text.Json.Nodes.JsonObject meta, EnvSpec spec)
    {
        var hidden = meta["hidden"]!.AsArray().Select(n => (int)n!).ToArray();
        var actor = new SquashedGaussianActor(spec.ObsDim, spec.ActDim, hidden);
        var (tensors, _) = StateDictFile.Load(path, "SAC actor");
        using (var state = new TrainingState(tensors)) state.CopyInto("", actor);
        return new PolicyFile("sac actor", () => new SquashedPolicy(actor), actor);
    }

    static PolicyFile Agent(AgentFile agent, EnvSpec spec)
    {
        using (agent)
        {
            var algo = (string)agent.Meta["algo"]!;
            var norm = OfflineTransitions.AgentNorm(agent.State, spec.ObsDim);
            if (algo == "iql")
            {
                var gaussian = new GaussianActor(spec.ObsDim, spec.ActDim, agent.Hidden, Activation.Relu);
                agent.State.CopyInto("actor.", gaussian);
                return new PolicyFile("iql agent", () => new PolicyRunner(gaussian, norm), gaussian);
            }
            var squashed = new SquashedGaussianActor(spec.ObsDim, spec.ActDim, agent.Hidden);
            agent.State.CopyInto("actor.", squashed);
            return new PolicyFile($"{algo} agent", () => new SquashedPolicy(squashed, norm), squashed);
        }
    }

    public void Dispose() => owner.Dispose();
}
