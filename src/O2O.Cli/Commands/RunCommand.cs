namespace O2O.Cli.Commands;

/// <summary>`o2o run`: the notebook end to end. Until the pipeline lands it checks the native stack.</summary>
public static class RunCommand
{
    public static readonly CommandSpec Spec = new(
        "run",
        "run the main job (for now: check that libtorch and MuJoCo work here)",
        [],
        a => TorchCheckCommand.Spec.Run(a));
}
