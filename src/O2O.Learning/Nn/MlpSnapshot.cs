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
    float[] batchA = [], batchB = [];
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
    public void Forward(ReadOnlySpan<float> x, Span<float> y) => ForwardRows(x, 1, y, bufA, bufB);

    /// <summary>
    /// Forward <paramref name="n"/> rows (row-major <paramref name="x"/>, n × Input, into <paramref name="y"/>,
    /// n × Output) in one pass per layer: each weight row is loaded once for four input rows. Every output equals,
    /// bit for bit, the single-row <see cref="Forward(ReadOnlySpan{float}, Span{float})"/> of its row (the same
    /// products summed in the same order), so batching never changes an action. Not thread-safe; grows its buffers
    /// on first use of a larger n.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (n == 1) { ForwardRows(x, 1, y, bufA, bufB); return; }
        var widest = bufA.Length;
        if (batchA.Length < n * widest) { batchA = new float[n * widest]; batchB = new float[n * widest]; }
        ForwardRows(x, n, y, batchA, batchB);
    }

    /// <summary>The layers over <paramref name="n"/> rows with <paramref name="a"/> and <paramref name="b"/> as
    /// ping-pong buffers (each at least n × the widest layer); a single row takes the remainder loop.</summary>
    void ForwardRows(ReadOnlySpan<float> x, int n, Span<float> y, float[] a, float[] b)
    {
        x[..(n * sizes[0])].CopyTo(a);
        float[] cur = a, nxt = b;
        var last = weights.Length - 1;
        for (var l = 0; l <= last; l++)
        {
            int nin = sizes[l], nout = sizes[l + 1];
            var wl = weights[l];
            var bl = biases[l];
            for (var o = 0; o < nout; o++)
            {
                var row = wl.AsSpan(o * nin, nin);
                var r = 0;
                for (; r + 4 <= n; r += 4)
                {
                    var (s0, s1, s2, s3) = Dot4(row, cur.AsSpan(r * nin, 4 * nin));
                    nxt[r * nout + o] = Activate(bl[o] + s0, l == last);
                    nxt[(r + 1) * nout + o] = Activate(bl[o] + s1, l == last);
                    nxt[(r + 2) * nout + o] = Activate(bl[o] + s2, l == last);
                    nxt[(r + 3) * nout + o] = Activate(bl[o] + s3, l == last);
                }
                for (; r < n; r++)
                    nxt[r * nout + o] = Activate(bl[o] + Dot(row, cur.AsSpan(r * nin, nin)), l == last);
            }
            (cur, nxt) = (nxt, cur);
        }
        cur.AsSpan(0, n * sizes[^1]).CopyTo(y);
    }

    float Activate(float s, bool output) =>
        output ? s : activation == Activation.Tanh ? MathF.Tanh(s) : MathF.Max(0, s);

    /// <summary>
    /// <see cref="Dot"/> of one weight row with four consecutive input rows of <paramref name="rows"/>, each summed
    /// exactly as <see cref="Dot"/> sums it.
    /// </summary>
    static (float, float, float, float) Dot4(ReadOnlySpan<float> a, ReadOnlySpan<float> rows)
    {
        var n = a.Length;
        var c0 = rows[..n];
        var c1 = rows.Slice(n, n);
        var c2 = rows.Slice(2 * n, n);
        var c3 = rows.Slice(3 * n, n);
        var i = 0;
        var acc0 = System.Numerics.Vector<float>.Zero;
        var acc1 = acc0;
        var acc2 = acc0;
        var acc3 = acc0;
        var width = System.Numerics.Vector<float>.Count;
        for (; i <= n - width; i += width)
        {
            var w = new System.Numerics.Vector<float>(a[i..]);
            acc0 += w * new System.Numerics.Vector<float>(c0[i..]);
            acc1 += w * new System.Numerics.Vector<float>(c1[i..]);
            acc2 += w * new System.Numerics.Vector<float>(c2[i..]);
            acc3 += w * new System.Numerics.Vector<float>(c3[i..]);
        }
        float s0 = System.Numerics.Vector.Sum(acc0), s1 = System.Numerics.Vector.Sum(acc1);
        float s2 = System.Numerics.Vector.Sum(acc2), s3 = System.Numerics.Vector.Sum(acc3);
        for (; i < n; i++)
        {
            s0 += a[i] * c0[i];
            s1 += a[i] * c1[i];
            s2 += a[i] * c2[i];
            s3 += a[i] * c3[i];
        }
        return (s0, s1, s2, s3);
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
