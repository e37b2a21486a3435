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
    readonly int[] groupOf;
    readonly double[] groupLr;
    readonly Tensor[] firstMoments, secondMoments;
    readonly double beta1, beta2, eps;

    public AdamOptimizer(
        IEnumerable<Parameter> parameters,
        double lr,
        double eps = 1e-8,
        double beta1 = 0.9,
        double beta2 = 0.999)
        : this([parameters], [lr], eps, beta1, beta2)
    {
    }

    /// <summary>
    /// One Adam over several parameter groups, each with its own learning rate (as torch.optim's param groups):
    /// the moments, the step count and the parameter order (for checkpoints) are those of one optimiser over the
    /// groups' parameters in order, so equal rates give exactly the single-group update.
    /// </summary>
    public AdamOptimizer(
        IReadOnlyList<IEnumerable<Parameter>> groups,
        IReadOnlyList<double> lrs,
        double eps = 1e-8,
        double beta1 = 0.9,
        double beta2 = 0.999)
    {
        if (groups.Count == 0 || groups.Count != lrs.Count)
            throw new ArgumentException($"{groups.Count} parameter groups but {lrs.Count} learning rates");
        var ps = groups.Select(g => g.ToArray()).ToArray();
        parameters = ps.SelectMany(g => g).ToArray();
        groupOf = ps.SelectMany((g, i) => g.Select(_ => i)).ToArray();
        groupLr = lrs.ToArray();
        this.eps = eps;
        this.beta1 = beta1;
        this.beta2 = beta2;
        firstMoments = parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        secondMoments = parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>The first group's learning rate; setting it sets every group's.</summary>
    public double LearningRate
    {
        get => groupLr[0];
        set => Array.Fill(groupLr, value);
    }

    /// <summary>Number of parameter groups.</summary>
    public int Groups => groupLr.Length;

    /// <summary>Learning rate of parameter group <paramref name="group"/>.</summary>
    public double GroupLearningRate(int group) => groupLr[group];

    /// <summary>Set the learning rate of parameter group <paramref name="group"/> only.</summary>
    public void SetGroupLearningRate(int group, double lr) => groupLr[group] = lr;

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
            invSqrtBc2 = 1 / Math.Sqrt(bc2);
        var negSteps = new Scalar[groupLr.Length];
        for (var k = 0; k < negSteps.Length; k++)
        {
            Scalar negStep = -groupLr[k] / bc1;
            negSteps[k] = negStep;
        }
        try
        {
            for (var i = 0; i < parameters.Length; i++)
            {
                var g = parameters[i].grad;
                if (g is null) continue;
                firstMoments[i].mul_(b1).add_(g, oneMinusB1);
                secondMoments[i].mul_(b2).addcmul_(g, g, oneMinusB2);
                var denom = secondMoments[i].sqrt().mul_(invSqrtBc2).PlusInPlace(epsS);
                parameters[i].addcdiv_(firstMoments[i], denom, negSteps[groupOf[i]]);
            }
        }
        finally
        {
            foreach (var s in negSteps) s.Dispose();
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
