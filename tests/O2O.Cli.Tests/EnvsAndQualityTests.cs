using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Tests;

public class EnvsCommandTests
{
    [Fact]
    public void Lists_the_registered_environments_with_their_dims()
    {
        var r = CliHarness.Run("envs");
        Assert.Equal(0, r.Code);
        foreach (var id in new[] { "Hopper-v4", "Walker2d-v4", "HalfCheetah-v4" }) Assert.Contains(id, r.Out);
    }

    [Fact]
    public void Random_rollout_reports_episodes_and_speed()
    {
        var r = CliHarness.Run("envs", "--rollout", "Hopper-v4", "--steps", "500", "--seed", "2");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("steps/s", r.Out);
    }

    [Fact]
    public void Unknown_env_id_lists_the_known_ones()
    {
        var r = CliHarness.Run("envs", "--rollout", "Hoper-v4");
        CliHarness.AssertOneLineError(r, "unknown env id 'Hoper-v4'", "Hopper-v4");
    }
}

/// <summary>Datasets of every D4RL quality, on budgets small enough for the test suite.</summary>
public class QualityDatasetTests
{
    static QualityOptions Tiny(string quality, string dir) =>
        new("Hopper-v4", quality, Steps: 3000, Seed: 1, WorkDir: dir, TrainBudget: 4096) { EvalEpisodes = 2,
            EvalEvery = 2048 };

    [Fact]
    public void Medium_replay_is_the_learners_rollouts_as_contiguous_episodes()
    {
        var dir = Directory.CreateTempSubdirectory("o2o-quality-").FullName;
        try
        {
            var ds = BehaviourDatasets.Collect(Tiny("medium-replay", dir));
            Assert.Equal(3000, ds.Count);
            Assert.Equal("medium-replay", ds.Metadata["quality"]);
            Assert.True(ds.LastEpisodeComplete);
            // Within an episode the next observation is the following row's observation.
            var starts = ds.EpisodeStarts().ToHashSet();
            for (var i = 0; i + 1 < ds.Count; i++)
                if (!ds.EndsEpisode(i))
                    Assert.Equal(ds.Observation(i + 1).ToArray(), ds.NextObservations!.AsSpan(i * ds.ObsDim,
                        ds.ObsDim).ToArray());
            Assert.Contains(0, starts);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Medium_expert_concatenates_medium_and_expert_and_keeps_the_behaviour_policies()
    {
        var dir = Directory.CreateTempSubdirectory("o2o-quality-").FullName;
        try
        {
            var ds = BehaviourDatasets.Collect(Tiny("medium-expert", dir));
            Assert.Equal(6000, ds.Count);
            Assert.Equal("medium-expert", ds.Metadata["quality"]);
            Assert.NotEmpty(Directory.GetFiles(dir, "*_medium_ppo-matched-v2_behaviour_s1_actor.pt"));
            Assert.NotEmpty(Directory.GetFiles(dir, "*_expert_ppo-matched-v2_behaviour_s1_actor.pt"));
            Assert.Contains("not a D4RL download", ds.Metadata["generated_by"]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Unknown_quality_is_a_one_line_error()
    {
        var r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--quality", "super", "--out",
            Path.Combine(Path.GetTempPath(), "never.hdf5"));
        CliHarness.AssertOneLineError(r, "--quality 'super' must be one of", "medium-replay");
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), "never.hdf5")));
    }
}
