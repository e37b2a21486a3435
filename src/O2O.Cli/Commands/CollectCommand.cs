using O2O.Core;
using O2O.Data;
using O2O.Experiments;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o data collect`: a D4RL-format dataset rolled out here (labelled as generated).</summary>
public static class CollectCommand
{
    public static readonly CommandSpec Spec = new(
        "data collect",
        "roll out a behaviour policy (random or a saved actor) into a D4RL-format HDF5 file",
        [
            new("env_id", "environment, e.g. Hopper-v4", Required: true),
            new("policy", "'random' or the path of an actor checkpoint (*_actor.pt)", "random"),
            new("quality", "instead of --policy: a D4RL quality made with our PPO (random, medium, expert, medium-replay, medium-expert)"),
            new("train_budget", "with --quality: most env steps the behaviour PPO trains for", "1000000"),
            new("deterministic", "act with the actor's mean instead of sampling", "false", IsFlag: true),
            new("steps", "transitions to collect", "1000000"),
            new("out", "output file (.hdf5, or .npz)", Required: true),
            CommonOptions.Seed,
        ],
        Execute);

    static int Execute(ParsedArgs a)
    {
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var policyArg = a.RequiredString("policy");
        BehaviourPolicy policy = policyArg.Equals("random", StringComparison.OrdinalIgnoreCase)
            ? new BehaviourPolicy.Random()
            : new BehaviourPolicy.Actor(policyArg, a.Bool("deterministic"));
        if (policy is BehaviourPolicy.Actor && !File.Exists(policyArg))
            throw new UserError($"--policy '{policyArg}' is neither 'random' nor an existing actor checkpoint");
        var steps = a.Int("steps", 1);
        var outPath = a.RequiredString("out");
        AtomicFile.EnsureWritableFolder(outPath, "--out");
        OfflineDataset ds;
        if (a.Has("quality"))
        {
            if (a.Has("policy")) throw new UsageError("give --quality or --policy, not both");
            var quality = a.Choice("quality", BehaviourDatasets.Qualities);
            var work = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, "behaviour");
            ds = BehaviourDatasets.Collect(new QualityOptions(env, quality, steps, a.Int("seed"), work, a.Long("train_budget", 2048)), Console.WriteLine);
            Console.WriteLine($"behaviour policies and their training logs: {work}");
        }
        else ds = DatasetCollector.Collect(new CollectOptions(env, policy, steps, a.Int("seed"), policy is BehaviourPolicy.Random ? "random" : "custom"), Console.WriteLine);
        if (outPath.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) DatasetIO.SaveNpz(outPath, ds);
        else DatasetIO.SaveHdf5(outPath, ds);
        var stats = DatasetStats.Compute(ds, Path.GetFileName(outPath));
        var norm = stats.NormalizedScore is double n ? $", normalised {n:F1}" : "";
        Console.WriteLine($"episodes {stats.Episodes}: return mean {stats.ReturnMean:F1} (min {stats.ReturnMin:F1}, max {stats.ReturnMax:F1}){norm}");
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }
}
