using O2O.Cli.Commands;

namespace O2O.Cli;

/// <summary>Every command of `o2o`, in the order `o2o --help` lists them.</summary>
public static class CommandTable
{
    public static IReadOnlyList<CommandSpec> All { get; } =
    [
        RunCommand.Spec,
        TrainDsrCommand.Spec,
        PretrainBcCommand.Spec,
        TrainOnlineCommand.Spec,
        TrainOfflineCommand.Spec,
        EvalCommand.Spec,
        DataConvertCommand.Spec,
        DataDownloadCommand.Spec,
        DataInfoCommand.Spec,
        CollectCommand.Spec,
        CompareCommand.Spec,
        SweepCommand.Run,
        SweepCommand.Status,
        SweepCommand.Resubmit,
        SweepCommand.Report,
        SweepCommand.Job,
        EnvsCommand.Spec,
        TorchCheckCommand.Spec,
    ];
}
