using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.Nn;

/// <summary>
/// Diagonal Gaussian policy with a state-independent log-std (CleanRL/SB3 style). Actions are sampled
/// unsquashed and clipped to the box by the environment; log-probabilities are those of the unclipped
/// sample. We chose clipping over tanh squashing because PPO's ratio then needs no Jacobian correction
/// and BC can fit the data's ±1 actions without infinite pre-images.
/// </summary>
public sealed class GaussianActor : nn.Module<Tensor, Tensor>
{
    // RegisterComponents names state-dict entries after these fields (mu.*, log_std), as PyTorch's
    // checkpoints spell them: renaming a field would change the checkpoint format.
    readonly Mlp mu;
    readonly Parameter log_std;

    public GaussianActor(
        int obsDim,
        int actDim,
        IReadOnlyList<int> hidden,
        Activation activation = Activation.Tanh,
        double initLogStd = 0.0)
        : base("actor")
    {
        mu = new Mlp("mu", obsDim, hidden, actDim, activation, outputGain: 0.01);
        using (Scalar init = initLogStd) log_std = nn.Parameter(full(1, actDim, init));
        ObsDim = obsDim;
        ActDim = actDim;
        RegisterComponents();
    }

    public int ObsDim { get; }
    public int ActDim { get; }
    /// <summary>The mean network.</summary>
    public Mlp Mean => mu;
    /// <summary>The log standard deviation (1 × actDim).</summary>
    public Parameter LogStd => log_std;

    /// <summary>Mean action for normalised observations.</summary>
    public override Tensor forward(Tensor obs) => mu.call(obs);

    /// <summary>Log-density of <paramref name="actions"/> (summed over dims) and the entropy per row.</summary>
    public (Tensor LogProb, Tensor Entropy) Evaluate(Tensor obs, Tensor actions)
    {
        using var scope = NewDisposeScope();
        var mean = mu.call(obs);
        var logStd = log_std.expand_as(mean);
        var lp = GaussianMath.LogProb(actions, mean, logStd);
        var ent = GaussianMath.Entropy(logStd);
        return (lp.MoveToOuterDisposeScope(), ent.MoveToOuterDisposeScope());
    }
}

/// <summary>Closed forms for diagonal Gaussians.</summary>
public static class GaussianMath
{
    // Static scalars live for the process: TorchSharp frees implicitly converted scalars in the finalizer,
    // which can run while libtorch is still reading them (seen as a corrupt Scalar in add()).
    static readonly Scalar HalfLog2Pi = 0.5 * Math.Log(2 * Math.PI);
    static readonly Scalar MinusHalf = -0.5;
    static readonly Scalar HalfPlusHalfLog2Pi = 0.5 + 0.5 * Math.Log(2 * Math.PI);

    /// <summary>Σ_i log N(x_i; μ_i, σ_i²) over the last dimension.</summary>
    public static Tensor LogProb(Tensor x, Tensor mean, Tensor logStd)
    {
        using var scope = NewDisposeScope();
        var z = (x - mean) * (-logStd).exp();
        var lp = ((z * z).mul(MinusHalf) - logStd).sub(HalfLog2Pi).sum(-1);
        return lp.MoveToOuterDisposeScope();
    }

    /// <summary>Σ_i (½ log(2πe) + log σ_i) over the last dimension.</summary>
    public static Tensor Entropy(Tensor logStd)
    {
        using var scope = NewDisposeScope();
        return logStd.Plus(HalfPlusHalfLog2Pi).sum(-1).MoveToOuterDisposeScope();
    }
}
