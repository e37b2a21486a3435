using O2O.Core;
using O2O.Data;
using O2O.Experiments;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o data collect`: a D4RL- or Minari-format dataset rolled out here (labelled as generated).</summary>
public static class CollectCommand
{
    public static readonly CommandSpec Spec = new(
        "data collect",
        "roll out a behaviour policy (random or a saved actor) into a D4RL-format HDF5 file or a Minari dataset",
        [
            CommonOptions.EnvId(),
            new("policy", "'random' or the path of an actor checkpoint (*_actor.pt)", "random"),
            new("quality", "instead of --policy: a D4RL quality made with our PPO "
                + "(random, medium, expert, medium-replay, medium-expert)"),
            QualityFlags.Flag(nameof(QualityOptions.TrainBudget),
                "with --quality: most env steps the behaviour PPO trains for",
                min: 2048, manual: true),
            QualityFlags.Flag(nameof(QualityOptions.Recipe), "with --quality: how the behaviour policy is made: "
                + "ppo-matched-v2 (bounded std, stopped on the stochastic policy at D4RL's score; docs/data.md) or "
                + "ppo-third-v1 (the recipe before it)", manual: true),
            QualityFlags.Flag(nameof(QualityOptions.Target), "with --quality medium|medium-replay: the normalised "
                + "score that stops the behaviour training", nullWord: "the recipe's", min: 0, max: 200, manual: true),
            QualityFlags.Flag(nameof(QualityOptions.LogStdMax), "with --quality: bound of the behaviour policy's "
                + "log-std", nullWord: "the recipe's", min: -20, max: 2, manual: true),
            new("deterministic", "act with the actor's mean instead of sampling", "false", IsFlag: true),
            CollectFlags.Flag(nameof(CollectOptions.Steps), "transitions to collect", min: 1, manual: true),
            new("out", "output file (.hdf5, or .npz) for d4rl; the dataset folder for minari", Required: true),
            new("format", "d4rl (one file) or minari (a folder: data/main_data.hdf5 and data/metadata.json)",
                "d4rl"),
            new("dataset_id", "with --format minari: the dataset's id (default o2o/ENV/QUALITY-v0)"),
            CollectFlags.Flag(nameof(CollectOptions.Seed), "random seed", manual: true),
            CollectFlags.Flag(nameof(CollectOptions.EnvsPerWorker),
                "envs each of the 2 workers steps in lockstep, acting for all with one policy pass; each count gives "
                + "its own dataset per seed (1 = the files of earlier builds, bit for bit)", min: 1,
                max: DatasetCollector.MaxEnvsPerWorker,
                manual: true),
        ],
        Execute);

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var policyArg = a.RequiredString("policy");
        BehaviourPolicy policy = policyArg.Equals("random", StringComparison.OrdinalIgnoreCase)
            ? new BehaviourPolicy.Random()
            : new BehaviourPolicy.Actor(policyArg, a.Bool("deterministic"));
        foreach (var f in (string[])["recipe", "target", "log_std_max"])
            if (a.Has(f) && !a.Has("quality")) throw new UsageError($"--{f} needs --quality");
        if (policy is BehaviourPolicy.Actor && !File.Exists(policyArg))
            throw new UserError($"--policy '{policyArg}' is neither 'random' nor an existing actor checkpoint");
        var steps = a.Int("steps", 1);
        var outPath = a.RequiredString("out");
        var minari = a.Choice("format", "d4rl", "minari") == "minari";
        if (!minari && a.Has("dataset_id")) throw new UsageError("--dataset_id needs --format minari");
        if (minari && File.Exists(outPath))
            throw new UserError($"--out '{outPath}' is a file; with --format minari give a folder for the dataset");
        AtomicFile.EnsureWritableFolder(minari ? Path.Combine(outPath, "data", "x") : outPath, "--out");
        OfflineDataset ds;
        if (a.Has("quality"))
        {
            if (a.Has("policy")) throw new UsageError("give --quality or --policy, not both");
            if (a.Has("envs_per_worker"))
                throw new UsageError("--envs_per_worker goes with --policy; --quality collects with its default");
            var quality = a.Choice("quality", BehaviourDatasets.Qualities);
            var work = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, "behaviour");
            var recipe = DatasetRecipe.Get(a.String("recipe") ?? DatasetRecipe.Matched.Id);
            var options = new QualityOptions(env, quality, steps, a.Int("seed"), work, a.Long("train_budget", 2048))
            {
                Recipe = recipe.Id,
                Target = a.Has("target") ? a.Double("target", 0, 200) : null,
                LogStdMax = a.Has("log_std_max") ? a.Double("log_std_max", -20, 2) : null,
            };
            ds = BehaviourDatasets.Collect(options, ctx.Log);
            ctx.Log($"behaviour policies and their training logs: {work}");
        }
        else
        {
            var label = policy is BehaviourPolicy.Random ? "random" : "custom";
            ds = DatasetCollector.Collect(
                new CollectOptions(env, policy, steps, a.Int("seed"), label, a.Int("envs_per_worker")), ctx.Log);
        }
        if (minari)
        {
            var quality = ds.Metadata.TryGetValue("quality", out var q) ? q : "custom";
            var id = a.String("dataset_id")
                ?? $"o2o/{env[..env.LastIndexOf("-v", StringComparison.Ordinal)].ToLowerInvariant()}/{quality}-v0";
            Minari.Save(outPath, ds, new MinariWriteInfo(id, env, DatasetEnv.SpecJson(env)));
        }
        else if (outPath.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) DatasetIO.SaveNpz(outPath, ds);
        else DatasetIO.SaveHdf5(outPath, ds);
        var stats = DatasetStats.Compute(ds, Path.GetFileName(outPath));
        var norm = stats.NormalizedScore is double n ? $", normalised {n:F1}" : "";
        ctx.Log($"episodes {stats.Episodes}: return mean {stats.ReturnMean:F1} "
            + $"(min {stats.ReturnMin:F1}, max {stats.ReturnMax:F1}){norm}");
        ctx.Log($"wrote {outPath}");
        return 0;
    }
}
