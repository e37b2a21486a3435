using O2O.Data;
using O2O.Learning;
using O2O.Learning.OffPolicy;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o eval`: return and D4RL-normalised score of any actor or agent a learner wrote.</summary>
public static class EvalCommand
{
    public static readonly CommandSpec Spec = new(
        "eval",
        "evaluate an actor (BC, PPO, SAC) or an agent (IQL, CQL, Cal-QL) in its environment",
        [
            CommonOptions.EnvId(),
            new("actor", "an actor (*_actor.pt) or an agent (*_agent.pt) written by o2o", Required: true),
            new("episodes", "episodes to run", "10"),
            new("deterministic", "act with the mean (true) or sample (false)", "true", IsFlag: true),
            new("seed", "random seed", "1"),
            CommonOptions.Device,
        ],
        Execute);

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var spec = EnvRegistry.Get(a.RequiredString("env_id"));
        var episodes = a.Int("episodes", 1);
        var deterministic = a.Bool("deterministic");
        var seed = a.Int("seed");
        CommonOptions.UseDevice(a);
        using var policy = PolicyFile.Load(a.RequiredString("actor"), spec);
        var r = Evaluation.Run(spec.Id, policy.Create, episodes, seed, deterministic);
        ctx.Log($"{spec.Id} ({policy.Kind}): return {r.Mean:F1} ± {r.Std:F1} (min {r.Returns.Min():F1}, "
            + $"max {r.Returns.Max():F1}) over {episodes} episodes, mean length {r.MeanLength:F0}");
        if (D4rlScores.TryGetReference(spec.Id, out _, out _))
            ctx.Log($"D4RL normalised score: {D4rlScores.Normalize(spec.Id, r.Mean):F1}");
        return 0;
    }
}
