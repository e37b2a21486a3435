namespace O2O.Learning.Nn;

/// <summary>
/// xoshiro256** (Blackman &amp; Vigna) with splitmix64 seeding: small, fast, and the same stream on every
/// platform and .NET version, with a state that checkpoints can save and restore.
/// </summary>
public sealed class Rng
{
    ulong s0, s1, s2, s3;
    double spare;
    bool hasSpare;

    public Rng(ulong seed)
    {
        var x = seed;
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        var z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(s1 * 5, 7) * 9;
        var t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)(NextDouble() * n);

    /// <summary>Standard normal (Marsaglia polar method).</summary>
    public double NextGaussian()
    {
        if (hasSpare) { hasSpare = false; return spare; }
        double u, v, s;
        do { u = 2 * NextDouble() - 1; v = 2 * NextDouble() - 1; s = u * u + v * v; } while (s >= 1 || s == 0);
        var m = Math.Sqrt(-2 * Math.Log(s) / s);
        spare = v * m; hasSpare = true;
        return u * m;
    }

    /// <summary>Fisher–Yates shuffle in place (the same draws for any element type).</summary>
    public void Shuffle<T>(Span<T> a)
    {
        for (var i = a.Length - 1; i > 0; i -= 1) { var j = NextInt(i + 1); (a[i], a[j]) = (a[j], a[i]); }
    }

    /// <summary>The full generator state (for checkpoints).</summary>
    public ulong[] GetState() => [s0, s1, s2, s3, hasSpare ? 1UL : 0UL, BitConverter.DoubleToUInt64Bits(spare)];

    /// <summary>Restore a state from <see cref="GetState"/>.</summary>
    public void SetState(ReadOnlySpan<ulong> st)
    {
        s0 = st[0]; s1 = st[1]; s2 = st[2]; s3 = st[3];
        hasSpare = st[4] != 0;
        spare = BitConverter.UInt64BitsToDouble(st[5]);
    }
}
