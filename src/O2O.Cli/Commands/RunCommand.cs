using O2O.Core;
using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Commands;

/// <summary>`o2o run`: the notebook end to end — data, conversion, DSR, BC, online PPO with the DSR, summary.</summary>
public static class RunCommand
{
    public static readonly CommandSpec Spec = new(
        "run",
        "the notebook end to end: data → NPZ → train-dsr → pretrain-bc → train-online, with a summary and plot",
        [
            new("task", "hopper-medium-v2, walker2d-medium-v2 or halfcheetah-medium-v2 (other D4RL qualities work too)", "hopper-medium-v2"),
            new("root", "folder for data/, checkpts/ and logs/ (the notebook's DRIVE_ROOT)", "o2o-root"),
            new("run_bc", "pretrain the actor by behaviour cloning (the notebook's RUN_BC)", "true", IsFlag: true),
            new("profile", "default (the notebook's budgets) or smoke (1–2 minutes end to end)", "default"),
            CommonOptions.Seed,
            new("download", "try the D4RL server before generating the data here", "true", IsFlag: true),
            new("base_url", "D4RL server base URL"),
            new("total_steps", "online env steps (notebook: 300000)"),
            new("steps_per_epoch", "online steps per epoch (notebook: 4096)"),
            new("minibatch_size", "online minibatch (notebook: 256)"),
            new("train_iters", "online passes per epoch (notebook: 10)"),
            new("generated_steps", "transitions of a dataset generated here (default 1000000)"),
            new("torch_threads", "libtorch threads for the DSR and BC phases (1 is safe on a shared machine)", "1"),
            CommonOptions.Device,
        ],
        Execute);

    static int Execute(ParsedArgs a)
    {
        var taskName = a.RequiredString("task");
        var task = D4rlTask.Parse(taskName);
        var profile = a.Choice("profile", "default", "smoke");
        var o = new PipelineOptions
        {
            Task = task.Name,
            Root = a.RequiredString("root"),
            RunBc = a.Bool("run_bc"),
            Seed = a.Int("seed"),
            Download = a.Bool("download"),
            BaseUrl = a.String("base_url"),
            TorchThreads = a.Int("torch_threads", 1, 64),
        };
        if (profile == "smoke") o = o.AsSmoke();
        if (a.Has("total_steps")) o = o with { TotalSteps = a.Long("total_steps", 1) };
        if (a.Has("steps_per_epoch")) o = o with { StepsPerEpoch = a.Int("steps_per_epoch", 1) };
        if (a.Has("minibatch_size")) o = o with { MinibatchSize = a.Int("minibatch_size", 1) };
        if (a.Has("train_iters")) o = o with { TrainIters = a.Int("train_iters", 1) };
        if (a.Has("generated_steps")) o = o with { GeneratedSteps = a.Int("generated_steps", 1000) };
        if (o.TotalSteps < o.StepsPerEpoch)
            throw new UserError($"--total_steps {o.TotalSteps} is smaller than --steps_per_epoch {o.StepsPerEpoch}: not one epoch would run");
        CommonOptions.UseDevice(a);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var s = Pipeline.Run(o, Console.WriteLine, cts.Token);
            Console.WriteLine();
            Console.Write(Pipeline.Format(s));
            Console.WriteLine($"summary: {s.SummaryPath}");
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }
}
