using O2O.Learning.OffPolicy;
using O2O.Learning.Ppo;
using O2O.Learning.Runtime;
using O2O.Learning.Training;

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

    /// <summary>The CSV without the columns that measure time and those a DSR adds (dsr/*), header first.</summary>
    internal static string[] WithoutTimingAndDsr(string csvPath)
    {
        var lines = File.ReadAllLines(csvPath);
        var header = lines[0].Split(',');
        var keep = Enumerable.Range(0, header.Length)
            .Where(j => !LearningTestSupport.IsTiming(header[j]) && !header[j].StartsWith("dsr/", StringComparison.Ordinal))
            .ToArray();
        return lines.Select(l => string.Join(',', keep.Select(j => l.Split(',')[j]))).ToArray();
    }

    static string Column(string csv, int row, string column)
    {
        var lines = File.ReadAllLines(csv);
        return lines[row].Split(',')[Array.IndexOf(lines[0].Split(','), column)];
    }

    [Fact]
    public void A_dsr_with_beta_and_eta_zero_gives_exactly_the_plain_numbers()
    {
        var plain = Tiny("plain", epochs: 2);
        using (var t = new SacTrainer(plain)) t.Run();
        var dsr = Tiny("dsr0", epochs: 2) with
        {
            DsrPath = OffPolicySupportTests.FixtureDsr(), Shaping = new DsrShapingOptions { Beta = 0, Eta = 0 },
        };
        using (var t = new SacTrainer(dsr)) t.Run();
        Assert.Equal(WithoutTimingAndDsr(plain.Csv), WithoutTimingAndDsr(dsr.Csv));
        // Without a DSR the schema is the plain learner's; with one it gains time/dsr_s and PPO's dsr/* columns.
        Assert.Equal(string.Join(',', RunHarness.Columns(SacLearner.TimeColumnNames, SacLearner.MetricColumnNames, [])),
            File.ReadLines(plain.Csv).First());
        Assert.Equal(string.Join(',', RunHarness.Columns([.. SacLearner.TimeColumnNames, "time/dsr_s"],
            SacLearner.MetricColumnNames, DsrShaper.Columns)), File.ReadLines(dsr.Csv).First());
        Assert.Equal("0", Column(dsr.Csv, 2, "dsr/beta"));
        Assert.NotEqual("", Column(dsr.Csv, 1, "dsr/support_mean"));
    }

    [Theory]
    [InlineData("reward")]
    [InlineData("value")]
    public void Resume_with_a_dsr_reproduces_the_uninterrupted_run(string pessimism)
    {
        // Automatic β₀ (set at the first batch, checkpointed) and annealing over the budget.
        var shaping = new DsrShapingOptions { Pessimism = pessimism, AnnealFrac = 1 };
        var a = Tiny("whole-" + pessimism, epochs: 3) with { DsrPath = OffPolicySupportTests.FixtureDsr(), Shaping = shaping };
        using (var t = new SacTrainer(a)) t.Run();
        var b = a with { RunName = "parts-" + pessimism, LogDir = Path.Combine(tmp, "parts-" + pessimism), Verbose = true };
        using (var cts = new CancellationTokenSource())
        using (var t = new SacTrainer(b, line => { if (line.StartsWith("epoch 2/", StringComparison.Ordinal)) cts.Cancel(); }))
            Assert.Throws<OperationCanceledException>(() => t.Run(ct: cts.Token));
        using (var t = new SacTrainer(b with { Verbose = false })) t.Run(resume: true);
        var rows = LearningTestSupport.WithoutTiming(a.Csv);
        Assert.Equal(4, rows.Length);
        Assert.Equal(rows, LearningTestSupport.WithoutTiming(b.Csv));
        Assert.NotEqual("0", Column(a.Csv, 2, "dsr/beta"));
    }

    [Fact]
    public void Reward_and_value_pessimism_change_the_critic_differently()
    {
        var plain = Tiny("plain-rv", epochs: 2);
        using (var t = new SacTrainer(plain)) t.Run();
        string Critic(string pessimism)
        {
            var o = Tiny("rv-" + pessimism, epochs: 2) with
            {
                DsrPath = OffPolicySupportTests.FixtureDsr(),
                Shaping = new DsrShapingOptions { Pessimism = pessimism, Beta = 1, Eta = 0, Anneal = "none" },
            };
            using (var t = new SacTrainer(o)) t.Run();
            Assert.Equal("1", Column(o.Csv, 2, "dsr/beta"));
            return Column(o.Csv, 2, "losses/critic");
        }
        var (reward, value, none) = (Critic("reward"), Critic("value"), Column(plain.Csv, 2, "losses/critic"));
        Assert.NotEqual(none, reward);
        Assert.NotEqual(none, value);
        Assert.NotEqual(reward, value);
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
