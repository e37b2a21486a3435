using O2O.Core;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.OffPolicy;
using O2O.Learning.Runtime;
using O2O.Learning.Training;

namespace O2O.Learning.Tests;

/// <summary>The replay buffer: mixing ratios, the ring, one-pool sampling, checkpoint round trip, errors.</summary>
public class ReplayBufferTests
{
    const int ObsDim = 2, ActDim = 1;

    public ReplayBufferTests() => TorchRuntime.EnsureLoaded();

    /// <summary>Offline rows whose reward is −1 − i, so a sampled row tells where it came from.</summary>
    static OfflineDataset Offline(int n)
    {
        var obs = new float[n * ObsDim];
        var next = new float[n * ObsDim];
        for (var i = 0; i < n * ObsDim; i++) { obs[i] = i; next[i] = i + 0.5f; }
        var rewards = Enumerable.Range(0, n).Select(i => -1f - i).ToArray();
        var terminals = Enumerable.Range(0, n).Select(i => i % 5 == 4).ToArray();
        return new OfflineDataset(n, ObsDim, ActDim, obs, new float[n], rewards, next, terminals, new bool[n]);
    }

    /// <summary>Online transitions with reward k ≥ 0 for the k-th added.</summary>
    static void AddOnline(ReplayBuffer b, int count, int from = 0)
    {
        for (var k = from; k < from + count; k++)
            b.Add([k, k], [0.1f * k], k, [k + 1, k + 1], terminated: k % 3 == 2);
    }

    [Theory]
    [InlineData(0.5, 256)]
    [InlineData(0.3, 256)]
    [InlineData(0.37, 100)]
    [InlineData(0.0, 64)]
    [InlineData(1.0, 64)]
    public void The_mixing_ratio_is_exact_over_many_batches(double ratio, int batchSize)
    {
        var b = new ReplayBuffer(ObsDim, ActDim, 1000, Offline(500), ratio);
        AddOnline(b, 300);
        var batch = new ReplayBatch(batchSize, ObsDim, ActDim);
        var rng = new Rng(7);
        long offline = 0, total = 0;
        for (var j = 0; j < 2000; j++)
        {
            b.Sample(batch, rng);
            var fromOffline = batch.Rewards.Count(r => r < 0);
            Assert.Equal(batch.OfflineRows, fromOffline);
            Assert.InRange(fromOffline, (int)Math.Floor(ratio * batchSize), (int)Math.Ceiling(ratio * batchSize));
            offline += fromOffline;
            total += batchSize;
        }
        Assert.True(Math.Abs(offline - ratio * total) < 1,
            $"{offline} offline rows of {total}, expected {ratio * total}");
    }

    [Fact]
    public void Without_a_ratio_both_parts_are_one_pool()
    {
        var b = new ReplayBuffer(ObsDim, ActDim, 1000, Offline(600));
        AddOnline(b, 200);
        var batch = new ReplayBatch(256, ObsDim, ActDim);
        var rng = new Rng(3);
        long offline = 0, total = 0;
        for (var j = 0; j < 400; j++)
        {
            b.Sample(batch, rng);
            offline += batch.Rewards.Count(r => r < 0);
            total += 256;
        }
        // 600 of 800 rows are offline: 0.75, binomial sd over 102 400 draws ≈ 0.0014.
        Assert.InRange(offline / (double)total, 0.75 - 0.006, 0.75 + 0.006);
    }

    [Fact]
    public void The_ring_keeps_the_newest_transitions_with_their_columns()
    {
        var b = new ReplayBuffer(ObsDim, ActDim, 3);
        AddOnline(b, 5);
        Assert.Equal((3, 5L), (b.OnlineCount, b.Added));
        var batch = new ReplayBatch(300, ObsDim, ActDim);
        b.Sample(batch, new Rng(1));
        Assert.Equal([2f, 3f, 4f], batch.Rewards.Distinct().Order());
        for (var i = 0; i < batch.Size; i++)
        {
            var k = batch.Rewards[i];
            Assert.Equal([k, k], batch.Obs[(i * ObsDim)..((i + 1) * ObsDim)]);
            Assert.Equal([k + 1, k + 1], batch.NextObs[(i * ObsDim)..((i + 1) * ObsDim)]);
            Assert.Equal(0.1f * k, batch.Actions[i]);
            Assert.Equal(k % 3 == 2 ? 1f : 0f, batch.Terminals[i]);
        }
    }

    [Fact]
    public void Offline_rows_carry_their_terminals_and_next_observations()
    {
        var b = new ReplayBuffer(ObsDim, ActDim, 10, Offline(20), mixingRatio: 1.0);
        var batch = new ReplayBatch(500, ObsDim, ActDim);
        b.Sample(batch, new Rng(2));
        for (var i = 0; i < batch.Size; i++)
        {
            var row = (int)(-batch.Rewards[i] - 1);
            Assert.Equal(row % 5 == 4 ? 1f : 0f, batch.Terminals[i]);
            Assert.Equal(row * ObsDim + 0.5f, batch.NextObs[i * ObsDim]);
        }
    }

    [Fact]
    public void A_checkpointed_buffer_samples_the_same_rows_after_a_reload()
    {
        var a = new ReplayBuffer(ObsDim, ActDim, 50, Offline(40), mixingRatio: 0.37);
        AddOnline(a, 70);
        var batch = new ReplayBatch(64, ObsDim, ActDim);
        var rngA = new Rng(5);
        a.Sample(batch, rngA); // leaves a fractional carry behind
        using var state = new TrainingState();
        a.WriteState(state);
        var rngState = rngA.GetState();

        var b = new ReplayBuffer(ObsDim, ActDim, 50, Offline(40), mixingRatio: 0.37);
        b.ReadState(state);
        var rngB = new Rng(99);
        rngB.SetState(rngState);
        var other = new ReplayBatch(64, ObsDim, ActDim);
        for (var j = 0; j < 20; j++)
        {
            a.Sample(batch, rngA);
            b.Sample(other, rngB);
            Assert.Equal(batch.Rewards, other.Rewards);
            Assert.Equal(batch.NextObs, other.NextObs);
        }
        AddOnline(a, 3, from: 70);
        AddOnline(b, 3, from: 70);
        a.Sample(batch, rngA);
        b.Sample(other, rngB);
        Assert.Equal(batch.Obs, other.Obs);
    }

    [Fact]
    public void Every_row_carries_its_support_online_offline_and_through_a_checkpoint()
    {
        // σ of offline row i is i / 100; online transition k is stored with σ = 0.5 + k / 1000.
        var offlineSupport = Enumerable.Range(0, 40).Select(i => i / 100f).ToArray();
        var a = new ReplayBuffer(ObsDim, ActDim, 50, Offline(40), offlineSupport: offlineSupport);
        for (var k = 0; k < 30; k++) a.Add([k, k], [0], k, [k, k], false, 0.5f + k / 1000f);
        var batch = new ReplayBatch(400, ObsDim, ActDim);
        a.Sample(batch, new Rng(4));
        Assert.Contains(batch.Rewards, r => r < 0);
        Assert.Contains(batch.Rewards, r => r >= 0);
        for (var i = 0; i < batch.Size; i++)
        {
            var r = batch.Rewards[i];
            Assert.Equal(r < 0 ? offlineSupport[(int)(-r - 1)] : 0.5f + (int)r / 1000f, batch.Support[i]);
        }
        using var state = new TrainingState();
        a.WriteState(state);
        var b = new ReplayBuffer(ObsDim, ActDim, 50, Offline(40), offlineSupport: offlineSupport);
        b.ReadState(state);
        var other = new ReplayBatch(400, ObsDim, ActDim);
        a.Sample(batch, new Rng(8));
        b.Sample(other, new Rng(8));
        Assert.Equal(batch.Support, other.Support);
        // Without σ every row has full support, so a DSR's shaping leaves it alone.
        var plain = new ReplayBuffer(ObsDim, ActDim, 10, Offline(5));
        AddOnline(plain, 5);
        plain.Sample(batch, new Rng(1));
        Assert.All(batch.Support, v => Assert.Equal(1f, v));
        Assert.Throws<ArgumentException>(() => new ReplayBuffer(ObsDim, ActDim, 10, Offline(5), offlineSupport: [1f]));
    }

    [Fact]
    public void Sampling_allocates_nothing_per_batch()
    {
        var b = new ReplayBuffer(ObsDim, ActDim, 1000, Offline(500), mixingRatio: 0.5);
        AddOnline(b, 800);
        var batch = new ReplayBatch(256, ObsDim, ActDim);
        var rng = new Rng(1);
        b.Sample(batch, rng);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var j = 0; j < 1000; j++) b.Sample(batch, rng);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Bad_settings_are_one_line_errors_naming_the_option()
    {
        string[] Named(Func<ReplayBuffer> make) => [.. Assert.Throws<OptionError>(() => make()).Options];
        Assert.Equal(["MixingRatio"], Named(() => new ReplayBuffer(ObsDim, ActDim, 10, Offline(5), 1.5)));
        Assert.Equal(["MixingRatio"], Named(() => new ReplayBuffer(ObsDim, ActDim, 10, null, 0.5)));
        Assert.Equal(["BufferSize"], Named(() => new ReplayBuffer(ObsDim, ActDim, 0)));
        var e = Assert.ThrowsAny<UserError>(() => new ReplayBuffer(3, ActDim, 10, Offline(5)));
        Assert.Contains("2 observation and 1 action dims", e.Message, StringComparison.Ordinal);
        var noNext = new OfflineDataset(3, ObsDim, ActDim, new float[6], new float[3], new float[3]);
        var lacks = Assert.ThrowsAny<UserError>(() => new ReplayBuffer(ObsDim, ActDim, 10, noNext));
        Assert.Contains("next observations", lacks.Message, StringComparison.Ordinal);
        var empty = new ReplayBuffer(ObsDim, ActDim, 10);
        Assert.Throws<InvalidOperationException>(() => empty.Sample(new ReplayBatch(4, ObsDim, ActDim), new Rng(1)));
    }
}
