namespace O2O.Sim.Tests;

public class Pcg32Tests
{
    [Fact]
    public void Matches_the_reference_pcg32_demo_sequence()
    {
        // pcg32-demo.c of the reference implementation: pcg32_srandom_r(&rng, 42u, 54u).
        var rng = new Pcg32(42, 54);
        uint[] expected = [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e];
        Assert.Equal(expected, expected.Select(_ => rng.NextUInt()).ToArray());
    }

    [Fact]
    public void Uniform_stays_in_range_and_gaussian_has_unit_moments()
    {
        var rng = new Pcg32(1);
        double sum = 0, sumSq = 0;
        const int n = 200_000;
        for (var i = 0; i < n; i++)
        {
            var u = rng.Uniform(-2, 3);
            Assert.InRange(u, -2, 3);
            Assert.NotEqual(3, u);
            var g = rng.NextGaussian();
            sum += g;
            sumSq += g * g;
        }
        Assert.InRange(sum / n, -0.01, 0.01);
        Assert.InRange(sumSq / n, 0.98, 1.02);
    }

    [Theory]
    [InlineData(1e-300)]
    [InlineData(4.9e-324)]
    [InlineData(0.1)]
    [InlineData(0.7071)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(1e300)]
    public void Deterministic_log_agrees_with_the_platform_log(double x) =>
        Assert.Equal(Math.Log(x), DeterministicMath.Log(x), Math.Max(1e-15, Math.Abs(Math.Log(x)) * 4e-16));

    [Fact]
    public void Deterministic_sin_and_cos_agree_with_the_platform()
    {
        for (var i = 0; i < 1000; i++)
        {
            var t = i / 1000.0;
            DeterministicMath.SinCosTurns(t, out var s, out var c);
            Assert.Equal(Math.Sin(2 * Math.PI * t), s, 1e-14);
            Assert.Equal(Math.Cos(2 * Math.PI * t), c, 1e-14);
        }
    }
}
