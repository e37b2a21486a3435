using TorchSharp;
using TorchSharp.Modules;
using O2O.Learning.Nn;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// An energy network E(x) = B·tanh(f(x)/B) + γ‖x‖²/2: the bounded learned part shapes the data region and the
/// quadratic base guarantees that the score −E falls far from the data instead of extrapolating upwards.
/// </summary>
internal sealed class EnergyNet : nn.Module<Tensor, Tensor>
{
    private readonly Sequential net;
    internal const double Bound = 30.0;
    internal const double Gamma = 0.05;
    // Static scalars: implicit ones can be freed by the finalizer while libtorch reads them.
    private static readonly Scalar BoundS = Bound, InvBoundS = 1.0 / Bound, HalfGammaS = 0.5 * Gamma;

    public EnergyNet(string name, int dim, int hidden) : base(name)
    {
        net = nn.Sequential(
            ("fc1", nn.Linear(dim, hidden)), ("act1", nn.SiLU()),
            ("fc2", nn.Linear(hidden, hidden)), ("act2", nn.SiLU()),
            ("out", nn.Linear(hidden, 1)));
        RegisterComponents();
    }

    /// <summary>E(x) per row (lower = more supported).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var f = net.forward(x).squeeze(-1);
        var e = tanh(f.mul(InvBoundS)).mul(BoundS).Plus((x * x).sum(-1).mul(HalfGammaS));
        return e.MoveToOuterDisposeScope();
    }
}
