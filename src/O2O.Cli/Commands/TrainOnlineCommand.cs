using System.Globalization;
using O2O.Core;
using O2O.Learning.Dsr;
using O2O.Learning.OffPolicy;
using O2O.Learning.Ppo;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>
/// `o2o train-online`: the notebook's train_online.py — PPO in the environment (`--algo ppo`, the default), or
/// SAC (`--algo sac`). Flags shared by both (budget, seed, learning rate, widths, logs) keep each algorithm's
/// own default unless given; the SAC-only flags are bound to <see cref="SacOptions"/>. --dsr_path and the shaping
/// flags work with every algorithm (SAC and IQL: <see cref="OffPolicySupport"/>).
/// </summary>
public static class TrainOnlineCommand
{
    public static readonly CommandSpec Spec = new(
        "train-online",
        "online PPO (or SAC) in the environment, optionally warm-started from a BC actor",
        [
            PpoFlags.Flag(nameof(PpoOptions.EnvId), "environment, e.g. Hopper-v4", required: true, manual: true),
            new("algo", "learner: ppo (the notebook's), sac, or iql (fine-tunes an offline IQL agent)", "ppo"),
            new("dsr_path", "frozen DSR checkpoint that shapes rewards (pessimism + frontier bonus)"),
            PpoFlags.Flag(nameof(PpoOptions.TotalSteps), "environment steps in all", min: 1),
            PpoFlags.Flag(nameof(PpoOptions.StepsPerEpoch), "environment steps per PPO epoch (rollout)", min: 1),
            PpoFlags.Flag(nameof(PpoOptions.MinibatchSize), "minibatch size of the update", min: 1),
            PpoFlags.Flag(nameof(PpoOptions.TrainIters), "passes over each rollout", min: 1),
            CommonOptions.Device,
            PpoFlags.Flag(nameof(PpoOptions.LogDir), "folder for DIR/<run_name>.csv (or a path ending in .csv)",
                "log_csv", manual: true),
            PpoFlags.Flag(nameof(PpoOptions.InitActor), "actor checkpoint to start from (e.g. from pretrain-bc)"),
            PpoFlags.Flag(nameof(PpoOptions.Seed), "random seed"),
            PpoFlags.Flag(nameof(PpoOptions.NumEnvs), "parallel environments", min: 1, max: 1024),
            PpoFlags.Flag(nameof(PpoOptions.Lr), "Adam learning rate (annealed linearly)", min: 1e-8, max: 1),
            PpoFlags.Flag(nameof(PpoOptions.ActorLr),
                "PPO: learning rate of the actor alone, annealed alike (the critic keeps --lr)", min: 1e-8, max: 1,
                note: "--lr"),
            PpoFlags.Flag(nameof(PpoOptions.AnnealLr), "anneal the learning rate to 0"),
            PpoFlags.Flag(nameof(PpoOptions.Gamma), "discount", min: 0, max: 1),
            PpoFlags.Flag(nameof(PpoOptions.GaeLambda), "GAE λ", min: 0, max: 1),
            PpoFlags.Flag(nameof(PpoOptions.Clip), "PPO clip range", min: 1e-6, max: 10),
            PpoFlags.Flag(nameof(PpoOptions.EntCoef), "entropy bonus coefficient", min: 0, max: 10),
            PpoFlags.Flag(nameof(PpoOptions.VfCoef), "value loss coefficient", min: 0, max: 100),
            PpoFlags.Flag(nameof(PpoOptions.MaxGradNorm), "gradient norm clip", min: 1e-6, max: 1e6),
            PpoFlags.Flag(nameof(PpoOptions.TargetKl), "stop an update early above this approx-KL",
                min: 1e-9, max: 10, note: "off"),
            PpoFlags.Flag(nameof(PpoOptions.Hidden),
                "hidden widths of actor and critic (actor from --init_actor keeps its own)"),
            PpoFlags.Flag(nameof(PpoOptions.ObsNorm), "running or frozen", choices: ["running", "frozen"],
                note: "frozen with --init_actor, else running"),
            PpoFlags.Flag(nameof(PpoOptions.CriticWarmup),
                "epochs of value-only updates before the actor moves", min: 0),
            PpoFlags.Flag(nameof(PpoOptions.CriticPretrainData),
                "PPO with --init_actor: offline dataset whose discounted returns the critic is fitted to before "
                + "epoch 1 (Uni-O4's recipe)", note: "none: the critic starts fresh"),
            PpoFlags.Flag(nameof(PpoOptions.CriticPretrainSteps),
                "Adam steps of that fit (minibatches of 256, learning rate --lr)", min: 1),
            PpoFlags.Flag(nameof(PpoOptions.EvalEvery),
                "evaluate every N env steps", min: 1, note: "every epoch", manual: true),
            PpoFlags.Flag(nameof(PpoOptions.EvalEpisodes), "deterministic evaluation episodes", min: 0),
            PpoFlags.Flag(nameof(PpoOptions.RunName), "name of the CSV, checkpoint and final actor",
                note: "ENV_ppo_sSEED", manual: true),
            PpoFlags.Flag(nameof(PpoOptions.CheckpointDir),
                "folder of checkpoints", "ckpt_dir", note: "the log folder"),
            PpoFlags.Flag(nameof(PpoOptions.TensorboardDir),
                "also write TensorBoard events to this folder", "tensorboard"),
            new("resume", "continue the run from its last checkpoint", "false", IsFlag: true),
            ShapingFlags.Flag(nameof(DsrShapingOptions.Support), "DSR support mode: joint, conditional, state or gated",
                note: "the one the DSR was trained to recommend"),
            ShapingFlags.Flag(nameof(DsrShapingOptions.Beta), "pessimism scale β₀: 'auto' or a number",
                min: 0, max: 1e6, nullWord: "auto"),
            ShapingFlags.Flag(nameof(DsrShapingOptions.BetaFrac),
                "with --beta auto: first rollout's mean penalty term as a fraction of its mean reward",
                min: 0, max: 10),
            ShapingFlags.Flag(nameof(DsrShapingOptions.Eta), "frontier bonus scale η₀", min: 0, max: 1e6),
            ShapingFlags.Flag(nameof(DsrShapingOptions.Pessimism),
                "reward (r − β·c·p) or value (critic loss + β·E[p·V]; SAC/IQL: β·E[p·Q(s, a' ~ π)])",
                choices: ["reward", "value"]),
            ShapingFlags.Flag(nameof(DsrShapingOptions.Anneal),
                "linear (to 0 over --anneal_frac of the budget) or none",
                choices: ["linear", "none"]),
            ShapingFlags.Flag(nameof(DsrShapingOptions.AnnealFrac),
                "fraction of the budget over which β and η anneal",
                min: 1e-6, max: 1),
            ShapingFlags.Flag(nameof(DsrShapingOptions.RewardScale), "c in the shaped reward",
                min: 1e-9, max: 1e9, note: "the DSR's offline mean |r|"),
            ShapingFlags.Flag(nameof(DsrShapingOptions.MetricsOnly),
                "plain PPO: the DSR (if given) only measures support, it shapes nothing", "no_dsr"),
            PpoFlags.Flag(nameof(PpoOptions.TorchThreads), "libtorch threads (1 = reproducible)", min: 1, max: 256),
            PpoFlags.Flag(nameof(PpoOptions.EnvThreads), "threads stepping environments (0 = cores)", min: 0, max: 256),
            SacFlags.Flag(nameof(SacOptions.BatchSize), "SAC: transitions per gradient update", min: 1),
            SacFlags.Flag(nameof(SacOptions.Tau), "SAC: Polyak factor of the target critics", min: 1e-9, max: 1),
            SacFlags.Flag(nameof(SacOptions.LearningStarts),
                "SAC: uniformly random steps before the policy acts and updates start", min: 0),
            SacFlags.Flag(nameof(SacOptions.BufferSize), "SAC: online transitions the replay buffer keeps", min: 1),
            SacFlags.Flag(nameof(SacOptions.Alpha), "SAC: entropy temperature α, or auto", min: 0, max: 1e6,
                nullWord: "auto"),
            SacFlags.Flag(nameof(SacOptions.TargetEntropy), "SAC: target entropy of the automatic α",
                min: -1e6, max: 1e6, note: "−|A|"),
            IqlFlags.Flag(nameof(IqlOptions.InitAgent),
                "offline agent to fine-tune (from train-offline): IQL's with --algo iql, CQL's or Cal-QL's with sac"),
            IqlFlags.Flag(nameof(IqlOptions.OfflineData),
                "with --init_agent: keep the offline data in the replay buffer, or drop it (start empty)",
                choices: ["keep", "drop"]),
            new("offline_path", "with --offline_data keep: the dataset the agent was trained on"),
            IqlFlags.Flag(nameof(IqlOptions.MixingRatio),
                "with --init_agent: share of each batch from the offline data, or uniform (one pool)", min: 0, max: 1,
                nullWord: "uniform"),
            IqlFlags.Flag(nameof(IqlOptions.WarmupSteps),
                "with --init_agent: env steps acted by the agent before the first update (WSRL's warm-up)", min: 0),
            CqlFlags.Flag(nameof(CqlOptions.KeepConservative),
                "SAC from a CQL/Cal-QL agent: keep the conservative term online (Cal-QL's fine-tuning)"),
        ],
        Execute) { StopsOnCancel = true, Resume = ResumeStyle.ResumeFlag };

    /// <summary>Build PPO options from the command line.</summary>
    internal static PpoOptions Options(ParsedArgs a)
    {
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var o = PpoFlags.Apply(a, new PpoOptions { EnvId = env });
        var logCsv = a.RequiredString("log_csv");
        var isFile = logCsv.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        var runName = a.String("run_name")
            ?? (isFile ? Path.GetFileNameWithoutExtension(logCsv) : $"{env}_ppo_s{o.Seed}");
        if (runName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || runName.Length == 0)
            throw new UsageError($"--run_name '{runName}' must be a plain file name");
        o = o with
        {
            EvalEvery = a.Has("eval_every") ? a.Long("eval_every", 1) : o.StepsPerEpoch,
            RunName = runName,
            LogDir = isFile ? Path.GetDirectoryName(Path.GetFullPath(logCsv))! : logCsv,
            CsvPath = isFile ? logCsv : null,
        };
        o.Validate();
        if (o.InitActor is not null && !File.Exists(o.InitActor))
            throw new UserError(
                $"--init_actor '{o.InitActor}' does not exist; run 'o2o pretrain-bc' first or drop the flag");
        if (a.Has("critic_pretrain_steps") && o.CriticPretrainData is null)
            throw new UsageError("--critic_pretrain_steps needs --critic_pretrain_data (the offline dataset)");
        if (o.CriticPretrainData is { } data && !File.Exists(data) && O2O.Data.Minari.Locate(data) is null)
            throw new UserError($"--critic_pretrain_data '{data}' does not exist; give the offline dataset "
                + $"(D4RL HDF5 or NPZ) of {env}");
        return o;
    }

    /// <summary>DSR shaping settings from the command line.</summary>
    internal static DsrShapingOptions ShapingOptions(ParsedArgs a)
    {
        var s = ShapingFlags.Apply(a, new DsrShapingOptions());
        s.Validate();
        return s;
    }

    /// <summary>Load a DSR for <paramref name="envId"/>, with one-line errors for the wrong file or env.</summary>
    internal static SupportModel LoadDsr(string path, string envId)
    {
        var spec = EnvRegistry.Get(envId);
        return SupportModel.Load(path, spec.Id, spec.ObsDim, spec.ActDim);
    }

    /// <summary>Flags of PPO that SAC does not take.</summary>
    static readonly string[] PpoOnly =
    [
        "minibatch_size", "train_iters", "init_actor", "num_envs", "anneal_lr", "gae_lambda", "clip",
        "ent_coef", "vf_coef", "max_grad_norm", "target_kl", "obs_norm", "critic_warmup", "ckpt_dir", "env_threads",
        "actor_lr", "critic_pretrain_data", "critic_pretrain_steps",
    ];

    /// <summary>Flags of the DSR's shaping, taken by every learner together with --dsr_path.</summary>
    static readonly string[] DsrFlags =
        ["support", "beta", "beta_frac", "eta", "pessimism", "anneal", "anneal_frac", "reward_scale"];

    /// <summary>--dsr_path of an off-policy run; a shaping flag without it is a usage error.</summary>
    static string? OffPolicyDsrPath(ParsedArgs a)
    {
        if (a.Has("dsr_path")) return a.RequiredString("dsr_path");
        if (DsrFlags.FirstOrDefault(a.Has) is { } flag)
            throw new UsageError($"--{flag} needs --dsr_path (the DSR checkpoint from 'o2o train-dsr')");
        return null;
    }

    /// <summary>Flags of IQL fine-tuning that PPO and SAC do not take.</summary>
    static readonly string[] IqlOnly = ["init_agent", "offline_data", "offline_path", "mixing_ratio", "warmup_steps"];

    /// <summary>Flags of SAC that PPO does not take.</summary>
    static readonly string[] SacOnly =
        ["batch_size", "tau", "learning_starts", "buffer_size", "alpha", "target_entropy"];

    /// <summary>SAC options: SacOptions' defaults, the SAC flags, and the shared flags that were given.</summary>
    internal static SacOptions SacOptionsFrom(ParsedArgs a)
    {
        if (PpoOnly.Concat(IqlOnly).FirstOrDefault(a.Has) is { } ppoFlag)
            throw new UsageError($"--{ppoFlag} is not a SAC setting; drop it or use --algo ppo");
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var o = SacFlags.Apply(a, new SacOptions { EnvId = env });
        var ppo = PpoFlags.Apply(a, new PpoOptions { EnvId = env });
        var logDir = a.RequiredString("log_csv");
        if (logDir.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            throw new UsageError("--log_csv must be a folder with --algo sac; name the run with --run_name");
        o = o with
        {
            TotalSteps = a.Has("total_steps") ? ppo.TotalSteps : o.TotalSteps,
            StepsPerEpoch = a.Has("steps_per_epoch") ? ppo.StepsPerEpoch : o.StepsPerEpoch,
            Seed = a.Has("seed") ? ppo.Seed : o.Seed,
            Lr = a.Has("lr") ? ppo.Lr : o.Lr,
            Gamma = a.Has("gamma") ? ppo.Gamma : o.Gamma,
            Hidden = a.Has("hidden") ? ppo.Hidden : o.Hidden,
            EvalEpisodes = a.Has("eval_episodes") ? ppo.EvalEpisodes : o.EvalEpisodes,
            TorchThreads = a.Has("torch_threads") ? ppo.TorchThreads : o.TorchThreads,
            TensorboardDir = ppo.TensorboardDir,
            LogDir = logDir,
            DsrPath = OffPolicyDsrPath(a),
            Shaping = ShapingOptions(a),
        };
        o = o with
        {
            EvalEvery = a.Has("eval_every") ? a.Long("eval_every", 1) : o.StepsPerEpoch,
            RunName = a.String("run_name") ?? $"{env}_sac_s{o.Seed}",
        };
        o.Validate();
        return o;
    }

    /// <summary>IQL fine-tuning options: IqlOptions' defaults, the IQL flags and the shared flags given.</summary>
    internal static IqlOptions IqlOptionsFrom(ParsedArgs a)
    {
        if (PpoOnly.Concat(SacOnly).Where(f => f is not "batch_size" and not "tau" and not "buffer_size")
                .FirstOrDefault(a.Has) is { } other)
            throw new UsageError($"--{other} is not an IQL setting; drop it");
        if (!a.Has("init_agent"))
            throw new UsageError(
                "--algo iql fine-tunes an offline agent: give --init_agent (from 'o2o train-offline')");
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var o = IqlFlags.Apply(a, new IqlOptions { EnvId = env, Steps = 100_000 });
        var ppo = PpoFlags.Apply(a, new PpoOptions { EnvId = env });
        var sac = SacFlags.Apply(a, new SacOptions { EnvId = env });
        o = o with
        {
            Steps = a.Has("total_steps") ? ppo.TotalSteps : o.Steps,
            StepsPerEpoch = a.Has("steps_per_epoch") ? ppo.StepsPerEpoch : o.StepsPerEpoch,
            Seed = a.Has("seed") ? ppo.Seed : o.Seed,
            Lr = a.Has("lr") ? ppo.Lr : o.Lr,
            Gamma = a.Has("gamma") ? ppo.Gamma : o.Gamma,
            EvalEpisodes = a.Has("eval_episodes") ? ppo.EvalEpisodes : o.EvalEpisodes,
            TorchThreads = a.Has("torch_threads") ? ppo.TorchThreads : o.TorchThreads,
            BatchSize = a.Has("batch_size") ? sac.BatchSize : o.BatchSize,
            Tau = a.Has("tau") ? sac.Tau : o.Tau,
            BufferSize = a.Has("buffer_size") ? sac.BufferSize : o.BufferSize,
            LogDir = a.RequiredString("log_csv"),
            DsrPath = OffPolicyDsrPath(a),
            Shaping = ShapingOptions(a),
        };
        o = o with
        {
            EvalEvery = a.Has("eval_every") ? a.Long("eval_every", 1) : o.StepsPerEpoch,
            RunName = a.String("run_name") ?? $"{env}_iql_{o.OfflineData}_s{o.Seed}",
        };
        o.Validate();
        return o;
    }

    static int RunIql(CommandContext ctx)
    {
        var a = ctx.Args;
        var o = IqlOptionsFrom(a);
        CommonOptions.UseDevice(a);
        var data = a.Has("offline_path")
            ? TrainDsrCommand.LoadChecked(a.RequiredString("offline_path"), EnvRegistry.Get(o.EnvId), "--offline_path")
            : null;
        using var trainer = new IqlTrainer(o, data, ctx.Log);
        return Report(ctx, trainer.Run(a.Bool("resume"), ctx.Cancel));
    }

    /// <summary>
    /// SAC fine-tuning of a CQL or Cal-QL agent: CqlOptions' defaults (100k steps), the offline-agent flags, and the
    /// shared and SAC flags that were given.
    /// </summary>
    internal static CqlOptions CqlFineTuneFrom(ParsedArgs a)
    {
        if (PpoOnly.Concat(SacOnly).Where(f => f is not "batch_size" and not "tau" and not "buffer_size"
                and not "target_entropy").FirstOrDefault(a.Has) is { } other)
            throw new UsageError($"--{other} is not a setting of SAC from an offline agent; drop it");
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var iql = IqlFlags.Apply(a, new IqlOptions { EnvId = env });
        var ppo = PpoFlags.Apply(a, new PpoOptions { EnvId = env });
        var sac = SacFlags.Apply(a, new SacOptions { EnvId = env });
        var o = CqlFlags.Apply(a, new CqlOptions { EnvId = env, Steps = 100_000 });
        o = o with
        {
            InitAgent = iql.InitAgent,
            WarmupSteps = iql.WarmupSteps,
            OfflineData = iql.OfflineData,
            MixingRatio = iql.MixingRatio,
            Steps = a.Has("total_steps") ? ppo.TotalSteps : o.Steps,
            StepsPerEpoch = a.Has("steps_per_epoch") ? ppo.StepsPerEpoch : o.StepsPerEpoch,
            Seed = a.Has("seed") ? ppo.Seed : o.Seed,
            Lr = a.Has("lr") ? ppo.Lr : o.Lr,
            Gamma = a.Has("gamma") ? ppo.Gamma : o.Gamma,
            EvalEpisodes = a.Has("eval_episodes") ? ppo.EvalEpisodes : o.EvalEpisodes,
            TorchThreads = a.Has("torch_threads") ? ppo.TorchThreads : o.TorchThreads,
            BatchSize = a.Has("batch_size") ? sac.BatchSize : o.BatchSize,
            Tau = a.Has("tau") ? sac.Tau : o.Tau,
            BufferSize = a.Has("buffer_size") ? sac.BufferSize : o.BufferSize,
            TargetEntropy = sac.TargetEntropy,
            LogDir = a.RequiredString("log_csv"),
            DsrPath = OffPolicyDsrPath(a),
            Shaping = ShapingOptions(a),
        };
        var arm = o.KeepConservative ? "conservative" : "plain";
        o = o with
        {
            EvalEvery = a.Has("eval_every") ? a.Long("eval_every", 1) : o.StepsPerEpoch,
            RunName = a.String("run_name") ?? $"{env}_sac_{arm}_{o.OfflineData}_s{o.Seed}",
        };
        o.Validate();
        return o;
    }

    static int RunSacFromAgent(CommandContext ctx)
    {
        var a = ctx.Args;
        var o = CqlFineTuneFrom(a);
        CommonOptions.UseDevice(a);
        var data = a.Has("offline_path")
            ? TrainDsrCommand.LoadChecked(a.RequiredString("offline_path"), EnvRegistry.Get(o.EnvId), "--offline_path")
            : null;
        using var trainer = new CqlTrainer(o, data, ctx.Log);
        ctx.Log($"sac from '{o.InitAgent}': conservative term {(o.Conservative ? "kept" : "removed")}, "
            + $"offline data {o.OfflineData}");
        return Report(ctx, trainer.Run(a.Bool("resume"), ctx.Cancel));
    }

    static int RunSac(CommandContext ctx)
    {
        if (ctx.Args.Has("init_agent")) return RunSacFromAgent(ctx);
        if (ctx.Args.Has("keep_conservative"))
            throw new UsageError("--keep_conservative needs --init_agent (a CQL or Cal-QL agent from train-offline)");
        var o = SacOptionsFrom(ctx.Args);
        CommonOptions.UseDevice(ctx.Args);
        using var trainer = new SacTrainer(o, ctx.Log);
        return Report(ctx, trainer.Run(ctx.Args.Bool("resume"), ctx.Cancel));
    }

    static int Report(CommandContext ctx, O2O.Learning.Training.RunResult r)
    {
        ctx.Log($"done: {r.Epochs} epochs, {r.EnvSteps} env steps in {r.WallSeconds:F0}s; "
            + $"last eval {r.LastEvalMean:F1}, best {r.BestEvalMean:F1}");
        ctx.Log($"log: {r.CsvPath}");
        ctx.Log($"actor: {r.FinalActorPath}");
        return 0;
    }

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var algo = a.Choice("algo", "ppo", "sac", "iql");
        if (algo == "sac") return RunSac(ctx);
        if (algo == "iql" && a.Has("keep_conservative"))
            throw new UsageError("--keep_conservative is a setting of SAC from a CQL agent; use --algo sac");
        if (algo == "iql") return RunIql(ctx);
        if (SacOnly.Concat(IqlOnly).Append("keep_conservative").FirstOrDefault(a.Has) is { } offPolicyFlag)
            throw new UsageError($"--{offPolicyFlag} is an off-policy setting; add --algo sac or iql, or drop it");
        var o = Options(a);
        CommonOptions.UseDevice(a);
        var shaping = ShapingOptions(a);
        using var dsr = a.Has("dsr_path") ? LoadDsr(a.RequiredString("dsr_path"), o.EnvId) : null;
        DsrShaper? shaper = null;
        if (dsr is not null)
        {
            var c = shaping.RewardScale ?? dsr.RewardAbsMean
                ?? throw new UserError($"the DSR '{a.String("dsr_path")}' does not record the offline mean |reward| "
                    + "(its data had no rewards); pass --reward_scale");
            shaper = new DsrShaper(dsr, shaping, c);
            var beta = shaping.Beta?.ToString("G4", CultureInfo.InvariantCulture) ?? "auto";
            var measuring = shaping.MetricsOnly ? ", --no_dsr: measuring only" : "";
            ctx.Log($"dsr: {a.String("dsr_path")} ({dsr.Kind.Word()}, support {shaper.Mode.Word()}, c = {c:G4}, "
                + $"beta {beta}, eta {shaping.Eta:G4}{measuring})");
        }
        else if (a.Bool("no_dsr") is false && (a.Has("beta") || a.Has("eta") || a.Has("support")))
            throw new UsageError("--beta/--eta/--support need --dsr_path (the DSR checkpoint from 'o2o train-dsr')");
        using var trainer = new PpoTrainer(o, shaper, ctx.Log);
        return Report(ctx, trainer.Run(a.Bool("resume"), ctx.Cancel));
    }
}
