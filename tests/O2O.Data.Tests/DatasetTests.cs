using O2O.Core;

namespace O2O.Data.Tests;

public class DatasetTests
{
    [Fact]
    public void Episode_starts_follow_terminals_and_timeouts()
    {
        var ds = DatasetIO.Load(Fixtures.Path("d4rl_tiny_h5py.hdf5"));
        Assert.Equal([0, 15, 30], ds.EpisodeStarts());
        Assert.False(ds.LastEpisodeComplete);
        var noFlags = new OfflineDataset(3, 1, 1, [1, 2, 3], [1, 2, 3]);
        Assert.Equal([0], noFlags.EpisodeStarts());
        var endAtLast = new OfflineDataset(3, 1, 1, [1, 2, 3], [1, 2, 3], terminals: [false, true, true]);
        Assert.Equal([0, 2], endAtLast.EpisodeStarts());
        Assert.True(endAtLast.LastEpisodeComplete);
    }

    [Fact]
    public void QLearning_transitions_drop_timeout_rows_and_the_last_row_like_d4rl()
    {
        var ds = DatasetIO.Load(Fixtures.Path("d4rl_tiny_h5py.hdf5"));
        var q = ds.ToQLearningTransitions();
        Assert.Equal(38, q.Count); // 40 rows − timeout row 29 − last row 39
        int[] kept = [.. Enumerable.Range(0, 39).Where(i => i != 29)];
        for (var k = 0; k < kept.Length; k++)
        {
            Assert.Equal(Fixtures.Obs(kept[k], 0), q.Observations[k * 11]);
            Assert.Equal(Fixtures.Obs(kept[k] + 1, 5), q.NextObservations![k * 11 + 5]);
            Assert.Equal(Fixtures.Rew(kept[k]), q.Rewards![k]);
            Assert.Equal(kept[k] == 14, q.Terminals![k]);
        }
        Assert.DoesNotContain(true, q.Timeouts!);
        Assert.Same(q, q.ToQLearningTransitions()); // has next observations already
    }

    [Fact]
    public void QLearning_without_timeouts_cuts_at_max_episode_steps_as_d4rl()
    {
        // 7 rows, no flags, episodes of 3 steps: D4RL drops rows 2 and 5 (final steps) and the last row 6.
        var obs = Enumerable.Range(0, 7).Select(i => (float)i).ToArray();
        var ds = new OfflineDataset(7, 1, 1, obs, obs);
        var q = ds.ToQLearningTransitions(maxEpisodeSteps: 3);
        Assert.Equal([0f, 1f, 3f, 4f], q.Observations);
        Assert.Equal([1f, 2f, 4f, 5f], q.NextObservations!);
    }

    [Fact]
    public void Subset_gathers_rows_of_every_key_in_order()
    {
        var ds = Make.Dataset(n: 20);
        var s = ds.Subset([5, 0, 5]);
        Assert.Equal(3, s.Count);
        Assert.Equal(ds.Observation(5).ToArray(), s.Observation(0).ToArray());
        Assert.Equal(ds.Observation(0).ToArray(), s.Observation(1).ToArray());
        Assert.Equal(ds.Action(5).ToArray(), s.Action(2).ToArray());
        Assert.Equal(ds.InfosQpos!.AsSpan(5 * ds.InfosQposWidth, ds.InfosQposWidth).ToArray(),
            s.InfosQpos!.AsSpan(0, s.InfosQposWidth).ToArray());
        Assert.Equal([ds.Terminals![5], ds.Terminals[0], ds.Terminals[5]], s.Terminals!);
        Assert.Equal(ds.Metadata, s.Metadata);
        Assert.Throws<ArgumentOutOfRangeException>(() => ds.Subset([20]));
    }

    [Fact]
    public void Constructor_refuses_mismatched_shapes_with_one_line()
    {
        var e = Assert.ThrowsAny<UserError>(
            () => new OfflineDataset(3, 2, 1, new float[6], new float[3], rewards: new float[4]));
        AssertOneLine.Message(e, "rewards", "4 entries", "3 rows");
        var e2 = Assert.ThrowsAny<UserError>(() => new OfflineDataset(3, 2, 1, new float[5], new float[3]));
        AssertOneLine.Message(e2, "observations", "3 rows × 2");
    }

    [Fact]
    public void Stats_compute_returns_score_and_fractions_of_the_fixture()
    {
        var ds = DatasetIO.Load(Fixtures.Path("d4rl_tiny_h5py.hdf5"));
        var s = DatasetStats.Compute(ds, "d4rl_tiny_h5py.hdf5");
        Assert.Equal(3, s.Episodes);
        Assert.Equal(2, s.CompleteEpisodes);
        // Returns: rows 0..14 → 15 + 0.1·105 = 25.5; rows 15..29 → 15 + 0.1·330 = 48; the tail is cut off.
        Assert.Equal(25.5, s.EpisodeReturns[0], 4);
        Assert.Equal(48.0, s.EpisodeReturns[1], 4);
        Assert.Equal(36.75, s.ReturnMean!.Value, 4);
        Assert.Equal(11.25, s.ReturnStd!.Value, 4);
        Assert.Equal("Hopper-v4", s.Env!.EnvId);
        Assert.Equal(100 * (36.75 + 20.272305) / (3234.3 + 20.272305), s.NormalizedScore!.Value, 3);
        Assert.Equal(1 / 40.0, s.TerminalFraction, 9);
        Assert.Equal(1 / 40.0, s.TimeoutFraction, 9);
        Assert.Equal(Enumerable.Range(0, 11).Select(j => 9.75 + j * 0.01), s.ObsMean.Select(m => Math.Round(m, 5)));
        Assert.Empty(s.Problems);
        var text = s.Format();
        Assert.Contains("transitions:      40", text, StringComparison.Ordinal);
        Assert.Contains("Hopper-v4", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Env_guess_says_17_by_6_is_ambiguous_unless_metadata_or_name_tell()
    {
        var ds = Make.Dataset(n: 10, obs: 17, act: 6, withMeta: false);
        var s = DatasetStats.Compute(ds, "data.npz");
        Assert.Null(s.Env);
        Assert.Contains("ambiguous", s.EnvNote, StringComparison.Ordinal);
        Assert.Null(s.NormalizedScore);
        Assert.Equal("Walker2d-v4", DatasetStats.Compute(ds, "/d/walker2d-medium-v2.hdf5").Env!.EnvId);
        Assert.Equal("HalfCheetah-v4",
            DatasetStats.Compute(
                ds.WithMetadata(new Dictionary<string, string> { ["env_id"] = "HalfCheetah-v4" })).Env!.EnvId);
        var wrong = DatasetStats.Compute(ds.WithMetadata(new Dictionary<string, string> { ["env_id"] = "Hopper-v4" }));
        Assert.Null(wrong.Env);
        Assert.Contains(wrong.Problems, p => p.Contains("metadata/env_id says Hopper-v4", StringComparison.Ordinal));
        var odd = DatasetStats.Compute(Make.Dataset(n: 10, obs: 5, act: 2, withMeta: false));
        Assert.Contains(odd.Problems, p => p.Contains("match no known env", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Hopper-v4")]
    [InlineData("hopper-medium-v2")]
    [InlineData("hopper-medium-replay-v2")]
    [InlineData("hopper")]
    public void Scores_accept_env_ids_and_task_names(string key)
    {
        Assert.Equal(100.0, D4rlScores.Normalize(key, 3234.3), 9);
        Assert.Equal(0.0, D4rlScores.Normalize(key, -20.272305), 9);
        Assert.True(D4rlScores.TryGetReference(key, out var r, out var e));
        Assert.Equal((-20.272305, 3234.3), (r, e));
    }

    [Fact]
    public void Scores_for_walker_and_cheetah_and_unknown_keys()
    {
        Assert.Equal(100 * (3000 - 1.629008) / (4592.3 - 1.629008), D4rlScores.Normalize("Walker2d-v4", 3000), 9);
        Assert.Equal(100 * (4000 + 280.178953) / (12135.0 + 280.178953),
            D4rlScores.Normalize("halfcheetah-medium-expert-v2", 4000), 9);
        Assert.False(D4rlScores.TryGetReference("Ant-v4", out _, out _));
        Assert.False(D4rlScores.TryGetReference("hopperx", out _, out _));
        var e = Assert.ThrowsAny<UserError>(() => D4rlScores.Normalize("Ant-v4", 1));
        AssertOneLine.Message(e, "Ant-v4", "Hopper-v4", "Walker2d-v4", "HalfCheetah-v4");
    }

    [Fact]
    public void Task_names_map_to_server_file_names()
    {
        Assert.Equal("hopper_medium-v2.hdf5", D4rlTask.Parse("hopper-medium-v2").ServerFileName);
        Assert.Equal("walker2d_medium_replay-v2.hdf5", D4rlTask.Parse("walker2d-medium-replay-v2").ServerFileName);
        Assert.Equal(
            "halfcheetah_medium_expert-v2.hdf5", D4rlTask.Parse("halfcheetah-medium-expert-v2").ServerFileName);
        Assert.Equal("hopper-medium-v2.hdf5", D4rlTask.Parse("hopper-medium-v2").LocalFileName);
        Assert.Equal("http://rail.eecs.berkeley.edu/datasets/offline_rl/gym_mujoco_v2/hopper_medium-v2.hdf5",
            D4rlDownload.UrlFor("hopper-medium-v2"));
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => D4rlTask.Parse("hopper-great-v2")), "hopper-great-v2", "medium-replay");
    }
}
