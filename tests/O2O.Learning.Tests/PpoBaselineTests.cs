using O2O.Learning.Dsr;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;

namespace O2O.Learning.Tests;

/// <summary>
/// PPO, plain and with the DSR, reproduces the logs that commit 0962a8d wrote before PPO moved into the run
/// harness (tests/fixtures/ppo-baseline, README there): every column except the wall-clock ones, byte for byte.
/// </summary>
[Collection("Torch training")]
public class PpoBaselineTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-ppo-baseline-").FullName;

    public PpoBaselineTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    static string Fixtures()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", "ppo-baseline");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException("tests/fixtures/ppo-baseline not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// libtorch's kernels are reproducible on one kind of CPU (MKL_CBWR=AUTO,STRICT), not across kinds: the logs
    /// were made on an AMD CPU with AVX-512.
    /// </summary>
    internal static string? OtherCpuReason()
    {
        var info = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
        var amd = info.Contains("AuthenticAMD", StringComparison.Ordinal);
        var avx512 = info.Contains(" avx512f", StringComparison.Ordinal);
        return amd && avx512 ? null : "the baseline logs were made on an AMD CPU with AVX-512; this CPU computes other roundings";
    }

    /// <summary>The options train-online builds from the fixture README's command lines.</summary>
    PpoOptions Options(string name, int seed = 3, long totalSteps = 3072, int trainIters = 4, int evalEpisodes = 2) => new()
    {
        EnvId = "Hopper-v4",
        TotalSteps = totalSteps,
        StepsPerEpoch = 1024,
        MinibatchSize = 256,
        TrainIters = trainIters,
        NumEnvs = 2,
        EvalEpisodes = evalEpisodes,
        EvalEvery = 1024,
        Seed = seed,
        RunName = name,
        LogDir = tmp,
        Verbose = false,
    };

    void AssertSameLog(string name, PpoOptions o, DsrShapingOptions? shaping = null)
    {
        using (var dsr = shaping is null ? null : SupportModel.Load(Path.Combine(Fixtures(), "dsr.pt"), "Hopper-v4"))
        {
            var shaper = dsr is null ? null : new DsrShaper(dsr, shaping!, dsr.RewardAbsMean!.Value);
            using var trainer = new PpoTrainer(o, shaper);
            trainer.Run();
        }
        Assert.Equal(LearningTestSupport.WithoutTiming(Path.Combine(Fixtures(), name + ".csv")),
            LearningTestSupport.WithoutTiming(o.Csv));
    }

    string Bc => Path.Combine(Fixtures(), "bc_actor.pt");

    [SkippableFact]
    public void Plain_ppo_from_a_bc_actor_gives_the_baseline_log()
    {
        Skip.If(OtherCpuReason() is not null, OtherCpuReason());
        AssertSameLog("plain", Options("plain") with { InitActor = Bc });
    }

    [SkippableFact]
    public void Ppo_with_the_dsr_in_the_reward_gives_the_baseline_log()
    {
        Skip.If(OtherCpuReason() is not null, OtherCpuReason());
        AssertSameLog("dsr_reward", Options("dsr_reward") with { InitActor = Bc }, new DsrShapingOptions());
    }

    [SkippableFact]
    public void Ppo_with_the_dsr_in_the_value_and_critic_warmup_gives_the_baseline_log()
    {
        Skip.If(OtherCpuReason() is not null, OtherCpuReason());
        AssertSameLog("dsr_value", Options("dsr_value") with { InitActor = Bc, CriticWarmup = 1 },
            new DsrShapingOptions { Pessimism = "value", Beta = 0.5 });
    }

    [SkippableFact]
    public void Ppo_from_scratch_gives_the_baseline_log()
    {
        Skip.If(OtherCpuReason() is not null, OtherCpuReason());
        AssertSameLog("scratch", Options("scratch", seed: 4, totalSteps: 2048, trainIters: 2, evalEpisodes: 1) with { Hidden = [16, 16] });
    }
}
