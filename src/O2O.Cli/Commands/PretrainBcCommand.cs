using O2O.Core;
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
            .. CommonOptions.OfflineData,
            new("out_actor", "where to write the actor checkpoint (.pt)", Required: true),
            CommonOptions.Device,
            BcFlags.Flag(nameof(BcOptions.Epochs), "passes over the data", min: 1),
            BcFlags.Flag(nameof(BcOptions.BatchSize), "minibatch size", min: 1),
            BcFlags.Flag(nameof(BcOptions.Lr), "Adam learning rate", min: 1e-8, max: 1),
            BcFlags.Flag(nameof(BcOptions.Hidden), "hidden widths of the actor, comma-separated"),
            BcFlags.Flag(nameof(BcOptions.Holdout), "fraction held out for the validation loss", min: 0, max: 0.49),
            BcFlags.Flag(nameof(BcOptions.EvalEpisodes),
                "deterministic evaluation episodes at the end (0 skips)", min: 0),
            BcFlags.Flag(nameof(BcOptions.Seed), "random seed"),
            new("threads", "threads, 0 = every core (each minibatch is split over them); a given count gives the same "
                + "actor on every run and records it (1 = the actors of builds before 2026-11-28)", "0"),
        ],
        Execute);

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var options = BcFlags.Apply(a, new BcOptions { EnvId = CommonOptions.OfflineEnv(a).Id })
            with { TorchThreads = O2O.Learning.Runtime.TorchRuntime.ResolveThreads(a.Int("threads", 0, 256)) };
        var outPath = a.RequiredString("out_actor");
        CommonOptions.UseDevice(a);
        AtomicFile.EnsureWritableFolder(outPath, "--out_actor");
        var data = DatasetIO.Load(a.RequiredString("offline_path"));
        if (data.Count == 0) throw new UserError("the dataset has no rows");
        ctx.Log($"pretrain-bc: {data.Count} transitions, obs {data.ObsDim}, act {data.ActDim}, env {options.EnvId}");
        var result = BehaviourCloning.Train(options, data, ctx.Log);
        using var actor = result.Actor;
        actor.Save(outPath);
        ctx.Log($"bc: {result.SamplesPerSecond:F0} samples/s on {options.TorchThreads} libtorch thread(s)");
        if (result.Eval is { } ev)
        {
            var norm = Minari.ReferenceScores(data.Metadata) is var (lo, hi)
                ? $" (normalised {100 * (ev.Mean - lo) / (hi - lo):F1} by the dataset's reference returns)"
                : D4rlScores.TryGetReference(options.EnvId, out _, out _)
                    ? $" (D4RL normalised {D4rlScores.Normalize(options.EnvId, ev.Mean):F1})" : "";
            ctx.Log($"bc eval: return {ev.Mean:F1} ± {ev.Std:F1} over {ev.Returns.Length} episodes{norm}, "
                + $"mean length {ev.MeanLength:F0}");
        }
        ctx.Log($"wrote {outPath}");
        return 0;
    }
}
