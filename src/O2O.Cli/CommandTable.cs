using O2O.Cli.Commands;

namespace O2O.Cli;

/// <summary>Every command of `o2o`, in the order `o2o --help` lists them.</summary>
public static class CommandTable
{
    public static IReadOnlyList<CommandSpec> All { get; } =
    [
        RunCommand.Spec,
        PretrainBcCommand.Spec,
        TrainOnlineCommand.Spec,
        EvalCommand.Spec,
        CollectCommand.Spec,
        TorchCheckCommand.Spec,
        EnvsCommand.Spec,
    ];
}
