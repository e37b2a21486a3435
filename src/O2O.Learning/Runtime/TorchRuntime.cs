using System.Runtime.InteropServices;
using TorchSharp;

namespace O2O.Learning.Runtime;

/// <summary>Start-up of the native tensor library: platform fix, device choice, threads, seeds.</summary>
public static partial class TorchRuntime
{
    static readonly Lock Gate = new();
    static bool ready;

    /// <summary>Patch the native glue if this platform needs it, then load libtorch once.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (ready) return;
            try
            {
                LibTorchSharpFix.Apply();
            }
            catch (UnauthorizedAccessException e)
            {
                throw new O2OTorchLoadException(
                    $"cannot patch libLibTorchSharp.so for this libstdc++ ({e.Message}); " +
                    $"make the build output folder writable or build once as its owner");
            }
            // MKL picks its GEMM kernel by the operands' memory alignment, so two runs with the same seed
            // differed in the 8th digit (tensors over managed arrays land at varying alignments). Strict
            // conditional numerical reproducibility makes results independent of alignment on this CPU.
            // MKL reads the variable at its first call, so set it in the native environment before that.
            if (OperatingSystem.IsLinux() && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MKL_CBWR")))
                _ = SetEnv("MKL_CBWR", "AUTO,STRICT", 0);
            // libtorch's OpenMP (libgomp) threads spin while they wait for work. On a machine whose cores are busy
            // with other processes, a spinning thread holds a core the thread it waits for needs: a 2-thread DSR
            // epoch took 141 s of wall time (112 s of CPU) where one thread took 11 s, at load average 16. Waiting
            // passively (sleeping at once) gave 6–8 s for the same epochs, and identical results; libgomp reads
            // the variable when it loads, so set it in the native environment before libtorch loads.
            if (OperatingSystem.IsLinux()
                && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")))
                _ = SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0);
            KeepFreedMemory();
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e) when (e is not O2OTorchLoadException)
            {
                throw new O2OTorchLoadException(
                    $"libtorch failed to load ({FirstLine(e.Message)}); rebuild (the build restores TorchSharp's " +
                    $"linux-x64 natives) and see README 'Platform notes'");
            }
            ready = true;
        }
    }

    /// <summary>Resolve a device name: cpu, cuda or auto (auto falls back to cpu).</summary>
    public static torch.Device ResolveDevice(string device)
    {
        EnsureLoaded();
        switch (device.Trim().ToLowerInvariant())
        {
            case "cpu":
                return torch.CPU;
            case "auto":
                return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
            case "cuda":
                if (!torch.cuda.is_available())
                    throw new O2O.Core.OptionError("Device cuda: this build has no CUDA (TorchSharp is linked to "
                        + "the CPU libtorch); choose Device cpu or auto", "Device");
                return torch.CUDA;
            default:
                throw new O2O.Core.OptionError($"Device '{device}': expected cpu, cuda or auto", "Device");
        }
    }

    /// <summary>
    /// Seed libtorch's generator and pin the intra-op thread count (0 keeps the current count). Results are
    /// reproducible for a given count; whether they also equal another count's depends on the operations (the DSR's
    /// do on this CPU, BC's do not: docs/benchmarks.md).
    /// </summary>
    public static void Configure(int seed, int threads)
    {
        EnsureLoaded();
        torch.manual_seed(seed);
        if (threads > 0) torch.set_num_threads(threads);
    }

    /// <summary>A thread-count option: positive as given, 0 for every core of the machine.</summary>
    public static int ResolveThreads(int threads) => threads > 0 ? threads : Environment.ProcessorCount;

    /// <summary>
    /// glibc hands freed heap memory back to the kernel above 128 KiB at the top of the heap, and libtorch frees
    /// and reallocates the same megabytes of activations at every update, so the kernel zeroed fresh pages each
    /// time: CQL's update spent a fifth of its CPU time in the kernel (5.5 s sys against 21 s user for 200
    /// updates; 0.5 s with these settings, same results). Keep up to 256 MiB of freed memory, and serve blocks up
    /// to 32 MiB from the heap rather than from fresh mappings. An explicit MALLOC_* variable wins.
    /// </summary>
    static void KeepFreedMemory()
    {
        const int trimThreshold = -1, mmapThreshold = -3;
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            if (Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is null)
                _ = MallOpt(trimThreshold, 256 << 20);
            if (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is null)
                _ = MallOpt(mmapThreshold, 32 << 20);
        }
        catch (EntryPointNotFoundException)
        {
            // not glibc (e.g. musl): its allocator has no such knobs
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int param, int value);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    static string FirstLine(string s) => s.Split('\n')[0].Trim();
}

/// <summary>libtorch could not be loaded; the message says how to fix it.</summary>
public sealed class O2OTorchLoadException(string message) : O2O.Core.UserError(message);
