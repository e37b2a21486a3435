namespace O2O.Sim;

/// <summary>
/// PCG32 (XSH-RR, O'Neill 2014) with uniform and Gaussian draws built from integer and IEEE
/// +,−,×,÷,√ only, so a seed gives the same numbers on every run, machine and .NET version
/// (System.Random's algorithm and Math.Log/Cos are not promised to stay fixed).
/// </summary>
public struct Pcg32
{
    const ulong Multiplier = 6364136223846793005UL;
    ulong state;
    readonly ulong increment;
    double spareGaussian;
    bool hasSpare;

    /// <summary>
    /// A generator for <paramref name="seed"/> on stream <paramref name="stream"/> (the reference pcg32_srandom).
    /// </summary>
    public Pcg32(ulong seed, ulong stream = 0x14057B7EF767814FUL)
    {
        increment = (stream << 1) | 1UL;
        state = 0;
        spareGaussian = 0;
        hasSpare = false;
        NextUInt();
        state += seed;
        NextUInt();
    }

    /// <summary>The full generator state, for checkpoints: state, increment, spare Gaussian bits, has-spare.</summary>
    public readonly ulong[] GetState() =>
        [state, increment, BitConverter.DoubleToUInt64Bits(spareGaussian), hasSpare ? 1UL : 0UL];

    /// <summary>A generator continuing exactly from <see cref="GetState"/>.</summary>
    public static Pcg32 FromState(ReadOnlySpan<ulong> s) =>
        new(s[0], s[1], BitConverter.UInt64BitsToDouble(s[2]), s[3] != 0);

    Pcg32(ulong state, ulong inc, double spare, bool hasSpare)
    {
        this.state = state;
        increment = inc;
        spareGaussian = spare;
        this.hasSpare = hasSpare;
    }

    /// <summary>Next 32 uniformly distributed bits.</summary>
    public uint NextUInt()
    {
        var old = state;
        state = unchecked(old * Multiplier + increment);
        var xorShifted = (uint)(((old >> 18) ^ old) >> 27);
        var rot = (int)(old >> 59);
        return (xorShifted >> rot) | (xorShifted << (-rot & 31));
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble()
    {
        var hi = (ulong)NextUInt() >> 5;  // 27 bits
        var lo = (ulong)NextUInt() >> 6;  // 26 bits
        return ((hi << 26) | lo) * (1.0 / (1UL << 53));
    }

    /// <summary>Uniform in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>
    /// Standard normal N(0, 1) by the Box–Muller transform; the second value of each pair is kept for the next call.
    /// </summary>
    public double NextGaussian()
    {
        if (hasSpare)
        {
            hasSpare = false;
            return spareGaussian;
        }
        var u1 = 1.0 - NextDouble();            // (0, 1]: log is finite
        var u2 = NextDouble();                  // [0, 1): a fraction of a full turn
        var r = Math.Sqrt(-2.0 * DeterministicMath.Log(u1));
        DeterministicMath.SinCosTurns(u2, out var s, out var c);
        spareGaussian = r * s;
        hasSpare = true;
        return r * c;
    }
}

/// <summary>
/// log and sin/cos from +,−,×,÷ only: bit-identical everywhere, accurate to a few ulp (enough for noise).
/// </summary>
internal static class DeterministicMath
{
    const double Ln2 = 0.693147180559945309417232121458;
    const double HalfPi = 1.57079632679489661923132169164;

    /// <summary>Natural log of a positive finite <paramref name="x"/>.</summary>
    public static double Log(double x)
    {
        if (!(x > 0) || double.IsInfinity(x))
            throw new ArgumentOutOfRangeException(nameof(x), x, "log needs a positive finite number");
        // x = m · 2^e with m in [1, 2); subnormals are scaled into the normal range first.
        var bits = BitConverter.DoubleToInt64Bits(x);
        var e = 0;
        if ((bits >> 52) == 0) { x *= 18014398509481984.0; bits = BitConverter.DoubleToInt64Bits(x); e = -54; }
        e += (int)((bits >> 52) & 0x7FF) - 1023;
        var m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L);
        if (m > 1.4142135623730951) { m *= 0.5; e++; }  // m in [√½, √2): |s| ≤ 0.172
        // log m = 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …), s = (m − 1)/(m + 1); 12 terms reach double precision.
        var s = (m - 1.0) / (m + 1.0);
        var s2 = s * s;
        var sum = 0.0;
        for (var k = 23; k >= 1; k -= 2) sum = sum * s2 + 1.0 / k;
        return 2.0 * s * sum + e * Ln2;
    }

    /// <summary>sin and cos of 2π·<paramref name="turns"/> for turns in [0, 1).</summary>
    public static void SinCosTurns(double turns, out double sin, out double cos)
    {
        // Quadrant from the fraction of a turn (exact), then Taylor series on [0, π/2).
        var q4 = turns * 4.0;
        var quadrant = (int)q4;
        var a = (q4 - quadrant) * HalfPi;
        var a2 = a * a;
        double sa = 0, ca = 0;
        // sin a = a Σ (−a²)^k/(2k+1)!, cos a = Σ (−a²)^k/(2k)!, k ≤ 11: error < 1e-17 for a < π/2.
        for (var k = 11; k >= 0; k -= 1)
        {
            sa = sa * -a2 / ((2 * k + 2) * (2 * k + 3)) + 1.0;
            ca = ca * -a2 / ((2 * k + 1) * (2 * k + 2)) + 1.0;
        }
        sa *= a;
        (sin, cos) = (quadrant & 3) switch
        {
            0 => (sa, ca),
            1 => (ca, -sa),
            2 => (-sa, -ca),
            _ => (-ca, sa),
        };
    }
}
