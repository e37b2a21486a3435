using O2O.Core;
using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Commands;

/// <summary>`o2o run`: the notebook end to end — data, conversion, DSR, BC, online PPO with the DSR, summary.
/// </summary>
public static class RunCommand
{
    /// <summary>A budget flag: its default is the default profile's, and the help names the smoke profile's.</summary>
    static OptionSpec Budget(string property, string help, double min) =>
        RunFlags.Flag(property, $"{help} (smoke profile: {Smoke(property)})", min: min);

    static string? Smoke(string property) =>
        RecordDefaults.Text(typeof(PipelineOptions).GetProperty(property)!.GetValue(PipelineProfiles.Smoke));

    public static readonly CommandSpec Spec = new(
        "run",
        "the notebook end to end: data → NPZ → train-dsr → pretrain-bc → train-online, with a summary and plot",
        [
            RunFlags.Flag(nameof(PipelineOptions.Task),
                "hopper-medium-v2, walker2d-medium-v2 or halfcheetah-medium-v2 (other D4RL qualities work too)"),
            RunFlags.Flag(nameof(PipelineOptions.Dataset),
                "instead of --task: a Minari dataset (folder, main_data.hdf5, or id such as mujoco/hopper/medium-v0 "
                + "under MINARI_DATASETS_PATH or ~/.minari/datasets); its env spec gives the env", nullWord: "none"),
            RunFlags.Flag(nameof(PipelineOptions.Root),
                "folder for data/, checkpts/ and logs/ (the notebook's DRIVE_ROOT)"),
            RunFlags.Flag(nameof(PipelineOptions.RunBc),
                "pretrain the actor by behaviour cloning (the notebook's RUN_BC)"),
            RunFlags.Flag(nameof(PipelineOptions.Profile),
                "default (the notebook's budgets) or smoke (1–2 minutes end to end)",
                choices: PipelineProfiles.Names),
            RunFlags.Flag(nameof(PipelineOptions.Seed), "random seed"),
            RunFlags.Flag(nameof(PipelineOptions.Download), "try the D4RL server before generating the data here"),
            RunFlags.Flag(nameof(PipelineOptions.BaseUrl), "D4RL server base URL"),
            Budget(nameof(PipelineOptions.TotalSteps), "online env steps", 1),
            Budget(nameof(PipelineOptions.StepsPerEpoch), "online steps per epoch", 1),
            Budget(nameof(PipelineOptions.MinibatchSize), "online minibatch", 1),
            Budget(nameof(PipelineOptions.TrainIters), "online passes per epoch", 1),
            Budget(nameof(PipelineOptions.GeneratedSteps), "transitions of a dataset generated here", 1000),
            RunFlags.Flag(nameof(PipelineOptions.TorchThreads),
                "threads of the DSR and BC phases, 0 = every core (the DSR is the same on any count; 1 gives the "
                + "BC actor of builds before 2026-11-28)", min: 0, max: 64),
            CommonOptions.Device,
        ],
        Execute) { StopsOnCancel = true, Resume = ResumeStyle.Rerun };

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        if (a.Has("task") && a.Has("dataset")) throw new UsageError("give --task or --dataset, not both");
        var profile = PipelineProfiles.Named(a.Choice("profile", PipelineProfiles.Names));
        var o = RunFlags.Apply(a, profile with { });
        if (o.Dataset is null) o = o with { Task = D4rlTask.Parse(a.RequiredString("task")).Name };
        if (o.TotalSteps < o.StepsPerEpoch)
            throw new UserError($"--total_steps {o.TotalSteps} is smaller than --steps_per_epoch {o.StepsPerEpoch}: "
                + "not one epoch would run");
        CommonOptions.UseDevice(a);
        var s = Pipeline.Run(o, ctx.Log, ctx.Cancel);
        ctx.Out.WriteLine();
        ctx.Out.Write(Pipeline.Format(s));
        ctx.Log($"summary: {s.SummaryPath}");
        return 0;
    }
}
