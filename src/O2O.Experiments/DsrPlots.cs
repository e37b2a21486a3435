using O2O.Core;
using O2O.Learning.Dsr;
using ScottPlot;

namespace O2O.Experiments;

/// <summary>PNG figures of a DSR's diagnostics: support curves and sigma histograms.</summary>
public static class DsrPlots
{
    /// <summary>
    /// Write {prefix}_support_curve_actions.png, {prefix}_support_curve_states.png and, per mode,
    /// {prefix}_sigma_hist_{mode}.png; returns the paths written.
    /// </summary>
    public static IReadOnlyList<string> WriteAll(DsrDiagnostics d, string prefix)
    {
        ArgumentNullException.ThrowIfNull(d);
        var written = new List<string>
        {
            SupportCurves(d, prefix + "_support_curve_actions.png", actions: true),
            SupportCurves(d, prefix + "_support_curve_states.png", actions: false),
        };
        foreach (var m in d.Modes) written.Add(SigmaHistogram(d, m.Mode, $"{prefix}_sigma_hist_{m.Mode}.png"));
        return written;
    }

    /// <summary>Mean sigma vs perturbation scale (actions or states), one line per mode/score.</summary>
    public static string SupportCurves(DsrDiagnostics d, string path, bool actions)
    {
        var plt = new Plot();
        foreach (var c in d.Curves)
        {
            var xs = actions ? c.ActionScales : c.StateScales;
            var ys = actions ? c.ActionMeanSigma : c.StateMeanSigma;
            var line = plt.Add.Scatter(xs, ys);
            line.LegendText = $"{c.Mode}/{c.Score}{(c.Graded ? "" : " (step)")}";
            if (c.Score == "radius") line.LinePattern = LinePattern.Dashed;
            if (c.Score == "tempered") line.LinePattern = LinePattern.Dotted;
        }
        plt.Title($"DSR support curve, {d.EnvId} ({d.Kind})");
        plt.XLabel(actions ? "action perturbation std (actions clipped to ±1)" : "state perturbation (dataset std)");
        plt.YLabel("mean sigma of held-out pairs");
        plt.Axes.SetLimitsY(0, 1);
        plt.ShowLegend(Alignment.UpperRight);
        Save(plt, path);
        return path;
    }

    /// <summary>Histogram of sigma: held-out pairs vs the same states with uniform random actions.</summary>
    public static string SigmaHistogram(DsrDiagnostics d, string mode, string path)
    {
        var m = d.Modes.FirstOrDefault(x => x.Mode == mode)
                ?? throw new UserError($"diagnostics have no mode '{mode}'; "
                    + $"expected one of: {string.Join(", ", d.Modes.Select(x => x.Mode))}");
        var plt = new Plot();
        var bins = DsrDiagnostics.HistogramBins;
        var width = 1.0 / bins;
        double[] Fractions(int[] counts)
        {
            var total = Math.Max(1, counts.Sum());
            return counts.Select(c => c / (double)total).ToArray();
        }
        var held = Fractions(m.SigmaHistogramHeldOut);
        var uni = Fractions(m.SigmaHistogramUniformActions);
        var heldBars = plt.Add.Bars(Enumerable.Range(0, bins).Select(i => (i + 0.3) * width).ToArray(), held);
        heldBars.LegendText = "held-out pairs";
        var uniBars = plt.Add.Bars(Enumerable.Range(0, bins).Select(i => (i + 0.7) * width).ToArray(), uni);
        uniBars.LegendText = "same states, uniform actions";
        foreach (var b in heldBars.Bars) b.Size = width * 0.4;
        foreach (var b in uniBars.Bars) b.Size = width * 0.4;
        plt.Title($"DSR sigma ({mode}, {d.Score}), {d.EnvId}: AUROC {m.AurocUniformActions:F3}");
        plt.XLabel("sigma");
        plt.YLabel("fraction of pairs");
        plt.Axes.SetLimitsX(0, 1);
        plt.ShowLegend(Alignment.UpperLeft);
        Save(plt, path);
        return path;
    }

    static void Save(Plot plt, string path) =>
        AtomicFile.WriteStream(path, s =>
        {
            var bytes = plt.GetImageBytes(900, 600, ImageFormat.Png);
            s.Write(bytes);
        });
}
