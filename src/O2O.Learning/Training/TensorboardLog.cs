using TorchSharp;

namespace O2O.Learning.Training;

/// <summary>Every finite column of a CSV row as a TensorBoard scalar at the row's env step.</summary>
internal sealed class TensorboardLog(string folder) : IDisposable
{
    readonly TorchSharp.Modules.SummaryWriter writer = torch.utils.tensorboard.SummaryWriter(folder);

    public void Write(IReadOnlyDictionary<string, double> row, long envSteps)
    {
        foreach (var (k, v) in row)
            if (k is not "epoch" and not "env_steps" && double.IsFinite(v))
                writer.add_scalar(k, (float)v, (int)envSteps);
    }

    public void Dispose() { }
}
