using O2O.Core;
using O2O.Data;
using O2O.Learning.Training;
using O2O.Learning.OffPolicy;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>
/// `o2o train-offline`: an offline agent (IQL, CQL or Cal-QL) on a dataset, logged and checkpointed as
/// train-online. Flags shared by the learners are bound to <see cref="IqlOptions"/> and carried over to
/// <see cref="CqlOptions"/> when given, so each learner keeps its own defaults.
/// </summary>
public static class TrainOfflineCommand
{
    public static readonly CommandSpec Spec = new(
        "train-offline",
        "pre-train an offline agent (IQL, CQL, Cal-QL) on a D4RL dataset; writes the agent (networks, normaliser)",
        [
            new("algo", "offline learner: iql, cql, or calql (CQL with Monte-Carlo lower bounds)", "iql"),
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
            IqlFlags.Flag(nameof(IqlOptions.Lr),
                "Adam learning rate (IQL: the actor's on a cosine schedule; CQL: the critics')",
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
            CqlFlags.Flag(nameof(CqlOptions.ConservativeWeight), "CQL: weight α of the conservative term",
                min: 0, max: 1e6),
            CqlFlags.Flag(nameof(CqlOptions.SampledActions), "CQL: actions sampled per state and kind", min: 1,
                max: 1000),
            CqlFlags.Flag(nameof(CqlOptions.CqlTemperature), "CQL: temperature of the logsumexp", min: 1e-6,
                max: 1e6),
            CqlFlags.Flag(nameof(CqlOptions.ActorLr), "CQL: learning rate of actor and temperature", min: 1e-8,
                max: 1, note: "3e-5"),
            CqlFlags.Flag(nameof(CqlOptions.BackupEntropy), "CQL: subtract α·log π in the Bellman target"),
            CqlFlags.Flag(nameof(CqlOptions.TargetEntropy), "CQL: target entropy of the automatic temperature",
                min: -1e6, max: 1e6, note: "−|A|"),
            new("resume", "continue the run from its last checkpoint", "false", IsFlag: true),
            CommonOptions.Device,
        ],
        Execute) { StopsOnCancel = true, Resume = ResumeStyle.ResumeFlag };

    /// <summary>Flags only CQL and Cal-QL take.</summary>
    static readonly string[] CqlOnly =
        ["conservative_weight", "sampled_actions", "cql_temperature", "actor_lr", "backup_entropy", "target_entropy"];

    /// <summary>Flags only IQL takes.</summary>
    static readonly string[] IqlOnly = ["beta", "expectile"];

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var algo = a.Choice("algo", "iql", "cql", "calql");
        if (algo == "iql" && CqlOnly.FirstOrDefault(a.Has) is { } cqlFlag)
            throw new UsageError($"--{cqlFlag} is a CQL setting; drop it or use --algo cql or calql");
        if (algo != "iql" && IqlOnly.FirstOrDefault(a.Has) is { } iqlFlag)
            throw new UsageError($"--{iqlFlag} is an IQL setting; drop it or use --algo iql");
        var env = CommonOptions.OfflineEnv(a);
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
        var cql = algo == "iql" ? null : CqlFrom(a, o, algo == "calql");
        CommonOptions.UseDevice(a);
        var data = TrainDsrCommand.LoadChecked(a.RequiredString("offline_path"), env, "--offline_path");
        ctx.Log($"train-offline: {algo} on {data.Count} rows of '{a.String("offline_path")}', {o.Steps} updates");
        var r = cql is null ? RunIql(ctx, o, data) : RunCql(ctx, cql, data);
        ctx.Log($"done: {r.EnvSteps} updates in {r.WallSeconds:F0}s; last eval {r.LastEvalMean:F1}, "
            + $"best {r.BestEvalMean:F1}");
        ctx.Log($"log: {r.CsvPath}");
        ctx.Log($"agent: {r.FinalActorPath}");
        return 0;
    }

    static RunResult RunIql(CommandContext ctx, IqlOptions o, OfflineDataset data)
    {
        using var trainer = new IqlTrainer(o, data, ctx.Log);
        ctx.Log($"rewards scaled by {trainer.RewardScale:G4}");
        return trainer.Run(ctx.Args.Bool("resume"), ctx.Cancel);
    }

    static RunResult RunCql(CommandContext ctx, CqlOptions o, OfflineDataset data)
    {
        using var trainer = new CqlTrainer(o, data, ctx.Log);
        ctx.Log($"rewards scaled by {trainer.RewardScale:G4}");
        return trainer.Run(ctx.Args.Bool("resume"), ctx.Cancel);
    }

    /// <summary>CQL options: CqlOptions' defaults, the CQL flags, and the shared flags that were given.</summary>
    static CqlOptions CqlFrom(ParsedArgs a, IqlOptions shared, bool calibrated)
    {
        var d = new CqlOptions();
        var o = CqlFlags.Apply(a, new CqlOptions { EnvId = shared.EnvId, Calibrated = calibrated }) with
        {
            Steps = a.Has("steps") ? shared.Steps : d.Steps,
            StepsPerEpoch = a.Has("steps_per_epoch") ? shared.StepsPerEpoch : d.StepsPerEpoch,
            BatchSize = a.Has("batch_size") ? shared.BatchSize : d.BatchSize,
            Hidden = a.Has("hidden") ? shared.Hidden : d.Hidden,
            Lr = a.Has("lr") ? shared.Lr : d.Lr,
            Gamma = a.Has("gamma") ? shared.Gamma : d.Gamma,
            Tau = a.Has("tau") ? shared.Tau : d.Tau,
            NormalizeReward = a.Has("normalize_reward") ? shared.NormalizeReward : d.NormalizeReward,
            Seed = a.Has("seed") ? shared.Seed : d.Seed,
            EvalEvery = a.Has("eval_every") ? shared.EvalEvery : d.EvalEvery,
            EvalEpisodes = a.Has("eval_episodes") ? shared.EvalEpisodes : d.EvalEpisodes,
            TorchThreads = a.Has("torch_threads") ? shared.TorchThreads : d.TorchThreads,
            AgentPath = shared.AgentPath,
            LogDir = shared.LogDir,
            RunName = shared.RunName,
        };
        o.Validate();
        return o;
    }
}
