using O2O.Learning.Dsr;
using O2O.Learning.Runtime;

namespace O2O.Learning.Tests.Dsr;

/// <summary>Synthetic offline data with known structure for DSR tests.</summary>
internal static class DsrTestData
{
    public const int ObsDim = 3;
    public const int ActDim = 2;
    public static readonly float[] StateScale = [1f, 2f, 0.5f];
    public static readonly float[] StateOffset = [0.5f, -1f, 3f];

    /// <summary>One-thread, seeded libtorch for reproducible, polite tests.</summary>
    public static void Torch(int seed = 0) => TorchRuntime.Configure(seed, 1);

    /// <summary>
    /// States N(offset, scale²); actions a = clip(tanh(W s̃) + 0.1 ε, ±1) with s̃ the standardised state, so actions
    /// are a near-deterministic function of the state with some point masses at ±1.
    /// </summary>
    public static (float[] States, float[] Actions, int[] EpisodeStarts) Pairs(int episodes, int length, int seed,
        double actionNoise = 0.1)
    {
        var rng = new Random(seed);
        var n = episodes * length;
        var s = new float[n * ObsDim];
        var a = new float[n * ActDim];
        for (var i = 0; i < n; i++)
        {
            var z = new double[ObsDim];
            for (var j = 0; j < ObsDim; j++)
            {
                z[j] = Gauss(rng);
                s[i * ObsDim + j] = (float)(StateOffset[j] + StateScale[j] * z[j]);
            }
            a[i * ActDim + 0] = (float)Math.Clamp(Math.Tanh(1.2 * z[0] - 0.8 * z[1]) + actionNoise * Gauss(rng), -1, 1);
            a[i * ActDim + 1] =
                (float)Math.Clamp(Math.Tanh(0.9 * z[2] + 0.5 * z[0] * z[1]) + actionNoise * Gauss(rng), -1, 1);
        }
        var starts = Enumerable.Range(0, episodes).Select(e => e * length).ToArray();
        return (s, a, starts);
    }

    public static double Gauss(Random rng) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble());

    public static DsrOptions SmallFlow => new()
    {
        Epochs = 40,
        BatchSize = 256,
        Hidden = 64,
        CouplingLayers = 6,
        LearningRate = 2e-3,
        Holdout = 0.1,
        Seed = 3,
        DiagnosticsMaxPairs = 1000,
    };

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "o2o-dsr-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}

/// <summary>One flow DSR trained once and shared by the tests that only read it.</summary>
public sealed class TrainedFlowFixture : IDisposable
{
    internal SupportModel Model { get; }
    internal float[] States { get; }
    internal float[] Actions { get; }
    internal List<string> Log { get; } = new();
    internal TimeSpan TrainTime { get; }

    public TrainedFlowFixture()
    {
        DsrTestData.Torch();
        var (s, a, starts) = DsrTestData.Pairs(episodes: 40, length: 50, seed: 11);
        States = s;
        Actions = a;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // Rewards alternate +1 / −3: mean |r| = 2 exactly, the online shaping scale recorded in the checkpoint.
        var rewards = Enumerable.Range(0, s.Length / DsrTestData.ObsDim).Select(i => i % 2 == 0 ? 1f : -3f).ToArray();
        Model = DsrTrainer.Train(DsrTestData.SmallFlow, s, a, DsrTestData.ObsDim, DsrTestData.ActDim, starts,
            "Synthetic-v0", Log.Add, rewards: rewards);
        TrainTime = sw.Elapsed;
    }

    public void Dispose() => Model.Dispose();
}

[CollectionDefinition("Dsr", DisableParallelization = true)]
public sealed class DsrCollection;
