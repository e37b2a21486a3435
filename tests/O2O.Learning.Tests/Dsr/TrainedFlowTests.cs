using O2O.Core;
using O2O.Learning.Dsr;
using Xunit.Abstractions;

namespace O2O.Learning.Tests.Dsr;

[Collection("Dsr")]
public partial class TrainedFlowTests(TrainedFlowFixture fx, ITestOutputHelper output)
    : IClassFixture<TrainedFlowFixture>
{
    const int D = DsrTestData.ObsDim, A = DsrTestData.ActDim;

    [Fact]
    public void Training_logs_per_epoch_and_reports_diagnostics()
    {
        output.WriteLine($"train {fx.TrainTime.TotalSeconds:F1}s");
        foreach (var l in fx.Log) output.WriteLine(l);
        var epochLines = fx.Log.Count(l => l.StartsWith("dsr epoch", StringComparison.Ordinal));
        Assert.Equal(DsrTestData.SmallFlow.Epochs, epochLines);
        var d = fx.Model.Diagnostics!;
        Assert.NotNull(d.HeldOutLogLikJoint);
        Assert.Equal(4, d.Modes.Length);
        Assert.Equal(12, d.Curves.Length);
        var joint = d.Modes.Single(m => m.Mode == "joint");
        Assert.True(joint.AurocUniformActions > 0.9, $"joint AUROC vs uniform actions {joint.AurocUniformActions:F3}");
        Assert.True(joint.AurocNoisyActions > 0.6, $"joint AUROC vs N(0,0.3²) noise {joint.AurocNoisyActions:F3}");
        var cond = d.Modes.Single(m => m.Mode == "conditional");
        Assert.True(cond.AurocUniformActions > 0.9, $"conditional AUROC vs uniform {cond.AurocUniformActions:F3}");
        var gated = d.Modes.Single(m => m.Mode == "gated");
        Assert.True(gated.AurocUniformActions > 0.9, $"gated AUROC vs uniform {gated.AurocUniformActions:F3}");
        var st = d.Modes.Single(m => m.Mode == "state");
        Assert.InRange(st.AurocUniformActions, 0.5, 0.5); // state support ignores actions: all ties
        Assert.Contains("graded scores", fx.Log.Last());
    }

    [Fact]
    public void Conditional_raw_score_is_exactly_joint_minus_state()
    {
        var n = fx.States.Length / D;
        float[] j = new float[n], s = new float[n], c = new float[n];
        foreach (var score in new[] { DsrScore.LogP, DsrScore.Radius })
        {
            fx.Model.RawScore(fx.States, fx.Actions, n, SupportMode.Joint, j, score);
            fx.Model.RawScore(fx.States, [], n, SupportMode.State, s, score);
            fx.Model.RawScore(fx.States, fx.Actions, n, SupportMode.Conditional, c, score);
            for (var i = 0; i < n; i++) Assert.Equal(j[i] - s[i], c[i]);
        }
    }

    [Fact]
    public void Gated_raw_score_is_conditional_inside_the_state_support_and_joint_outside()
    {
        var n = fx.States.Length / D;
        // held-out-like pairs and the same pairs with states pushed 3 std away, so both branches occur
        var far = (float[])fx.States.Clone();
        for (var i = 0; i < far.Length; i++) far[i] += 3f * DsrTestData.StateScale[i % D];
        float[] j = new float[n], s = new float[n], c = new float[n], g = new float[n];
        foreach (var score in new[] { DsrScore.LogP, DsrScore.Radius })
        {
            var q = fx.Model.Calibration(SupportMode.State, score).Tau;
            int inside = 0, outside = 0;
            foreach (var st in new[] { fx.States, far })
            {
                fx.Model.RawScore(st, fx.Actions, n, SupportMode.Joint, j, score);
                fx.Model.RawScore(st, [], n, SupportMode.State, s, score);
                fx.Model.RawScore(st, fx.Actions, n, SupportMode.Conditional, c, score);
                fx.Model.RawScore(st, fx.Actions, n, SupportMode.Gated, g, score);
                for (var i = 0; i < n; i++)
                {
                    if (s[i] >= q) { inside++; Assert.Equal(c[i], g[i]); }
                    else { outside++; Assert.Equal((float)(j[i] - q), g[i], 1e-3f * (1 + Math.Abs(g[i]))); }
                    Assert.True(g[i] <= c[i], "gated never exceeds conditional");
                }
            }
            Assert.True(inside > n / 2 && outside > n / 4,
                $"{score}: {inside} pairs inside the state support, {outside} outside");
        }
    }

    [Fact]
    public void A_checkpoint_without_a_modes_calibration_is_a_one_line_error_before_training()
    {
        // a DSR saved before the gated mode existed carries calibrations for joint, conditional and state only
        var o = fx.Model.Options;
        using var old = new SupportModel(o, fx.Model.EnvId, D, A, new float[D], Enumerable.Repeat(1f, D).ToArray());
        foreach (var mode in new[] { SupportMode.Joint, SupportMode.Conditional, SupportMode.State })
            old.SetCalibration(mode, false, fx.Model.Calibration(mode, DsrScore.LogP));
        var n = 4;
        var e = Assert.ThrowsAny<UserError>(() =>
            old.Support(fx.States.AsSpan(0, n * D), fx.Actions.AsSpan(0, n * A), n, SupportMode.Gated, new float[n]));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("no calibration for support mode gated", e.Message);
        Assert.Contains("train it again", e.Message);
        var gatedShaping = new O2O.Learning.Ppo.DsrShapingOptions { Support = SupportMode.Gated };
        Assert.ThrowsAny<UserError>(() => new O2O.Learning.Ppo.DsrShaper(old, gatedShaping, 1.0));
        old.Support(fx.States.AsSpan(0, n * D), fx.Actions.AsSpan(0, n * A), n, SupportMode.Conditional, new float[n]);
    }

    [Fact]
    public void Held_out_calibration_puts_sigma_half_at_the_rho_quantile()
    {
        foreach (var mode in Enum.GetValues<SupportMode>())
        {
            var cal = fx.Model.Calibration(mode);
            Assert.Equal(0.5, cal.Sigma(cal.Tau), 6);
            Assert.Equal(cal.Quantiles[Array.IndexOf(SupportCalibration.Levels, 0.05)], cal.Tau, 9);
            var m = fx.Model.Diagnostics!.Modes.Single(x => x.Mode == mode.Word());
            // the 5 % quantile of held-out sigma sits at 0.5 (diagnostics use the same held-out pairs)
            Assert.InRange(m.SigmaQuantiles[0], 0.48, 0.52);
            Assert.InRange(m.SigmaQuantiles[2], 0.93, 0.97);
        }
    }

    [Fact]
    public void Support_curve_falls_with_perturbation_and_a_graded_score_exists()
    {
        var d = fx.Model.Diagnostics!;
        foreach (var c in d.Curves)
        {
            static string Row(double[] values) => string.Join(" ", values.Select(v => v.ToString("F3")));
            output.WriteLine($"{c.Mode}/{c.Score}: a [{Row(c.ActionMeanSigma)}] s [{Row(c.StateMeanSigma)}]"
                + $" drop {c.MaxStepDrop:F2} graded {c.Graded}");
            if (c.Mode != "state")
            {
                Assert.True(c.ActionMeanSigma[^1] < c.ActionMeanSigma[0] - 0.3,
                    $"{c.Mode}/{c.Score} action curve does not fall");
                for (var i = 2; i < c.ActionMeanSigma.Length; i++)
                    Assert.True(c.ActionMeanSigma[i] <= c.ActionMeanSigma[i - 1] + 0.03,
                        $"{c.Mode}/{c.Score} action curve rises at {i}");
            }
            // conditional is not meant to fall with state novelty (docs/results.md §4); gated is
            if (c.Mode != "conditional")
            {
                Assert.True(c.StateMeanSigma[^1] < c.StateMeanSigma[0] - 0.3,
                    $"{c.Mode}/{c.Score} state curve does not fall");
                for (var i = 2; i < c.StateMeanSigma.Length; i++)
                    Assert.True(c.StateMeanSigma[i] <= c.StateMeanSigma[i - 1] + 0.03,
                        $"{c.Mode}/{c.Score} state curve rises at {i}");
            }
        }
        foreach (var mode in new[] { "joint", "conditional", "gated" })
            Assert.Contains(d.Curves, c =>
                c.Mode == mode && c.Score != "logp" && c.ActionMeanSigma.Skip(1).Any(v => v is >= 0.2 and <= 0.8));
        Assert.NotEmpty(d.GradedScores);
    }

    [Fact]
    public void Inputs_a_thousand_std_away_give_finite_low_support()
    {
        var rng = new Random(9);
        const int n = 64;
        var s = new float[n * D];
        var a = new float[n * A];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < D; j++)
                s[i * D + j] = DsrTestData.StateOffset[j] + (rng.Next(2) * 2 - 1) * 1000f * DsrTestData.StateScale[j];
            for (var j = 0; j < A; j++) a[i * A + j] = (rng.Next(2) * 2 - 1) * 1000f;
        }
        var sigma = new float[n];
        var raw = new float[n];
        foreach (var mode in Enum.GetValues<SupportMode>())
            foreach (var score in Enum.GetValues<DsrScore>())
            {
                fx.Model.RawScore(s, a, n, mode, raw, score);
                Assert.All(raw, v => Assert.True(float.IsFinite(v), $"{mode}/{score} raw {v}"));
                fx.Model.Support(s, a, n, mode, sigma, score);
                Assert.All(sigma, v => Assert.True(float.IsFinite(v) && v >= 0 && v <= 1, $"{mode}/{score} sigma {v}"));
                if (mode != SupportMode.Conditional)
                    Assert.True(sigma.Max() < 0.05, $"{mode}/{score} sigma far away {sigma.Max()}");
            }
        fx.Model.Penalty(s, a, n, SupportMode.Joint, sigma);
        Assert.All(sigma, v => Assert.True(v > 0.95));
        fx.Model.Bonus(s, a, n, SupportMode.Joint, sigma);
        Assert.All(sigma, v => Assert.True(v >= 0 && v < 0.2));
    }

    [Fact]
    public void Save_then_load_scores_identically_and_checks_env_and_dims()
    {
        var dir = DsrTestData.TempDir();
        try
        {
            var path = Path.Combine(dir, "synthetic_dsr.pt");
            fx.Model.Save(path);
            Assert.True(File.Exists(path));
            Assert.True(File.Exists(Path.Combine(dir, "synthetic_dsr.json")));
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
            var diag = DsrDiagnostics.FromJson(File.ReadAllText(Path.Combine(dir, "synthetic_dsr.json")));
            Assert.Equal(fx.Model.Diagnostics!.Modes[0].AurocUniformActions, diag.Modes[0].AurocUniformActions);

            using var loaded = SupportModel.Load(path, "Synthetic-v0", D, A);
            Assert.Equal("Synthetic-v0", loaded.EnvId);
            Assert.Equal(D, loaded.ObsDim);
            Assert.Equal(A, loaded.ActDim);
            Assert.Equal(fx.Model.Options, loaded.Options with { });
            Assert.Equal(2.0, fx.Model.RewardAbsMean!.Value, 9);
            Assert.Equal(fx.Model.RewardAbsMean, loaded.RewardAbsMean);
            Assert.Equal(2.0, diag.RewardAbsMean!.Value, 9);
            var n = fx.States.Length / D;
            float[] x = new float[n], y = new float[n];
            foreach (var mode in Enum.GetValues<SupportMode>())
                foreach (var score in Enum.GetValues<DsrScore>())
                {
                    fx.Model.Support(fx.States, fx.Actions, n, mode, x, score);
                    loaded.Support(fx.States, fx.Actions, n, mode, y, score);
                    Assert.Equal(x, y);
                    Assert.Equal(fx.Model.Calibration(mode, score), loaded.Calibration(mode, score) with { },
                        CalibrationComparer.Instance);
                }

            var e1 = Assert.ThrowsAny<UserError>(() => SupportModel.Load(path, "Hopper-v4"));
            Assert.Contains("Synthetic-v0", e1.Message);
            Assert.Contains("Hopper-v4", e1.Message);
            var e2 = Assert.ThrowsAny<UserError>(() => SupportModel.Load(path, obsDim: 11));
            Assert.Contains("11", e2.Message);
            Assert.Contains($"obs dim {D}", e2.Message);
            var e3 = Assert.ThrowsAny<UserError>(() => SupportModel.Load(path, actDim: 3));
            Assert.Contains($"action dim {A}", e3.Message);
            var e4 = Assert.ThrowsAny<UserError>(() => SupportModel.Load(Path.Combine(dir, "missing.pt")));
            Assert.Contains("not found", e4.Message);

            var text = Path.Combine(dir, "notes_dsr.pt");
            File.WriteAllText(text, "hello");
            var e5 = Assert.ThrowsAny<UserError>(() => SupportModel.Load(text));
            Assert.Equal(
                $"'{text}' is not a DSR checkpoint (no dsr metadata); give the path of a trained DSR checkpoint",
                e5.Message);

            // A genuine PyTorch state dict without DSR metadata (e.g. a BC actor) is not a DSR checkpoint either.
            var other = Path.Combine(dir, "actor.pt");
            using (var t = TorchSharp.torch.ones(3))
                TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(other,
                    new Dictionary<string, TorchSharp.torch.Tensor> { ["mu.weight"] = t });
            var e6 = Assert.ThrowsAny<UserError>(() => SupportModel.Load(other));
            Assert.Contains("is not a DSR checkpoint (no dsr metadata)", e6.Message);
            Assert.DoesNotContain('\n', e6.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    sealed class CalibrationComparer : IEqualityComparer<SupportCalibration>
    {
        public static readonly CalibrationComparer Instance = new();
        public bool Equals(SupportCalibration? a, SupportCalibration? b) =>
            a is not null && b is not null && a.Tau == b.Tau && a.Temperature == b.Temperature && a.Rho == b.Rho
                && a.Count == b.Count && a.Quantiles.SequenceEqual(b.Quantiles);
        public int GetHashCode(SupportCalibration c) => c.Tau.GetHashCode();
    }
}
