using static TorchSharp.torch;

namespace O2O.Learning.Nn;

/// <summary>
/// A frozen copy of an <see cref="Mlp"/>'s weights evaluated in plain C#. Acting one step at a time
/// through libtorch costs 50–80 µs of call overhead, several times a physics step; a 64×64 network is a
/// few thousand multiply-adds, a few µs here. Refresh it after every update.
/// </summary>
public sealed class MlpSnapshot
{
    readonly float[][] weights; // [layer][out*in]
    readonly float[][] biases; // [layer][out]
    readonly int[] sizes;
    readonly float[] bufA, bufB;
    readonly Activation activation;

    public MlpSnapshot(Mlp net)
    {
        activation = net.Act;
        var layers = net.Layers;
        weights = new float[layers.Count][];
        biases = new float[layers.Count][];
        sizes = new int[layers.Count + 1];
        sizes[0] = net.Input;
        for (var i = 0; i < layers.Count; i++)
        {
            sizes[i + 1] = (int)layers[i].weight!.shape[0];
            weights[i] = new float[sizes[i + 1] * sizes[i]];
            biases[i] = new float[sizes[i + 1]];
        }
        var widest = sizes.Max();
        bufA = new float[widest];
        bufB = new float[widest];
        Refresh(net);
    }

    /// <summary>Input width.</summary>
    public int Input => sizes[0];
    /// <summary>Output width.</summary>
    public int Output => sizes[^1];

    /// <summary>Copy the current weights from <paramref name="net"/>.</summary>
    public void Refresh(Mlp net)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope(); // frees the intermediate detach()/cpu() tensors
        var layers = net.Layers;
        for (var i = 0; i < layers.Count; i++)
        {
            using var wc = layers[i].weight!.detach().cpu().contiguous();
            using var bc = layers[i].bias!.detach().cpu().contiguous();
            wc.data<float>().CopyTo(weights[i]);
            bc.data<float>().CopyTo(biases[i]);
        }
    }

    /// <summary>Forward one row. Not thread-safe (uses internal buffers).</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        x[..sizes[0]].CopyTo(bufA);
        var cur = bufA;
        var nxt = bufB;
        var last = weights.Length - 1;
        for (var l = 0; l <= last; l++)
        {
            int nin = sizes[l], nout = sizes[l + 1];
            var wl = weights[l];
            var bl = biases[l];
            for (var o = 0; o < nout; o++)
            {
                var row = wl.AsSpan(o * nin, nin);
                var s = bl[o] + Dot(row, cur.AsSpan(0, nin));
                nxt[o] = l == last ? s : activation == Activation.Tanh ? MathF.Tanh(s) : MathF.Max(0, s);
            }
            (cur, nxt) = (nxt, cur);
        }
        cur.AsSpan(0, sizes[^1]).CopyTo(y);
    }

    static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> c)
    {
        var n = a.Length;
        var i = 0;
        var acc = System.Numerics.Vector<float>.Zero;
        var width = System.Numerics.Vector<float>.Count;
        for (; i <= n - width; i += width)
            acc += new System.Numerics.Vector<float>(a[i..]) * new System.Numerics.Vector<float>(c[i..]);
        var s = System.Numerics.Vector.Sum(acc);
        for (; i < n; i++) s += a[i] * c[i];
        return s;
    }
}
