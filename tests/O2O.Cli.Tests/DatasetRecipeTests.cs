using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Tests;

/// <summary>The recipes of generated datasets (issue 19): stop rules, metadata, and files of the old recipe.</summary>
public class DatasetRecipeTests(LearningData data) : IClassFixture<LearningData>
{
    /// <summary>Feeds a stub learning curve (normalised evaluations in order) to a stop rule.</summary>
    static (StopDecision[] Decisions, BehaviourStopRule Rule) Feed(DatasetRecipe recipe, double target,
        params double[] curve)
    {
        var rule = new BehaviourStopRule(recipe, target);
        var decisions = new List<StopDecision>();
        foreach (var score in curve)
        {
            decisions.Add(rule.Observe(score));
            if (decisions[^1] == StopDecision.Stop) break;
        }
        return ([.. decisions], rule);
    }

    [Fact]
    public void The_old_recipe_stops_at_the_first_evaluation_at_or_above_a_third_of_expert()
    {
        var target = DatasetRecipe.V1.Target("Hopper-v4");
        Assert.Equal(100.0 / 3, target, 12);
        var (d, rule) = Feed(DatasetRecipe.V1, target, 10, 20, 34, 50);
        Assert.Equal([StopDecision.Continue, StopDecision.Continue, StopDecision.Stop], d);
        Assert.Equal(34, rule.Reached);
    }

    [Fact]
    public void The_matched_recipe_checks_nominated_policies_and_stops_on_a_confirmed_one_in_the_band()
    {
        var target = DatasetRecipe.Matched.Target("Hopper-v4");
        Assert.Equal(DatasetRecipe.HopperMedium, target);
        // Far from the target: nothing is nominated; within 4 bands (12 points) a policy is nominated.
        var (d, rule) = Feed(DatasetRecipe.Matched, target, 20, 30, 40.8);
        Assert.Equal([StopDecision.Continue, StopDecision.Continue, StopDecision.Candidate], d);
        // Its larger evaluation is out of the band: remembered as the closest confirmed, training goes on.
        Assert.Equal(StopDecision.NewClosest, rule.Confirm(3000, 37.9));
        Assert.Null(rule.Reached);
        // A farther confirmation is not the closest; a later one in the band stops (the band's edge counts).
        Assert.Equal(StopDecision.Candidate, rule.Observe(52));
        Assert.Equal(StopDecision.Continue, rule.Confirm(4000, 51));
        Assert.Equal((3000L, 37.9), (rule.Closest.Steps, rule.Closest.Score));
        Assert.Equal(StopDecision.Candidate, rule.Observe(46));
        Assert.Equal(StopDecision.Stop, rule.Confirm(5000, target + DatasetRecipe.Band));
        Assert.Equal(target + DatasetRecipe.Band, rule.Reached);
        Assert.Equal(5000, rule.Closest.Steps);
    }

    [Fact]
    public void Without_a_confirmed_evaluation_in_the_band_the_closest_confirmed_one_is_remembered()
    {
        var rule = new BehaviourStopRule(DatasetRecipe.Matched, DatasetRecipe.Walker2dMedium);
        Assert.Equal(StopDecision.Continue, rule.Observe(10));
        // A noisy scheduled evaluation near the target is only a nomination; its check decides what is kept.
        Assert.Equal(StopDecision.Candidate, rule.Observe(58.5));
        Assert.Equal(StopDecision.NewClosest, rule.Confirm(2000, 89.3));
        Assert.Equal(StopDecision.Candidate, rule.Observe(55));
        Assert.Equal(StopDecision.NewClosest, rule.Confirm(3000, 55));
        Assert.Null(rule.Reached);
        Assert.Equal(62.1 - 55, rule.Closest.Distance, 9);
        Assert.Equal((3000L, 55.0), (rule.Closest.Steps, rule.Closest.Score));
        Assert.Equal(DatasetRecipe.HalfCheetahMedium, DatasetRecipe.Matched.Target("HalfCheetah-v5"));
    }

    [Fact]
    public void A_learner_far_past_the_target_for_five_evaluations_stops_once_a_policy_was_checked()
    {
        var rule = new BehaviourStopRule(DatasetRecipe.Matched, 62.1);
        // Far above without any checked policy: training goes on (there is nothing to fall back on).
        foreach (var v in new double[] { 80, 90, 85, 80, 95, 99 })
            Assert.Equal(StopDecision.Continue, rule.Observe(v));
        Assert.Equal(StopDecision.Candidate, rule.Observe(64));
        Assert.Equal(StopDecision.NewClosest, rule.Confirm(2000, 66.7));
        // Four far above, one back near (the count restarts; it is nominated), then five far above in a row.
        double[] curve = [80, 90, 85, 75, 70, 80, 85, 90, 95, 99];
        var decisions = curve.Select(rule.Observe).ToArray();
        Assert.Equal(StopDecision.Passed, decisions[^1]);
        Assert.DoesNotContain(StopDecision.Passed, decisions[..^1]);
        Assert.Equal(StopDecision.Candidate, decisions[4]);
        Assert.Equal((2000L, 66.7), (rule.Closest.Steps, rule.Closest.Score));
        Assert.Null(rule.Reached);
    }

    [Fact]
    public void Unknown_recipe_is_a_one_line_error_and_short_names_work()
    {
        Assert.Same(DatasetRecipe.V1, DatasetRecipe.Get("v1"));
        Assert.Same(DatasetRecipe.Matched, DatasetRecipe.Get("ppo-matched-v2"));
        var r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--quality", "medium", "--recipe", "v9",
            "--out", Path.Combine(data.NewFolder("recipe-bad"), "x.hdf5"));
        CliHarness.AssertOneLineError(r, "--recipe 'v9' is not known", "ppo-matched-v2");
        r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--policy", "random", "--target", "40",
            "--out", Path.Combine(data.NewFolder("recipe-bad2"), "x.hdf5"));
        CliHarness.AssertOneLineError(r, "--target needs --quality");
    }

    [Fact]
    public void A_generated_file_records_its_recipe_and_data_info_shows_it()
    {
        var dir = data.NewFolder("recipe-meta");
        var path = Path.Combine(dir, "hopper-medium-v2.hdf5");
        var r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--quality", "medium", "--steps", "3000",
            "--train_budget", "4096", "--seed", "1", "--out", path);
        Assert.True(r.Code == 0, r.Err);
        var meta = DatasetIO.Load(path).Metadata;
        Assert.Equal("ppo-matched-v2", meta["recipe_id"]);
        Assert.Equal("ppo", meta["behaviour_learner"]);
        Assert.Contains("stochastic evaluation", meta["behaviour_stop_rule"]);
        Assert.Equal("44.30", meta["behaviour_target_normalized"]);
        Assert.Equal("-0.69", meta["behaviour_log_std_max"]);
        Assert.Equal(4096, long.Parse(meta["behaviour_steps_trained"], System.Globalization.CultureInfo.InvariantCulture));
        var info = CliHarness.Run("data", "info", path);
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains("recipe:           ppo-matched-v2", info.Out);
        Assert.Contains("  behaviour_stop_rule: first policy whose 50-episode stochastic evaluation", info.Out);
        Assert.Contains("episode length:   mean", info.Out);
    }

    [Fact]
    public void A_file_of_the_old_recipe_is_still_read_labelled_and_kept_by_o2o_run()
    {
        // A file as the old recipe wrote it: no recipe_id, the old keys.
        var root = data.NewFolder("recipe-old");
        var h5 = Path.Combine(root, "data", "hopper-medium-v2.hdf5");
        Directory.CreateDirectory(Path.GetDirectoryName(h5)!);
        var ds = DatasetIO.Load(data.HopperHdf5);
        var old = ds.WithMetadata(new Dictionary<string, string>
        {
            ["generated_by"] = "o2o 0.1.0.0 data collect (not a D4RL download)", ["env_id"] = "Hopper-v4",
            ["quality"] = "medium", ["medium_target_normalized"] = "33.33",
            ["recipe"] = "D4RL recipe with o2o's PPO as the online learner (docs/data.md)",
        });
        DatasetIO.SaveHdf5(h5, old);
        var info = CliHarness.Run("data", "info", h5);
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains("recipe:           ppo-third-v1 (old recipe", info.Out);
        var before = File.GetLastWriteTimeUtc(h5);
        var r = CliHarness.Run("run", "--profile", "smoke", "--root", root, "--download", "false", "--total_steps",
            "1024", "--steps_per_epoch", "1024");
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("recipe ppo-third-v1", r.Out);
        Assert.Equal(before, File.GetLastWriteTimeUtc(h5));
    }
}
