using O2O.Reliability.Kill;
using Xunit.Abstractions;

namespace O2O.Reliability.Tests;

/// <summary>
/// The kill campaign at CI size: `o2o run --profile smoke` SIGKILLed once in each phase (behaviour PPO, collection,
/// conversion, DSR, BC, online), rerun after each kill; every final-named file whole after each kill, and the finished
/// run's artefacts equal to an uninterrupted run's. (`o2o-reliability kill` runs ≥ 50 kills, figures in
/// docs/reliability.md; a killed sweep is SweepTests' A_sweep_killed_with_sigkill….)
/// </summary>
public class KillTests(ITestOutputHelper output)
{
    [Fact]
    public void A_run_killed_once_in_every_phase_ends_with_the_artefacts_of_an_uninterrupted_run()
    {
        using var tmp = new TempDir();
        var report = KillCampaign.Run(new KillOptions(Rounds: 1, Seed: 5, tmp.Path, SweepKills: 0, KillsPerPhase: 1),
            output.WriteLine);
        output.WriteLine(report.Table());
        Assert.True(report.Failures.Count == 0, string.Join("\n", report.Failures));
        Assert.Equal(1, report.Comparisons);
        Assert.True(report.FilesCompared >= 14, $"{report.FilesCompared} files compared");
        // Aimed at six phases; a kill lands where the run is (the short conversion can be over already).
        Assert.True(report.Kills.Count >= 5, $"{report.Kills.Count} kills");
        Assert.True(report.Kills.Select(k => k.Landed).Distinct().Count() >= 4,
            string.Join(", ", report.Kills.Select(k => k.Landed)));
    }
}
