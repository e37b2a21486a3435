using System.Runtime.InteropServices;
using System.Security.Cryptography;
using O2O.Data;
using O2O.Experiments;

namespace O2O.Cli.Tests;

/// <summary>
/// The dataset collector: one env per worker reproduces, bit for bit, the files the original collector (one env per
/// worker, one policy call per row; commit 2be3edd) wrote, so committed experiment specs regenerate published data;
/// several envs per worker (batched acting) give one file per seed whatever the timing.
/// </summary>
public sealed class CollectorTests : IDisposable
{
    public CollectorTests() => O2O.Learning.Runtime.TorchRuntime.EnsureLoaded();

    readonly string dir = Directory.CreateTempSubdirectory("o2o-collector-").FullName;

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>SHA-256 of every array of the dataset (metadata excluded: it holds the creation time).</summary>
    internal static string Hash(OfflineDataset ds)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add<T>(T[]? a) where T : unmanaged
        {
            if (a is not null) h.AppendData(MemoryMarshal.AsBytes(a.AsSpan()));
        }
        Add(ds.Observations); Add(ds.Actions); Add(ds.Rewards); Add(ds.NextObservations);
        Add(ds.Terminals); Add(ds.Timeouts); Add(ds.InfosQpos); Add(ds.InfosQvel); Add(ds.InfosActionLogProbs);
        return Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant();
    }

    string Teacher()
    {
        var path = Path.Combine(dir, "teacher.pt");
        if (!File.Exists(path)) LearningData.SaveTeacher(path, outputScale: 60);
        return path;
    }

    OfflineDataset Run(BehaviourPolicy policy, int steps, int seed, int envs) =>
        DatasetCollector.Collect(new CollectOptions("Hopper-v4", policy, steps, seed, "test", envs));

    /// <summary>
    /// SHA-256 of the original collector's output (computed with commit 2be3edd, before batching) for a random
    /// policy and a stochastic and a deterministic actor.
    /// </summary>
    [Theory]
    [InlineData("random", 3001, 7, "44cea57efcbcb351b287a3e7869b8255d935418905aa297e660192e6e9d8ee20")]
    [InlineData("stochastic", 3001, 7, "2fa281204fa410ec1031e18592d5ee20dbe179a121ffe97d226ec4a2618b70b1")]
    [InlineData("deterministic", 2000, 3, "964a77443dca73901d7293bdd0443d7a8c044d2e615d3ecf422378befd5b2438")]
    public void One_env_per_worker_reproduces_the_original_collector_bit_for_bit(
        string policy, int steps, int seed, string expected)
    {
        BehaviourPolicy p = policy == "random" ? new BehaviourPolicy.Random()
            : new BehaviourPolicy.Actor(Teacher(), Deterministic: policy == "deterministic");
        var ds = Run(p, steps, seed, envs: 1);
        Assert.Equal(expected, Hash(ds));
        Assert.Equal("1", ds.Metadata["envs_per_worker"]);
    }

    [Fact]
    public void Data_collect_pins_the_original_collector_with_envs_per_worker_1()
    {
        var path = Path.Combine(dir, "random.hdf5");
        var r = CliHarness.Run("data", "collect", "--env_id", "Hopper-v4", "--policy", "random", "--steps", "3001",
            "--seed", "7", "--envs_per_worker", "1", "--out", path);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("44cea57efcbcb351b287a3e7869b8255d935418905aa297e660192e6e9d8ee20", Hash(DatasetIO.Load(path)));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(16)]
    public void Several_envs_per_worker_give_the_same_dataset_twice_with_contiguous_episodes(int envs)
    {
        var policy = new BehaviourPolicy.Actor(Teacher(), false);
        var a = Run(policy, 3001, 7, envs);
        var b = Run(policy, 3001, 7, envs);
        Assert.Equal(Hash(a), Hash(b));
        Assert.NotEqual(Hash(a), Hash(Run(policy, 3001, 7, envs: 1)));
        Assert.NotEqual(Hash(a), Hash(Run(policy, 3001, 8, envs)));
        AssertD4rlLayout(a, firstShare: 1501);
    }

    [Fact]
    public void Episodes_longer_than_the_rest_of_a_share_are_cut_once_at_its_end()
    {
        // HalfCheetah never falls: the 4 envs of a worker all end their episodes at step 1000. Two fit whole in the
        // 2500-row share, the third fills the last 500 rows (a timeout where the budget cut it), the fourth is
        // dropped.
        var ds = DatasetCollector.Collect(
            new CollectOptions("HalfCheetah-v4", new BehaviourPolicy.Random(), 5000, 1, "test", EnvsPerWorker: 4));
        var starts = ds.EpisodeStarts();
        Assert.Equal([0, 1000, 2000, 2500, 3500, 4500], starts);
        Assert.All(Enumerable.Range(0, ds.Count), i => Assert.False(ds.Terminals![i]));
        AssertD4rlLayout(ds, firstShare: 2500);
    }

    /// <summary>
    /// Episodes contiguous: within an episode the next observation is the next row's observation; every episode ends
    /// with a terminal or a timeout; a timeout that is not the env's time limit only at the end of each share.
    /// </summary>
    static void AssertD4rlLayout(OfflineDataset ds, int firstShare)
    {
        Assert.True(ds.EndsEpisode(firstShare - 1), "the first worker's share ends an episode");
        Assert.True(ds.LastEpisodeComplete);
        var od = ds.ObsDim;
        var starts = ds.EpisodeStarts();
        for (var e = 0; e < starts.Length; e++)
        {
            var end = e + 1 < starts.Length ? starts[e + 1] : ds.Count;
            for (var i = starts[e]; i + 1 < end; i++)
            {
                Assert.False(ds.EndsEpisode(i));
                Assert.Equal(ds.NextObservations!.AsSpan(i * od, od).ToArray(), ds.Observation(i + 1).ToArray());
            }
            var length = end - starts[e];
            var last = end - 1;
            // Inside a share an episode ends by a fall or by the 1000-step limit; the share's end may cut one.
            if (last != firstShare - 1 && last != ds.Count - 1)
                Assert.True(ds.Terminals![last] || length == 1000, $"episode {e} ends at row {last} by a cut");
            else Assert.True(ds.Terminals![last] || ds.Timeouts![last]);
        }
    }
}
