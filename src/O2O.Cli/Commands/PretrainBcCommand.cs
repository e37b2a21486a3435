using O2O.Data;
using O2O.Learning.Bc;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o pretrain-bc`: the notebook's pretrain_bc.py — behaviour cloning to warm-start the actor.</summary>
public static class PretrainBcCommand
{
    public static readonly CommandSpec Spec = new(
        "pretrain-bc",
        "behaviour cloning on an offline dataset; writes an actor checkpoint for --init_actor",
        [
            new("offline_path", "dataset: the notebook's .npz (states/actions) or a D4RL .hdf5", Required: true),
            new("env_id", "environment the data comes from, e.g. Hopper-v4", Required: true),
            new("out_actor", "where to write the actor checkpoint (.pt)", Required: true),
            CommonOptions.Device,
            new("epochs", "passes over the data", "20"),
            new("batch_size", "minibatch size", "1024"),
            new("lr", "Adam learning rate", "0.001"),
            new("hidden", "hidden widths of the actor, comma-separated", "256,256"),
            new("holdout", "fraction held out for the validation loss", "0.05"),
            new("eval_episodes", "deterministic evaluation episodes at the end (0 skips)", "10"),
            CommonOptions.Seed,
        ],
        Execute);

    static int Execute(ParsedArgs a)
    {
        var options = new BcOptions
        {
            EnvId = EnvRegistry.Get(a.RequiredString("env_id")).Id,
            Epochs = a.Int("epochs", 1),
            BatchSize = a.Int("batch_size", 1),
            Lr = a.Double("lr", 1e-8, 1),
            Hidden = CommonOptions.Widths(a, "hidden"),
            Holdout = a.Double("holdout", 0, 0.49),
            EvalEpisodes = a.Int("eval_episodes", 0),
            Seed = a.Int("seed"),
        };
        var outPath = a.RequiredString("out_actor");
        CommonOptions.UseDevice(a);
        O2O.Core.AtomicFile.EnsureWritableFolder(outPath, "--out_actor");
        var data = DatasetIO.Load(a.RequiredString("offline_path"));
        if (data.Count == 0) throw new O2O.Core.UserError("the dataset has no rows");
        Console.WriteLine($"pretrain-bc: {data.Count} transitions, obs {data.ObsDim}, act {data.ActDim}, env {options.EnvId}");
        var result = BehaviourCloning.Train(options, data, Console.WriteLine);
        using var actor = result.Actor;
        actor.Save(outPath);
        Console.WriteLine($"bc: {result.SamplesPerSecond:F0} samples/s");
        if (result.Eval is { } ev)
        {
            var norm = D4rlScores.TryGetReference(options.EnvId, out _, out _) ? $" (normalised {D4rlScores.Normalize(options.EnvId, ev.Mean):F1})" : "";
            Console.WriteLine($"bc eval: return {ev.Mean:F1} ± {ev.Std:F1} over {ev.Returns.Length} episodes{norm}, mean length {ev.MeanLength:F0}");
        }
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }
}
