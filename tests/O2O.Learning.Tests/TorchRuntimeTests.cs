using O2O.Learning.Runtime;
using TorchSharp;

namespace O2O.Learning.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void Libtorch_loads_and_runs_a_backward_pass()
    {
        TorchRuntime.EnsureLoaded();
        using var x = torch.tensor(new float[] { 1f, 2f, 3f }, requires_grad: true);
        using var y = (x * x).sum();
        y.backward();
        Assert.Equal(new float[] { 2f, 4f, 6f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Patch_is_idempotent_on_the_shipped_library()
    {
        TorchRuntime.EnsureLoaded();
        // After start-up, applying again must change nothing.
        var second = LibTorchSharpFix.Apply();
        Assert.Contains(second,
            new[] { LibTorchSharpFix.Outcome.AlreadyPatched, LibTorchSharpFix.Outcome.NotNeeded,
                LibTorchSharpFix.Outcome.VersionNotReferenced });
    }

    [Fact]
    public void Patcher_marks_the_version_requirement_weak_in_a_copy()
    {
        var lib = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(lib)) lib = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(lib), $"TorchSharp's native glue not found at {lib}");
        var copy = Path.Combine(Path.GetTempPath(), $"o2o-elf-{Guid.NewGuid():N}.so");
        File.Copy(lib, copy);
        try
        {
            var bytes = File.ReadAllBytes(copy);
            var at = LibTorchSharpFix.FindVernauxFlagsOffset(bytes, "GLIBCXX_3.4.32");
            Assert.True(at > 0, "the shipped library should reference GLIBCXX_3.4.32");
            bytes[at] &= unchecked((byte)~0x2); // clear the weak flag, as in the original package
            File.WriteAllBytes(copy, bytes);
            Assert.Equal(LibTorchSharpFix.Outcome.Patched, LibTorchSharpFix.PatchFile(copy));
            Assert.Equal(LibTorchSharpFix.Outcome.AlreadyPatched, LibTorchSharpFix.PatchFile(copy));
            Assert.Equal(2, File.ReadAllBytes(copy)[at] & 0x2);
        }
        finally { File.Delete(copy); }
    }

    [Fact]
    public void Cuda_device_on_a_cpu_build_is_a_clear_error()
    {
        var e = Assert.ThrowsAny<O2O.Core.UserError>(() => TorchRuntime.ResolveDevice("cuda"));
        Assert.Contains("choose Device cpu or auto", e.Message);
        Assert.Equal(torch.CPU.type, TorchRuntime.ResolveDevice("auto").type);
    }
}
