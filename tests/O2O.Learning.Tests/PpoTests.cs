using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using TorchSharp;

namespace O2O.Learning.Tests;

/// <summary>Helpers shared by the PPO and BC tests: tiny PPO budgets, CSV comparison, live-tensor counts.</summary>
internal static class LearningTestSupport
{
    /// <summary>Columns that measure time; everything else in a PPO CSV must be reproducible.</summary>
    public static bool IsTiming(string column) => column == "wall_s" || column.StartsWith("time/", StringComparison.Ordinal);

    /// <summary>A PPO run of <paramref name="epochs"/> epochs of 512 steps on 2 Hopper envs (~1 s per epoch).</summary>
    public static PpoOptions TinyPpo(string dir, int epochs, int seed = 1) => new()
    {
        EnvId = "Hopper-v4",
        TotalSteps = 512L * epochs,
        StepsPerEpoch = 512,
        MinibatchSize = 128,
        TrainIters = 2,
        NumEnvs = 2,
        EnvThreads = 1,
        EvalEpisodes = 1,
        EvalEvery = 512,
        Seed = seed,
        RunName = "tiny",
        LogDir = dir,
    };

    /// <summary>The CSV's rows with the timing columns blanked, header first.</summary>
    public static string[] WithoutTiming(string csvPath)
    {
        var lines = File.ReadAllLines(csvPath);
        var header = lines[0].Split(',');
        return lines.Select((l, i) =>
        {
            if (i == 0) return l;
            var cells = l.Split(',');
            Assert.Equal(header.Length, cells.Length);
            return string.Join(',', cells.Select((c, j) => IsTiming(header[j]) ? "" : c));
        }).ToArray();
    }

    /// <summary>Tensors created and not disposed on this thread so far.</summary>
    public static long LiveTensors() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;
}

/// <summary>
/// Training tests seed libtorch's global generator (network initialisation), so they must not run
/// beside each other: a parallel test re-seeding it between two runs would make "same seed, same run" fail.
/// </summary>
[CollectionDefinition("Torch training", DisableParallelization = true)]
public sealed class TorchTrainingCollection;

/// <summary>PPO end to end at the library level: resume equals an uninterrupted run; no tensors leak per epoch.</summary>
[Collection("Torch training")]
public class PpoRunTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-ppo-").FullName;

    public PpoRunTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    [Fact]
    public void Resume_after_an_interruption_reproduces_the_uninterrupted_run()
    {
        var dirA = Path.Combine(tmp, "a");
        var dirB = Path.Combine(tmp, "b");
        var a = LearningTestSupport.TinyPpo(dirA, epochs: 4) with { Verbose = false };
        using (var t = new PpoTrainer(a)) t.Run();

        // Run B stops right after epoch 2 is logged and checkpointed (the progress line comes after both).
        var b = LearningTestSupport.TinyPpo(dirB, epochs: 4);
        using (var cts = new CancellationTokenSource())
        using (var t = new PpoTrainer(b, log: line => { if (line.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        Assert.Equal(3, File.ReadAllLines(b.Csv).Length);
        Assert.False(File.Exists(b.FinalActorPath));

        O2O.Learning.Training.RunResult r;
        using (var t = new PpoTrainer(b with { Verbose = false })) r = t.Run(resume: true);
        Assert.Equal((4, 2048L), (r.Epochs, r.EnvSteps));

        var rowsA = LearningTestSupport.WithoutTiming(a.Csv);
        var rowsB = LearningTestSupport.WithoutTiming(b.Csv);
        Assert.Equal(5, rowsA.Length);
        Assert.Equal(rowsA, rowsB);
        // Same weights (not same bytes: a .pt is a zip whose entries carry their write time).
        using var actorA = O2O.Learning.Checkpoints.ActorBundle.Load(a.FinalActorPath);
        using var actorB = O2O.Learning.Checkpoints.ActorBundle.Load(b.FinalActorPath);
        foreach (var (k, v) in actorA.Actor.state_dict())
            Assert.Equal(v.detach().data<float>().ToArray(), actorB.Actor.state_dict()[k].detach().data<float>().ToArray());
        Assert.Equal(actorA.ObsNorm.Mean, actorB.ObsNorm.Mean);
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_a_user_error_and_writes_nothing()
    {
        var o = LearningTestSupport.TinyPpo(Path.Combine(tmp, "none"), epochs: 1) with { Verbose = false };
        using var t = new PpoTrainer(o);
        var e = Assert.ThrowsAny<O2O.Core.UserError>(() => t.Run(resume: true));
        Assert.Contains("no checkpoint", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(o.Csv));
    }

    [Fact]
    public void Training_does_not_leak_tensors_per_epoch()
    {
        TorchRuntime.Configure(1, 1);
        long Leak(int epochs)
        {
            var before = LearningTestSupport.LiveTensors();
            using (var t = new PpoTrainer(LearningTestSupport.TinyPpo(Path.Combine(tmp, $"leak{epochs}"), epochs) with { Verbose = false, EvalEpisodes = 0 }))
                t.Run();
            return LearningTestSupport.LiveTensors() - before;
        }
        Leak(1); // warm-up: one-time allocations (generators, caches) are not leaks
        var one = Leak(1);
        var three = Leak(3);
        Assert.True(three == one, $"live tensors after a run: {one} for 1 epoch, {three} for 3 epochs");
        // A few wrappers whose handle nn.Parameter takes over are never counted as disposed; they own no memory.
        Assert.True(one <= 4, $"{one} tensors outlive a disposed trainer");
    }
}

/// <summary>Pieces of the PPO update checked against direct computations.</summary>
public class PpoMathTests
{
    [Fact]
    public void Explained_variance_is_one_minus_residual_over_target_variance()
    {
        float[] target = [1, 2, 3, 4, 6];
        float[] pred = [1.5f, 2, 2.5f, 4, 5];
        double Var(IEnumerable<double> x) { var a = x.ToArray(); var m = a.Average(); return a.Sum(v => (v - m) * (v - m)) / a.Length; }
        var expected = 1 - Var(target.Zip(pred, (y, p) => (double)y - p)) / Var(target.Select(v => (double)v));
        Assert.Equal(expected, PpoLosses.ExplainedVariance(pred, target), 12);
        Assert.Equal(1.0, PpoLosses.ExplainedVariance(target, target), 12);
        // A constant prediction explains nothing; a constant offset is not penalised (variance, not MSE).
        Assert.Equal(0.0, PpoLosses.ExplainedVariance([3, 3, 3, 3, 3], target), 12);
        Assert.Equal(1.0, PpoLosses.ExplainedVariance(target.Select(v => v + 10).ToArray(), target), 12);
        Assert.True(double.IsNaN(PpoLosses.ExplainedVariance([1, 2], [5, 5])));
    }
}
