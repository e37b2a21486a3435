using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.Nn;

/// <summary>
/// Adam (Kingma &amp; Ba 2015, PyTorch's update rule) and gradient-norm clipping with every scalar
/// created explicitly and kept alive for the whole call. TorchSharp's own optimisers and
/// clip_grad_norm_ convert doubles to Scalars implicitly; those are freed by the finalizer, which
/// can run while libtorch is still reading them — long PPO runs died of it ("Expected false to be
/// true" / "Unknown scalar type" inside add, sub and pow). The moments are plain tensors, so
/// checkpoints can store them.
/// </summary>
public sealed class AdamOptimizer : IDisposable
{
    /// <summary>Added to the norm before dividing, as in torch.nn.utils.clip_grad_norm_.</summary>
    const double ClipEpsilon = 1e-6;

    readonly Parameter[] parameters;
    readonly Tensor[] firstMoments, secondMoments;
    readonly double beta1, beta2, eps;

    public AdamOptimizer(
        IEnumerable<Parameter> parameters,
        double lr,
        double eps = 1e-8,
        double beta1 = 0.9,
        double beta2 = 0.999)
    {
        this.parameters = parameters.ToArray();
        LearningRate = lr;
        this.eps = eps;
        this.beta1 = beta1;
        this.beta2 = beta2;
        firstMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        secondMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    public double LearningRate { get; set; }

    /// <summary>Updates taken so far (for bias correction).</summary>
    public long Steps { get; private set; }

    /// <summary>First and second moments, in parameter order (for checkpoints).</summary>
    public IReadOnlyList<Tensor> FirstMoments => firstMoments;
    public IReadOnlyList<Tensor> SecondMoments => secondMoments;

    public void ZeroGrad()
    {
        foreach (var p in parameters) p.grad?.zero_();
    }

    public void Step()
    {
        Steps++;
        var bc1 = 1 - Math.Pow(beta1, Steps);
        var bc2 = 1 - Math.Pow(beta2, Steps);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using Scalar b1 = beta1, oneMinusB1 = 1 - beta1, b2 = beta2, oneMinusB2 = 1 - beta2, epsS = eps,
            invSqrtBc2 = 1 / Math.Sqrt(bc2), negStep = -LearningRate / bc1;
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = parameters[i].grad;
            if (g is null) continue;
            firstMoments[i].mul_(b1).add_(g, oneMinusB1);
            secondMoments[i].mul_(b2).addcmul_(g, g, oneMinusB2);
            var denom = secondMoments[i].sqrt().mul_(invSqrtBc2).PlusInPlace(epsS);
            parameters[i].addcdiv_(firstMoments[i], denom, negStep);
        }
    }

    /// <summary>Restore moments and step count saved from an optimiser over the same parameters.</summary>
    public void Load(IReadOnlyList<Tensor> first, IReadOnlyList<Tensor> second, long steps)
    {
        if (first.Count != firstMoments.Length || second.Count != secondMoments.Length)
            throw new ArgumentException($"optimiser state has {first.Count} tensors, expected {firstMoments.Length}");
        using var _ = no_grad();
        for (var i = 0; i < firstMoments.Length; i++)
        {
            firstMoments[i].copy_(first[i]);
            secondMoments[i].copy_(second[i]);
        }
        Steps = steps;
    }

    /// <summary>
    /// Scale gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before.
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        var list = parameters.ToArray();
        var squares = SquaredNorms(list);
        try { return ClipGradNorm(list, squares, maxNorm); }
        finally { foreach (var q in squares) q.Dispose(); }
    }

    /// <summary>
    /// Σ g² of each parameter's gradient (parameters without one skipped), for <see cref="ClipGradNorm(
    /// IEnumerable{Parameter}, IEnumerable{Tensor}, double)"/>: groups of parameters can compute theirs on their own
    /// threads. The caller disposes them.
    /// </summary>
    public static Tensor[] SquaredNorms(IEnumerable<Parameter> parameters)
    {
        using var _ = no_grad();
        return parameters.Select(p => p.grad).Where(g => g is not null)
            .Select(g => (g! * g!).sum().DetachFromDisposeScope()).ToArray();
    }

    /// <summary>
    /// <see cref="ClipGradNorm(IEnumerable{Parameter}, double)"/> from the gradients' <see cref="SquaredNorms"/>, given
    /// in the parameters' order: the same norm, summed in the same order.
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Parameter> parameters, IEnumerable<Tensor> squares, double maxNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var sq = squares.ToArray();
        if (sq.Length == 0) return 0;
        var total = Math.Sqrt(stack(sq).sum().item<float>());
        var coef = maxNorm / (total + ClipEpsilon);
        if (coef < 1)
        {
            using Scalar c = coef;
            foreach (var g in parameters.Select(p => p.grad).Where(g => g is not null)) g!.mul_(c);
        }
        return total;
    }

    public void Dispose()
    {
        foreach (var t in firstMoments) t.Dispose();
        foreach (var t in secondMoments) t.Dispose();
    }
}
