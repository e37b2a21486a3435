using O2O.Learning.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// SAC's policy: an MLP gives the mean μ and the log-std of a Gaussian over pre-squash actions u, and the action is
/// tanh(u) ∈ (−1, 1). The log-density of the action carries the change-of-variables correction
/// −Σ log(1 − tanh(u)² + ε) (Haarnoja et al. 2018, appendix C). The network's output is
/// [μ ‖ log-std pre-activation] (state dict keys net.fc0 …, net.out), the log-std squashed into
/// [LogStdMin, LogStdMax] as CleanRL does.
/// </summary>
public sealed class SquashedGaussianActor : nn.Module<Tensor, Tensor>
{
    /// <summary>Bounds of the log-std (CleanRL's sac_continuous_action.py).</summary>
    public const double LogStdMin = -5, LogStdMax = 2;

    /// <summary>ε inside the log of the tanh correction (CleanRL's, SB3's): a saturated action stays finite.</summary>
    public const double TanhEpsilon = 1e-6;

    static readonly Scalar One = 1.0, HalfRange = 0.5 * (LogStdMax - LogStdMin), Min = LogStdMin, Eps = TanhEpsilon;

    readonly Mlp net;

    public SquashedGaussianActor(int obsDim, int actDim, IReadOnlyList<int> hidden) : base("actor")
    {
        net = new Mlp("net", obsDim, hidden, 2 * actDim, Activation.Relu, outputGain: 0.01);
        ObsDim = obsDim;
        ActDim = actDim;
        RegisterComponents();
    }

    public int ObsDim { get; }
    public int ActDim { get; }

    /// <summary>The network: [μ ‖ log-std pre-activation] for normalised observations.</summary>
    public Mlp Net => net;

    /// <summary>The deterministic action tanh(μ(s)).</summary>
    public override Tensor forward(Tensor obs)
    {
        using var scope = NewDisposeScope();
        return net.call(obs).narrow(-1, 0, ActDim).tanh().MoveToOuterDisposeScope();
    }

    /// <summary>μ and log σ of the pre-squash Gaussian.</summary>
    public (Tensor Mean, Tensor LogStd) Distribution(Tensor obs)
    {
        using var scope = NewDisposeScope();
        var h = net.call(obs);
        var mean = h.narrow(-1, 0, ActDim);
        var logStd = h.narrow(-1, ActDim, ActDim).tanh().add(One, One).mul(HalfRange).add(Min, One);
        return (mean.MoveToOuterDisposeScope(), logStd.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// A reparameterised sample a = tanh(μ + σ·ξ) with the given standard-normal noise ξ (rows × ActDim), and
    /// log π(a|s) per row. The noise comes from the caller so that runs are reproducible and resumable.
    /// </summary>
    public (Tensor Action, Tensor LogProb) Sample(Tensor obs, Tensor noise)
    {
        using var scope = NewDisposeScope();
        var (mean, logStd) = Distribution(obs);
        var u = mean.add(logStd.exp() * noise, One);
        var logProb = SquashedLogProb(u, mean, logStd);
        return (u.tanh().MoveToOuterDisposeScope(), logProb.MoveToOuterDisposeScope());
    }

    /// <summary>log π(tanh u) = Σ_i [log N(u_i; μ_i, σ_i²) − log(1 − tanh(u_i)² + ε)].</summary>
    public static Tensor SquashedLogProb(Tensor u, Tensor mean, Tensor logStd)
    {
        using var scope = NewDisposeScope();
        var gaussian = GaussianMath.LogProb(u, mean, logStd);
        var t = u.tanh();
        var correction = (t * t).neg().add(One, One).add(Eps, One).log().sum(-1);
        return (gaussian - correction).MoveToOuterDisposeScope();
    }
}
