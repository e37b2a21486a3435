using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Tests;

/// <summary>The recipes of generated datasets (issue 19): stop rules, metadata, and files of the old recipe.</summary>
public class DatasetRecipeTests(LearningData data) : IClassFixture<LearningData>
{
    /// <summary>Feeds a stub learning curve (normalised evaluations every 1000 steps) to a stop rule.</summary>
    static (StopDecision[] Decisions, BehaviourStopRule Rule) Feed(DatasetRecipe recipe, double target,
        params double[] curve)
    {
        var rule = new BehaviourStopRule(recipe, target);
        var decisions = new List<StopDecision>();
        for (var i = 0; i < curve.Length; i++)
        {
            decisions.Add(rule.Observe((i + 1) * 1000L, curve[i]));
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
    public void The_matched_recipe_confirms_a_candidate_in_the_band_and_keeps_the_closest_policy_until_then()
    {
        var target = DatasetRecipe.Matched.Target("Hopper-v4");
        Assert.Equal(DatasetRecipe.HopperMedium, target);
        // Rising into the band: each evaluation is the closest so far; the one in the band is a candidate.
        var (d, rule) = Feed(DatasetRecipe.Matched, target, 20, 30, 40.8, 43.5);
        Assert.Equal([StopDecision.NewClosest, StopDecision.NewClosest, StopDecision.NewClosest,
            StopDecision.Candidate], d);
        Assert.Null(rule.Reached);
        // Its larger evaluation falls out of the band (below the last closest): training goes on.
        Assert.Equal(StopDecision.Continue, rule.Confirm(4000, 37.9));
        Assert.Equal(40.8, rule.Closest.Score);
        // A later candidate confirmed in the band stops (the band's edge counts).
        Assert.Equal(StopDecision.Candidate, rule.Observe(5000, 46));
        Assert.Equal(StopDecision.Stop, rule.Confirm(5000, target + DatasetRecipe.Band));
        Assert.Equal(target + DatasetRecipe.Band, rule.Reached);
        Assert.Equal(5000, rule.Closest.Steps);
        // Overshooting the band keeps training; a confirmation closer than before is the new closest.
        (d, rule) = Feed(DatasetRecipe.Matched, 40, 30, 50, 49, 28);
        Assert.Equal([StopDecision.NewClosest, StopDecision.Continue, StopDecision.NewClosest,
            StopDecision.Continue], d);
        Assert.Equal(StopDecision.Candidate, rule.Observe(5000, 42));
        Assert.Equal(StopDecision.NewClosest, rule.Confirm(5000, 45));
        Assert.Equal((5000L, 45.0), (rule.Closest.Steps, rule.Closest.Score));
    }

    [Fact]
    public void A_learner_far_past_the_target_for_five_evaluations_stops_and_keeps_the_closest()
    {
        var rule = new BehaviourStopRule(DatasetRecipe.Matched, 62.1);
        Assert.Equal(StopDecision.NewClosest, rule.Observe(1000, 50));
        Assert.Equal(StopDecision.Candidate, rule.Observe(2000, 64));
        Assert.Equal(StopDecision.NewClosest, rule.Confirm(2000, 66.7));
        // Four far above, one back near (the count restarts), then five far above in a row.
        double[] curve = [80, 90, 85, 75, 70, 80, 85, 90, 95, 99];
        var decisions = curve.Select((v, i) => rule.Observe(3000 + 1000L * i, v)).ToArray();
        Assert.Equal(StopDecision.Passed, decisions[^1]);
        Assert.DoesNotContain(StopDecision.Passed, decisions[..^1]);
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
        Assert.Contains("  behaviour_stop_rule: first stochastic evaluation", info.Out);
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
