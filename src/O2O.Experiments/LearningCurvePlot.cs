using O2O.Core;

namespace O2O.Experiments;

/// <summary>One line of a learning-curve plot: env steps against score.</summary>
public sealed record CurveSeries(string Label, IReadOnlyList<double> Steps, IReadOnlyList<double> Scores);

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
            var line = plt.Add.Scatter(s.Steps.ToArray(), s.Scores.ToArray());
            line.LegendText = s.Label;
            line.MarkerSize = 3;
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
