using O2O.Core;
using O2O.Learning.Dsr;
using O2O.Learning.Ppo;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o train-online`: the notebook's train_online.py — PPO in the environment.</summary>
public static class TrainOnlineCommand
{
    public static readonly CommandSpec Spec = new(
        "train-online",
        "online PPO in the environment, optionally warm-started from a BC actor",
        [
            new("env_id", "environment, e.g. Hopper-v4", Required: true),
            new("dsr_path", "frozen DSR checkpoint that shapes rewards (pessimism + frontier bonus)"),
            new("total_steps", "environment steps in all", "1000000"),
            new("steps_per_epoch", "environment steps per PPO epoch (rollout)", "4096"),
            new("minibatch_size", "minibatch size of the update", "256"),
            new("train_iters", "passes over each rollout", "10"),
            CommonOptions.Device,
            new("log_csv", "folder for DIR/<run_name>.csv (or a path ending in .csv)", "logs"),
            new("init_actor", "actor checkpoint to start from (e.g. from pretrain-bc)"),
            CommonOptions.Seed,
            new("num_envs", "parallel environments", "8"),
            new("lr", "Adam learning rate (annealed linearly)", "0.0003"),
            new("anneal_lr", "anneal the learning rate to 0", "true", IsFlag: true),
            new("gamma", "discount", "0.99"),
            new("gae_lambda", "GAE λ", "0.95"),
            new("clip", "PPO clip range", "0.2"),
            new("ent_coef", "entropy bonus coefficient", "0.0"),
            new("vf_coef", "value loss coefficient", "0.5"),
            new("max_grad_norm", "gradient norm clip", "0.5"),
            new("target_kl", "stop an update early above this approx-KL (off by default)"),
            new("hidden", "hidden widths of actor and critic (actor from --init_actor keeps its own)", "64,64"),
            new("obs_norm", "running or frozen (default: frozen with --init_actor, else running)"),
            new("critic_warmup", "epochs of value-only updates before the actor moves", "0"),
            new("eval_every", "evaluate every N env steps (default: every epoch)"),
            new("eval_episodes", "deterministic evaluation episodes", "10"),
            new("run_name", "name of the CSV, checkpoint and final actor (default ENV_ppo_sSEED)"),
            new("ckpt_dir", "folder of checkpoints (default: the log folder)"),
            new("resume", "continue the run from its last checkpoint", "false", IsFlag: true),
            new("tensorboard", "also write TensorBoard events to this folder"),
            new("support", "DSR support mode: joint, conditional, state or gated (default: the one the DSR was trained to recommend)"),
            new("beta", "pessimism scale β₀: 'auto' or a number", "auto"),
            new("beta_frac", "with --beta auto: first rollout's mean penalty term as a fraction of its mean reward", "0.1"),
            new("eta", "frontier bonus scale η₀", "0.1"),
            new("pessimism", "reward (r − β·c·p) or value (critic loss + β·E[p·V])", "reward"),
            new("anneal", "linear (to 0 over --anneal_frac of the budget) or none", "linear"),
            new("anneal_frac", "fraction of the budget over which β and η anneal", "0.25"),
            new("reward_scale", "c in the shaped reward (default: the DSR's offline mean |r|)"),
            new("no_dsr", "plain PPO: the DSR (if given) only measures support, it shapes nothing", "false", IsFlag: true),
            new("torch_threads", "libtorch threads (1 = reproducible)", "1"),
            new("env_threads", "threads stepping environments (0 = cores)", "0"),
        ],
        Execute);

    /// <summary>Build PPO options from the command line (shared with `o2o run`).</summary>
    internal static PpoOptions Options(ParsedArgs a)
    {
        var env = EnvRegistry.Get(a.RequiredString("env_id")).Id;
        var seed = a.Int("seed");
        var logCsv = a.RequiredString("log_csv");
        var isFile = logCsv.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        var runName = a.String("run_name") ?? (isFile ? Path.GetFileNameWithoutExtension(logCsv) : $"{env}_ppo_s{seed}");
        if (runName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || runName.Length == 0)
            throw new UsageError($"--run_name '{runName}' must be a plain file name");
        var stepsPerEpoch = a.Int("steps_per_epoch", 1);
        var o = new PpoOptions
        {
            EnvId = env,
            Seed = seed,
            TotalSteps = a.Long("total_steps", 1),
            StepsPerEpoch = stepsPerEpoch,
            MinibatchSize = a.Int("minibatch_size", 1),
            TrainIters = a.Int("train_iters", 1),
            NumEnvs = a.Int("num_envs", 1, 1024),
            Lr = a.Double("lr", 1e-8, 1),
            AnnealLr = a.Bool("anneal_lr"),
            Gamma = a.Double("gamma", 0, 1),
            GaeLambda = a.Double("gae_lambda", 0, 1),
            Clip = a.Double("clip", 1e-6, 10),
            EntCoef = a.Double("ent_coef", 0, 10),
            VfCoef = a.Double("vf_coef", 0, 100),
            MaxGradNorm = a.Double("max_grad_norm", 1e-6, 1e6),
            TargetKl = a.Has("target_kl") ? a.Double("target_kl", 1e-9, 10) : null,
            Hidden = CommonOptions.Widths(a, "hidden"),
            ObsNorm = a.Has("obs_norm") ? a.Choice("obs_norm", "running", "frozen") : null,
            CriticWarmup = a.Int("critic_warmup", 0),
            EvalEvery = a.Has("eval_every") ? a.Long("eval_every", 1) : stepsPerEpoch,
            EvalEpisodes = a.Int("eval_episodes", 0),
            InitActor = a.String("init_actor"),
            RunName = runName,
            LogDir = isFile ? Path.GetDirectoryName(Path.GetFullPath(logCsv))! : logCsv,
            CsvPath = isFile ? logCsv : null,
            CheckpointDir = a.String("ckpt_dir"),
            TensorboardDir = a.String("tensorboard"),
            TorchThreads = a.Int("torch_threads", 1, 256),
            EnvThreads = a.Int("env_threads", 0, 256),
        };
        o.Validate();
        if (o.InitActor is not null && !File.Exists(o.InitActor))
            throw new UserError($"--init_actor '{o.InitActor}' does not exist; run 'o2o pretrain-bc' first or drop the flag");
        return o;
    }

    /// <summary>DSR shaping settings from the command line (shared with `o2o run`).</summary>
    internal static DsrShapingOptions ShapingOptions(ParsedArgs a)
    {
        var beta = a.RequiredString("beta");
        double? betaValue = beta.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : a.Double("beta", 0, 1e6);
        var s = new DsrShapingOptions
        {
            Support = a.Has("support") ? SupportMode.Parse(a.RequiredString("support")) : null,
            Beta = betaValue,
            BetaFrac = a.Double("beta_frac", 0, 10),
            Eta = a.Double("eta", 0, 1e6),
            Pessimism = a.Choice("pessimism", "reward", "value"),
            Anneal = a.Choice("anneal", "linear", "none"),
            AnnealFrac = a.Double("anneal_frac", 1e-6, 1),
            RewardScale = a.Has("reward_scale") ? a.Double("reward_scale", 1e-9, 1e9) : null,
            MetricsOnly = a.Bool("no_dsr"),
        };
        s.Validate();
        return s;
    }

    /// <summary>Load a DSR for <paramref name="envId"/>, with one-line errors for the wrong file or env.</summary>
    internal static SupportModel LoadDsr(string path, string envId)
    {
        var spec = EnvRegistry.Get(envId);
        return SupportModel.Load(path, spec.Id, spec.ObsDim, spec.ActDim);
    }

    static int Execute(ParsedArgs a)
    {
        var o = Options(a);
        CommonOptions.UseDevice(a);
        var shaping = ShapingOptions(a);
        using var dsr = a.Has("dsr_path") ? LoadDsr(a.RequiredString("dsr_path"), o.EnvId) : null;
        DsrShaper? shaper = null;
        if (dsr is not null)
        {
            var c = shaping.RewardScale ?? dsr.RewardAbsMean
                ?? throw new UserError($"the DSR '{a.String("dsr_path")}' does not record the offline mean |reward| (its data had no rewards); pass --reward_scale");
            shaper = new DsrShaper(dsr, shaping, c);
            Console.WriteLine($"dsr: {a.String("dsr_path")} ({dsr.Kind.Word()}, support {shaper.Mode.Word()}, c = {c:G4}, beta {(shaping.Beta?.ToString("G4", System.Globalization.CultureInfo.InvariantCulture) ?? "auto")}, eta {shaping.Eta:G4}{(shaping.MetricsOnly ? ", --no_dsr: measuring only" : "")})");
        }
        else if (a.Bool("no_dsr") is false && (a.Has("beta") || a.Has("eta") || a.Has("support")))
            throw new UsageError("--beta/--eta/--support need --dsr_path (the DSR checkpoint from 'o2o train-dsr')");
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            using var trainer = new PpoTrainer(o, shaper, Console.WriteLine);
            var r = trainer.Run(a.Bool("resume"), cts.Token);
            Console.WriteLine($"done: {r.Epochs} epochs, {r.EnvSteps} env steps in {r.WallSeconds:F0}s; last eval {r.LastEvalMean:F1}, best {r.BestEvalMean:F1}");
            Console.WriteLine($"log: {r.CsvPath}");
            Console.WriteLine($"actor: {r.FinalActorPath}");
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }
}
