using O2O.Core;
using O2O.Learning.Dsr;
using Xunit.Abstractions;

namespace O2O.Learning.Tests.Dsr;

[Collection("Dsr")]
public class EnergyAndInputTests(ITestOutputHelper output)
{
    const int D = DsrTestData.ObsDim, A = DsrTestData.ActDim;

    [Fact]
    public void Energy_model_ranks_data_above_negatives_and_separates_uniform_actions()
    {
        DsrTestData.Torch(4);
        var (s, a, starts) = DsrTestData.Pairs(episodes: 40, length: 50, seed: 21, actionNoise: 0.05);
        var log = new List<string>();
        var options = DsrTestData.SmallFlow with { Kind = DsrKind.Energy, Epochs = 25, Seed = 5 };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var model = DsrTrainer.Train(options, s, a, D, A, starts, "Synthetic-v0", log.Add);
        output.WriteLine($"train {sw.Elapsed.TotalSeconds:F1}s");
        foreach (var l in log) output.WriteLine(l);
        var last = log.Last(l => l.StartsWith("dsr epoch", StringComparison.Ordinal));
        var acc = double.Parse(last.Split("ranking accuracy joint ")[1].Split(' ')[0],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(acc > 0.85, $"held-out ranking accuracy {acc}");
        var joint = model.Diagnostics!.Modes.Single(m => m.Mode == "joint");
        Assert.True(joint.AurocUniformActions > 0.9, $"energy AUROC vs uniform {joint.AurocUniformActions:F3}");
        Assert.Null(model.Diagnostics.HeldOutLogLikJoint);
        Assert.ThrowsAny<UserError>(() => model.Support(s, a, 1, SupportMode.Joint, new float[1], DsrScore.Radius));

        var dir = DsrTestData.TempDir();
        try
        {
            var path = Path.Combine(dir, "energy_dsr.pt");
            model.Save(path);
            using var loaded = SupportModel.Load(path, "Synthetic-v0", D, A);
            Assert.Equal(DsrKind.Energy, loaded.Kind);
            var n = s.Length / D;
            float[] x = new float[n], y = new float[n];
            model.Support(s, a, n, SupportMode.Conditional, x);
            loaded.Support(s, a, n, SupportMode.Conditional, y);
            Assert.Equal(x, y);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Ood_set_gives_an_auroc_and_mismatched_dims_are_a_user_error()
    {
        DsrTestData.Torch(6);
        var (s, a, starts) = DsrTestData.Pairs(episodes: 30, length: 40, seed: 31);
        // OOD: states shifted by 3 std in every dimension
        var (os, oa, _) = DsrTestData.Pairs(episodes: 5, length: 40, seed: 32);
        for (var i = 0; i < os.Length; i++) os[i] += 3f * DsrTestData.StateScale[i % D];
        var options = DsrTestData.SmallFlow with { Epochs = 10 };
        using var model = DsrTrainer.Train(options, s, a, D, A, starts, "Synthetic-v0", null,
            new DsrOodSet(os, oa, D, A, "shifted"));
        var st = model.Diagnostics!.Modes.Single(m => m.Mode == "state");
        Assert.NotNull(st.AurocOod);
        Assert.True(st.AurocOod > 0.95, $"state AUROC vs shifted states {st.AurocOod:F3}");

        var wrongDims = new DsrOodSet(new float[40 * 4], oa, 4, A, "random");
        var e = Assert.ThrowsAny<UserError>(() =>
            DsrTrainer.Train(options, s, a, D, A, starts, "Synthetic-v0", null, wrongDims));
        Assert.Contains("obs dim 4", e.Message);
        Assert.Contains($"obs dim {D}", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Bad_inputs_are_one_line_user_errors()
    {
        var (s, a, starts) = DsrTestData.Pairs(episodes: 20, length: 20, seed: 41);
        var o = DsrTestData.SmallFlow with { Epochs = 1 };
        void OneLine(UserError e, string contains)
        {
            output.WriteLine(e.Message);
            Assert.Contains(contains, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }

        var bad = (float[])s.Clone();
        bad[7] = float.NaN;
        OneLine(Assert.ThrowsAny<UserError>(() => DsrTrainer.Train(o, bad, a, D, A, starts, "X")),
            "NaN at row 2, column 1");
        var badA = (float[])a.Clone();
        badA[3] = float.PositiveInfinity;
        OneLine(Assert.ThrowsAny<UserError>(() => DsrTrainer.Train(o, s, badA, D, A, starts, "X")), "actions contain");

        // Option errors name the options record's properties; a front end rewords them (the CLI into its flags).
        var kind = Assert.Throws<OptionError>(() => DsrKind.Parse("gan"));
        OneLine(kind, "Kind 'gan' is not valid; expected one of: flow, energy");
        Assert.Equal(new[] { "Kind" }, kind.Options);
        OneLine(Assert.Throws<OptionError>(() => SupportMode.Parse("marginal")),
            "Support 'marginal' is not valid; expected one of: joint, conditional, state, gated");
        OneLine(Assert.Throws<OptionError>(() => DsrScore.Parse("nll")),
            "Score 'nll' is not valid; expected one of: logp, radius, tempered");
        Assert.Equal(DsrKind.Energy, DsrKind.Parse(" Energy "));
        Assert.Equal(SupportMode.Conditional, SupportMode.Parse("conditional"));
        Assert.Equal(DsrScore.Radius, DsrScore.Parse("RADIUS"));

        foreach (var rho in new[] { 0.0, 0.5, -0.1, 0.7, double.NaN })
        {
            var e = Assert.Throws<OptionError>(() => DsrTrainer.Train(o with { Rho = rho }, s, a, D, A, starts, "X"));
            OneLine(e, "Rho must be in (0, 0.5)");
            Assert.Equal(new[] { "Rho" }, e.Options);
            Assert.StartsWith("--rho must be in (0, 0.5)", e.Reword(p => "--" + p.ToLowerInvariant()));
        }
        OneLine(Assert.Throws<OptionError>(() => (o with { Kind = (DsrKind)7 }).Validate()), "Kind 7 is not valid");
        var radius = Assert.Throws<OptionError>(() =>
            (o with { Kind = DsrKind.Energy, Score = DsrScore.Radius }).Validate());
        OneLine(radius, "Score radius needs Kind flow");
        Assert.Equal(new[] { "Score", "Kind" }, radius.Options);

        // 400 pairs at 5 %: one 20-step episode held out, below the minimum of 40
        OneLine(Assert.ThrowsAny<UserError>(() => DsrTrainer.Train(o with { Holdout = 0.05 }, s, a, D, A, starts, "X")),
            "dataset too small");
        // a single episode cannot be split by episode
        OneLine(Assert.ThrowsAny<UserError>(() => DsrTrainer.Train(o, s, a, D, A, [0], "X")), "dataset too small");
        OneLine(Assert.ThrowsAny<UserError>(() => DsrTrainer.Train(o, s, a[..^2], D, A, starts, "X")), "same pairs");
    }

    [Fact]
    public void Hidden_width_defaults_by_kind_and_a_trained_model_records_it()
    {
        Assert.Equal(64, new DsrOptions().HiddenWidth);
        Assert.Equal(128, new DsrOptions { Kind = DsrKind.Energy }.HiddenWidth);
        Assert.Equal(32, new DsrOptions { Kind = DsrKind.Energy, Hidden = 32 }.HiddenWidth);
        Assert.Throws<OptionError>(() => new DsrOptions { Hidden = 1 }.Validate());

        DsrTestData.Torch(6);
        var (s, a, starts) = DsrTestData.Pairs(episodes: 20, length: 20, seed: 43);
        var o = DsrTestData.SmallFlow with { Epochs = 1, Hidden = null, CouplingLayers = 2 };
        var log = new List<string>();
        using var model = DsrTrainer.Train(o, s, a, D, A, starts, "Synthetic-v0", log.Add);
        Assert.Equal(64, model.Options.Hidden); // resolved, so the checkpoint does not depend on a future default
        Assert.Contains(log, l => l.StartsWith("dsr: flow (hidden 64, 2 couplings)", StringComparison.Ordinal));
    }

    [Fact]
    public void Split_is_by_whole_episodes_and_disjoint()
    {
        var starts = Enumerable.Range(0, 50).Select(e => e * 30).ToArray();
        var (train, held) = DsrTrainer.SplitByEpisode(1500, starts, 0.1, 3);
        Assert.Equal(1500, train.Length + held.Length);
        Assert.Empty(train.Intersect(held));
        Assert.InRange(held.Length, 150, 179);
        Assert.Equal(0, held.Length % 30);
        foreach (var e in held.Select(r => r / 30).Distinct())
            Assert.Equal(30, held.Count(r => r / 30 == e));
    }
}
