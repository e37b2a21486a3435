using O2O.Core;

namespace O2O.Experiments;

/// <summary>One line of a learning-curve plot: env steps against score, optionally with a shaded band (e.g. a 95 %
/// interval) from <paramref name="Lo"/> to <paramref name="Hi"/>.</summary>
public sealed record CurveSeries(string Label, IReadOnlyList<double> Steps, IReadOnlyList<double> Scores,
    IReadOnlyList<double>? Lo = null, IReadOnlyList<double>? Hi = null);

/// <summary>Learning curves as a PNG (ScottPlot; needs fonts-dejavu-core for text).</summary>
public static class LearningCurvePlot
{
    public static void Save(string path, string title, string yLabel, IReadOnlyList<CurveSeries> series,
        double? reference = null, string? referenceLabel = null)
    {
        var plt = new ScottPlot.Plot();
        plt.Title(title);
        plt.XLabel("environment steps");
        plt.YLabel(yLabel);
        foreach (var s in series)
        {
            if (s.Steps.Count == 0) continue;
            var color = plt.Add.Palette.GetColor(plt.GetPlottables().Count(p => p is ScottPlot.Plottables.Scatter));
            if (s.Lo is not null && s.Hi is not null)
            {
                var band = plt.Add.FillY(s.Steps.ToArray(), s.Lo.ToArray(), s.Hi.ToArray());
                band.FillStyle.Color = color.WithAlpha(0.25);
                band.LineStyle.Width = 0;
            }
            var line = plt.Add.Scatter(s.Steps.ToArray(), s.Scores.ToArray());
            line.LegendText = s.Label;
            line.MarkerSize = 3;
            line.Color = color;
        }
        if (reference is double r)
        {
            var h = plt.Add.HorizontalLine(r);
            h.LegendText = referenceLabel ?? "reference";
            h.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        AtomicFile.Write(path, tmp => plt.SavePng(tmp, 900, 540));
    }
}
