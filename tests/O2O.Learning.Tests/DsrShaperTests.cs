using O2O.Learning.Ppo;

namespace O2O.Learning.Tests;

public class DsrShaperTests
{
    [Theory]
    [InlineData(1.0, 0.9, 0.5, 0.1, 2.0)]
    [InlineData(3.2, 0.5, 0.2, 0.0, 1.5)]
    [InlineData(-0.4, 0.02, 1.0, 0.3, 3.0)]
    public void Shaped_reward_is_r_minus_beta_c_p_plus_eta_c_b(
        double r, double sigma, double beta, double eta, double c)
    {
        var p = 1 - sigma;
        var b = 4 * sigma * (1 - sigma);
        Assert.Equal(
            r - beta * c * p + eta * c * b, DsrShaper.ShapedReward(r, sigma, beta, eta, c, penaltyInReward: true), 12);
        // With the pessimism in the critic, only the bonus reaches the reward.
        Assert.Equal(r + eta * c * b, DsrShaper.ShapedReward(r, sigma, beta, eta, c, penaltyInReward: false), 12);
    }

    [Fact]
    public void Bonus_peaks_on_the_boundary_and_vanishes_inside_and_far_outside()
    {
        Assert.Equal(1.0, DsrShaper.ShapedReward(0, 0.5, 0, 1, 1, true), 12);
        Assert.Equal(0.0, DsrShaper.ShapedReward(0, 1.0, 0, 1, 1, true), 12);
        Assert.Equal(0.0, DsrShaper.ShapedReward(0, 0.0, 0, 1, 1, true), 12);
    }

    [Fact]
    public void Auto_beta_puts_the_mean_penalty_term_at_beta_frac_of_the_mean_reward()
    {
        double[] rewards = [1.2, 0.8, 2.5, 3.1];
        double[] sigma = [0.9, 0.4, 0.7, 0.2];
        const double c = 1.7, frac = 0.1;
        var meanR = rewards.Average();
        var meanP = sigma.Select(s => 1 - s).Average();
        var beta = DsrShaper.AutoBeta(meanR, meanP, c, frac);
        var meanPenaltyTerm = sigma.Select(s => beta * c * (1 - s)).Average();
        Assert.Equal(frac * meanR, meanPenaltyTerm, 12);
        Assert.Equal(0, DsrShaper.AutoBeta(meanR, 0, c, frac));
    }

    [Fact]
    public void Linear_anneal_reaches_zero_at_the_fraction_and_none_stays_one()
    {
        Assert.Equal(1.0, DsrShaper.Schedule("linear", 0.25, 0, 1000), 12);
        Assert.Equal(0.5, DsrShaper.Schedule("linear", 0.25, 125, 1000), 12);
        Assert.Equal(0.0, DsrShaper.Schedule("linear", 0.25, 250, 1000), 12);
        Assert.Equal(0.0, DsrShaper.Schedule("linear", 0.25, 900, 1000), 12);
        Assert.Equal(1.0, DsrShaper.Schedule("none", 0.25, 900, 1000), 12);
    }

    [Theory]
    [InlineData("value2", "reward", "Pessimism")]
    [InlineData("reward", "cosine", "Anneal")]
    public void Bad_words_are_option_errors_naming_the_property(string pessimism, string anneal, string property)
    {
        var o = new DsrShapingOptions { Pessimism = pessimism, Anneal = anneal };
        var e = Assert.Throws<O2O.Core.OptionError>(o.Validate);
        Assert.Equal([property], e.Options);
        Assert.StartsWith(property + " '", e.Message, StringComparison.Ordinal);
    }
}
