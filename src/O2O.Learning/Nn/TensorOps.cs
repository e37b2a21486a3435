using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Nn;

/// <summary>
/// Tensor arithmetic without TorchSharp's temporary scalars. TorchSharp's <c>a + b</c>, <c>add(Tensor)</c> and
/// <c>add_(Scalar)</c> convert alpha = 1 to a Scalar on the fly; the finalizer can free it while libtorch still reads
/// it (a native "toFloat"/"Unknown scalar type" error after minutes to hours of training). These pass scalars that
/// live for the whole process. tests/O2O.Learning.Tests/TemporaryScalarTests.cs keeps the code free of the hazard.
/// </summary>
internal static class TensorOps
{
    internal static readonly Scalar One = 1.0, MinusOne = -1.0, Two = 2.0;

    /// <summary>a + b (broadcasting), with a lasting alpha.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a + s, with a lasting alpha; <paramref name="s"/> must itself outlive the call.</summary>
    public static Tensor Plus(this Tensor a, Scalar s) => a.add(s, One);

    /// <summary>In-place a += s, with a lasting alpha.</summary>
    public static Tensor PlusInPlace(this Tensor a, Scalar s) => a.add_(s, One);

    /// <summary>In-place a += b (broadcasting), with a lasting alpha.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);
}
