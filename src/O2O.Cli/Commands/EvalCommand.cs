using O2O.Data;
using O2O.Learning;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o eval`: return and D4RL-normalised score of any actor checkpoint.</summary>
public static class EvalCommand
{
    public static readonly CommandSpec Spec = new(
        "eval",
        "evaluate an actor checkpoint (BC or PPO) in its environment",
        [
            CommonOptions.EnvId(),
            new("actor", "actor checkpoint (*_actor.pt)", Required: true),
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
        using var bundle = ActorBundle.Load(a.RequiredString("actor"), spec.Id, spec.ObsDim, spec.ActDim);
        var r = Evaluation.Run(spec.Id, () => new PolicyRunner(bundle), episodes, seed, deterministic);
        ctx.Log($"{spec.Id}: return {r.Mean:F1} ± {r.Std:F1} (min {r.Returns.Min():F1}, max {r.Returns.Max():F1}) "
            + $"over {episodes} episodes, mean length {r.MeanLength:F0}");
        if (D4rlScores.TryGetReference(spec.Id, out _, out _))
            ctx.Log($"D4RL normalised score: {D4rlScores.Normalize(spec.Id, r.Mean):F1}");
        return 0;
    }
}
