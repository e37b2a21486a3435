using O2O.Learning.Runtime;
using TorchSharp;

namespace O2O.Cli.Commands;

/// <summary>`o2o doctor`: checks that libtorch and libmujoco load on this machine.</summary>
public static class TorchCheckCommand
{
    public static readonly CommandSpec Spec = new(
        "doctor",
        "check that the native libraries (libtorch, libmujoco) load here",
        [],
        Execute);

    static int Execute(CommandContext ctx)
    {
        TorchRuntime.EnsureLoaded();
        using var x = torch.ones(3, requires_grad: true);
        using var y = (x * x).sum();
        y.backward();
        ctx.Log($"libmujoco: ok (MuJoCo {O2O.Sim.MuJoCo.Version})");
        ctx.Log($"libtorch: ok (TorchSharp {typeof(torch).Assembly.GetName().Version}, "
            + $"grad of sum(x²) at 1 = {x.grad!.mean().item<float>()})");
        return 0;
    }
}
