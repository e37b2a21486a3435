using O2O.Core;
using O2O.Learning.OffPolicy;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o train-offline`: an offline agent (IQL) on a dataset, logged and checkpointed as train-online.
/// </summary>
public static class TrainOfflineCommand
{
    public static readonly CommandSpec Spec = new(
        "train-offline",
        "pre-train an offline agent (IQL) on a D4RL dataset; writes the agent (every network and the normaliser)",
        [
            new("algo", "offline learner: iql (CQL and Cal-QL are not built yet)", "iql"),
            new("offline_path", "dataset: a D4RL .hdf5 or the notebook's .npz with rewards and terminals",
                Required: true),
            IqlFlags.Flag(nameof(IqlOptions.EnvId), "environment the data comes from, e.g. Hopper-v4", required: true,
                manual: true),
            IqlFlags.Flag(nameof(IqlOptions.Steps), "gradient updates in all", min: 1),
            IqlFlags.Flag(nameof(IqlOptions.AgentPath), "where to write the agent (.pt)", "out", required: true,
                manual: true),
            IqlFlags.Flag(nameof(IqlOptions.LogDir), "folder of the CSV log and checkpoints", "log_csv",
                note: "the folder of --out", manual: true),
            IqlFlags.Flag(nameof(IqlOptions.RunName), "name of the CSV and checkpoint", note: "the name of --out",
                manual: true),
            IqlFlags.Flag(nameof(IqlOptions.StepsPerEpoch), "updates per logged epoch", min: 1),
            IqlFlags.Flag(nameof(IqlOptions.BatchSize), "transitions per update", min: 1),
            IqlFlags.Flag(nameof(IqlOptions.Hidden), "hidden widths of actor, critics and value network"),
            IqlFlags.Flag(nameof(IqlOptions.Lr), "Adam learning rate (the actor's on a cosine schedule)",
                min: 1e-8, max: 1),
            IqlFlags.Flag(nameof(IqlOptions.Gamma), "discount", min: 0, max: 1),
            IqlFlags.Flag(nameof(IqlOptions.Tau), "Polyak factor of the target critics", min: 1e-9, max: 1),
            IqlFlags.Flag(nameof(IqlOptions.Beta), "inverse temperature of the advantage weights", min: 0, max: 1e3),
            IqlFlags.Flag(nameof(IqlOptions.Expectile), "expectile of V's regression onto Q", min: 1e-6,
                max: 1 - 1e-6),
            IqlFlags.Flag(nameof(IqlOptions.NormalizeReward), "scale rewards by 1000 / (max − min episode return)"),
            IqlFlags.Flag(nameof(IqlOptions.Seed), "random seed"),
            IqlFlags.Flag(nameof(IqlOptions.EvalEvery), "evaluate every N updates", min: 1),
            IqlFlags.Flag(nameof(IqlOptions.EvalEpisodes), "deterministic evaluation episodes", min: 0),
            IqlFlags.Flag(nameof(IqlOptions.TorchThreads), "libtorch threads (1 = reproducible)", min: 1, max: 256),
            new("resume", "continue the run from its last checkpoint", "false", IsFlag: true),
            CommonOptions.Device,
        ],
        Execute) { StopsOnCancel = true };

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        a.Choice("algo", "iql");
        var env = EnvRegistry.Get(a.RequiredString("env_id"));
        var agent = a.RequiredString("out");
        AtomicFile.EnsureWritableFolder(agent, "--out");
        var o = IqlFlags.Apply(a, new IqlOptions { EnvId = env.Id });
        o = o with
        {
            AgentPath = agent,
            LogDir = a.String("log_csv") ?? Path.GetDirectoryName(Path.GetFullPath(agent))!,
            RunName = a.String("run_name") ?? Path.GetFileNameWithoutExtension(agent),
        };
        o.Validate();
        CommonOptions.UseDevice(a);
        var data = TrainDsrCommand.LoadChecked(a.RequiredString("offline_path"), env, "--offline_path");
        ctx.Log($"train-offline: iql on {data.Count} rows of '{a.String("offline_path")}', {o.Steps} updates");
        using var trainer = new IqlTrainer(o, data, ctx.Log);
        ctx.Log($"rewards scaled by {trainer.RewardScale:G4}");
        var r = trainer.Run(a.Bool("resume"), ctx.Cancel);
        ctx.Log($"done: {r.EnvSteps} updates in {r.WallSeconds:F0}s; last eval {r.LastEvalMean:F1}, "
            + $"best {r.BestEvalMean:F1}");
        ctx.Log($"log: {r.CsvPath}");
        ctx.Log($"agent: {r.FinalActorPath}");
        return 0;
    }
}
