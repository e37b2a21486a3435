using O2O.Learning.Dsr;

namespace O2O.Learning.Tests.Dsr;

public class CalibrationTests
{
    [Fact]
    public void Auroc_counts_ties_as_half_and_matches_hand_computed_values()
    {
        Assert.Equal(1.0, Auroc.Compute([3f, 4f], [1f, 2f]));
        Assert.Equal(0.0, Auroc.Compute([1f, 2f], [3f, 4f]));
        Assert.Equal(0.5, Auroc.Compute([1f, 1f], [1f, 1f]));
        // pos {1, 2, 3}, neg {2, 0}: pairs (1>2 no, 1>0 yes, 2=2 half, 2>0 yes, 3>2 yes, 3>0 yes) = 4.5 / 6
        Assert.Equal(0.75, Auroc.Compute([1f, 2f, 3f], [2f, 0f]), 12);
        // NaN ranks lowest
        Assert.Equal(1.0, Auroc.Compute([0f], [float.NaN]));
    }

    [Fact]
    public void Auroc_matches_the_pairwise_definition_on_random_scores_with_ties()
    {
        var rng = new Random(1);
        var pos = Enumerable.Range(0, 300).Select(_ => (float)rng.Next(0, 20)).ToArray();
        var neg = Enumerable.Range(0, 200).Select(_ => (float)rng.Next(0, 15)).ToArray();
        double wins = 0;
        foreach (var p in pos)
            foreach (var q in neg)
                wins += p > q ? 1 : p == q ? 0.5 : 0;
        Assert.Equal(wins / (pos.Length * neg.Length), Auroc.Compute(pos, neg), 12);
    }

    [Fact]
    public void Calibration_puts_half_at_tau_and_095_at_the_median()
    {
        var scores = Enumerable.Range(0, 1001).Select(i => (float)(i * 0.01)).ToArray(); // 0 … 10
        var c = SupportCalibration.FromScores(scores, 0.05);
        Assert.Equal(0.5, c.Tau, 6);
        Assert.Equal((5.0 - 0.5) / Math.Log(19), c.Temperature, 6);
        Assert.Equal(0.5, c.Sigma(c.Tau), 9);
        Assert.Equal(0.95, c.Sigma(5.0), 6);
        Assert.Equal(0.0, c.Sigma(-1e9), 9);
        Assert.Equal(0.0, c.Sigma(double.NaN), 9);
        Assert.True(c.Sigma(1e30) <= 1.0);
        // tempered: still 0.5 at tau, logistic(ln 19 / 4) at the median
        Assert.Equal(0.5, c.Sigma(c.Tau, 4), 9);
        Assert.Equal(1 / (1 + Math.Pow(19, -0.25)), c.Sigma(5.0, 4), 6);
    }

    [Fact]
    public void Constant_scores_give_a_finite_positive_temperature()
    {
        var c = SupportCalibration.FromScores([2f, 2f, 2f, 2f], 0.05);
        Assert.True(c.Temperature > 0 && double.IsFinite(c.Temperature));
        Assert.Equal(0.5, c.Sigma(2.0), 9);
    }
}
