using TorchSharp;
using TorchSharp.Modules;
using O2O.Learning.Nn;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>
/// One RealNVP affine coupling: the unmasked half is scaled and shifted by functions of the masked half.
/// </summary>
internal sealed class AffineCoupling : nn.Module<Tensor, (Tensor Y, Tensor LogDet)>
{
    private readonly Sequential net;
    private readonly Tensor mask;
    private readonly double logScaleBound;
    // Scalars held for the module's lifetime: TorchSharp frees implicitly converted scalars in the
    // finalizer, which can run while libtorch still reads them (a corrupt Scalar inside add/sub).
    private readonly Scalar bound, invBound;

    public AffineCoupling(string name, int dim, int hidden, float[] maskValues, double logScaleBound) : base(name)
    {
        var output = nn.Linear(hidden, 2 * dim);
        using (no_grad())
        {
            // Zero output: every coupling starts as the identity, so training starts from N(0, I).
            output.weight!.zero_();
            output.bias!.zero_();
        }
        net = nn.Sequential(
            ("fc1", nn.Linear(dim, hidden)), ("act1", nn.SiLU()),
            ("fc2", nn.Linear(hidden, hidden)), ("act2", nn.SiLU()),
            ("out", output));
        mask = tensor(maskValues);
        this.logScaleBound = logScaleBound;
        bound = logScaleBound;
        invBound = 1.0 / logScaleBound;
        RegisterComponents();
    }

    /// <summary>x → y (data towards base) and log|det ∂y/∂x| per row.</summary>
    public override (Tensor Y, Tensor LogDet) forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var keep = mask;
        var change = ones_like(mask) - mask;
        var xm = x * keep;
        var h = net.forward(xm);
        var parts = h.chunk(2, -1);
        // Bounded log-scale: one layer can stretch or shrink by at most e^bound, so log-dets stay finite.
        var s = tanh(parts[0].mul(invBound)).mul(bound) * change;
        var t = parts[1] * change;
        var y = xm.Plus(change * (x * exp(s)).Plus(t));
        var logDet = s.sum(-1);
        return (y.MoveToOuterDisposeScope(), logDet.MoveToOuterDisposeScope());
    }
}

/// <summary>
/// A RealNVP normalising flow with a standard normal base: exact log-density of D-dimensional points.
/// </summary>
internal sealed class RealNvpFlow : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<AffineCoupling> layers;
    private static readonly double HalfLog2Pi = 0.5 * Math.Log(2 * Math.PI);
    private static readonly Scalar MinusHalf = -0.5;
    private readonly Scalar logNormConst;

    /// <summary>Dimension of the modelled points.</summary>
    public int Dim { get; }

    public RealNvpFlow(string name, int dim, int hidden, int couplingLayers, double logScaleBound, int maskSeed)
        : base(name)
    {
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim));
        Dim = dim;
        logNormConst = dim * HalfLog2Pi;
        var masks = Masks(dim, couplingLayers, maskSeed);
        layers = nn.ModuleList(masks
            .Select((m, i) => new AffineCoupling($"coupling{i}", dim, hidden, m, logScaleBound)).ToArray());
        RegisterComponents();
    }

    /// <summary>
    /// Pairs of complementary masks: the first pair alternates by index parity, later pairs split a fixed random
    /// permutation in half, so every dimension conditions every other one after a few layers. Masks are buffers
    /// (saved in the checkpoint), so the seed only matters at construction.
    /// </summary>
    internal static float[][] Masks(int dim, int count, int seed)
    {
        var rng = new Random(seed);
        var result = new float[count][];
        float[] current = new float[dim];
        for (var k = 0; k < count; k++)
        {
            if (k % 2 == 1)
            {
                result[k] = current.Select(v => 1f - v).ToArray();
                continue;
            }
            current = new float[dim];
            if (dim == 1) current[0] = 1f;
            else if (k == 0) for (var i = 0; i < dim; i++) current[i] = i % 2 == 0 ? 1f : 0f;
            else
            {
                var perm = Enumerable.Range(0, dim).OrderBy(_ => rng.Next()).ToArray();
                for (var i = 0; i < dim / 2; i++) current[perm[i]] = 1f;
            }
            result[k] = current;
        }
        return result;
    }

    /// <summary>Map data x to base-space z; returns z and the summed log|det| of the Jacobian.</summary>
    public (Tensor Z, Tensor LogDet) Transform(Tensor x)
    {
        using var scope = NewDisposeScope();
        var z = x;
        var logDet = zeros(x.shape[0], dtype: x.dtype);
        foreach (var layer in layers)
        {
            var (y, ld) = layer.forward(z);
            z = y;
            logDet = logDet.Plus(ld);
        }
        return (z.MoveToOuterDisposeScope(), logDet.MoveToOuterDisposeScope());
    }

    /// <summary>log p(x) and ‖z‖² per row.</summary>
    public (Tensor LogP, Tensor Radius2) Evaluate(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (z, logDet) = Transform(x);
        var r2 = (z * z).sum(-1);
        var logp = r2.mul(MinusHalf).sub(logNormConst).Plus(logDet);
        return (logp.MoveToOuterDisposeScope(), r2.MoveToOuterDisposeScope());
    }

    /// <summary>log p(x) per row.</summary>
    public override Tensor forward(Tensor x)
    {
        var (logp, r2) = Evaluate(x);
        r2.Dispose();
        return logp;
    }
}
