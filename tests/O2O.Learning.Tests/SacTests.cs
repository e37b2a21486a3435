using O2O.Learning.OffPolicy;
using O2O.Learning.Runtime;

namespace O2O.Learning.Tests;

/// <summary>SAC end to end at the library level: it learns something, resumes exactly, and checkpoints.</summary>
[Collection("Torch training")]
public class SacRunTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-sac-").FullName;

    public SacRunTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    /// <summary>A SAC run of <paramref name="epochs"/> epochs of 300 Hopper steps with small networks.</summary>
    SacOptions Tiny(string name, int epochs) => new()
    {
        EnvId = "Hopper-v4",
        TotalSteps = 300L * epochs,
        StepsPerEpoch = 300,
        BatchSize = 64,
        Hidden = [32, 32],
        LearningStarts = 200,
        BufferSize = 5000,
        EvalEvery = 300,
        EvalEpisodes = 1,
        Seed = 2,
        RunName = name,
        LogDir = Path.Combine(tmp, name),
        Verbose = false,
    };

    [Fact]
    public void Resume_after_an_interruption_reproduces_the_uninterrupted_run()
    {
        var a = Tiny("whole", epochs: 3);
        using (var t = new SacTrainer(a)) t.Run();

        var b = Tiny("parts", epochs: 3) with { Verbose = true };
        using (var cts = new CancellationTokenSource())
        using (var t = new SacTrainer(b, line => { if (line.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        Assert.Equal(3, File.ReadAllLines(b.Csv).Length);
        using (var t = new SacTrainer(b with { Verbose = false }))
        {
            var r = t.Run(resume: true);
            Assert.Equal((3, 900L), (r.Epochs, r.EnvSteps));
        }
        var rowsA = LearningTestSupport.WithoutTiming(a.Csv);
        Assert.Equal(4, rowsA.Length);
        Assert.Equal(rowsA, LearningTestSupport.WithoutTiming(b.Csv));
    }

    [Fact]
    public void Updates_start_after_the_random_phase_and_the_temperature_moves()
    {
        var o = Tiny("log", epochs: 2);
        using (var t = new SacTrainer(o)) t.Run();
        var lines = File.ReadAllLines(o.Csv);
        var header = lines[0].Split(',');
        string Cell(int row, string column) => lines[row].Split(',')[Array.IndexOf(header, column)];
        // 300 steps in epoch 1 of which the first 200 are random: 100 updates; then one per step.
        Assert.Equal("100", Cell(1, "charts/updates"));
        Assert.Equal("300", Cell(2, "charts/updates"));
        var alpha = double.Parse(Cell(2, "charts/alpha"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(alpha < 1, $"α = {alpha}: auto-tuning lowers it from 1 while the policy's entropy is high");
        Assert.NotEqual("", Cell(2, "eval/return_mean"));
        Assert.True(File.Exists(o.FinalActorPath));
    }
}
