using O2O.Core;
using O2O.Data;
using O2O.Learning.Nn;
using O2O.Learning.Training;

namespace O2O.Learning.OffPolicy;

/// <summary>A sampled minibatch of (s, a, r, s', terminal) rows, in arrays reused from draw to draw.</summary>
public sealed class ReplayBatch(int size, int obsDim, int actDim)
{
    public int Size { get; } = size;
    public float[] Obs { get; } = new float[size * obsDim];
    public float[] Actions { get; } = new float[size * actDim];
    public float[] Rewards { get; } = new float[size];
    public float[] NextObs { get; } = new float[size * obsDim];
    /// <summary>1 where the episode terminated after the step (no bootstrap); a time limit is not one.</summary>
    public float[] Terminals { get; } = new float[size];
    /// <summary>
    /// Discounted Monte-Carlo return of the behaviour data from the row on (Cal-QL's lower bound); 0 for online
    /// rows and for offline data given without returns, as in Cal-QL.
    /// </summary>
    public float[] Returns { get; } = new float[size];
    /// <summary>
    /// The frozen DSR's support σ(s, a) ∈ [0, 1] of each row, scored once when the row was stored (1 when the buffer
    /// was given no σ): <see cref="OffPolicySupport"/> shapes the batch's rewards from it.
    /// </summary>
    public float[] Support { get; } = new float[size];
    /// <summary>Rows of the batch that came from the offline part.</summary>
    public int OfflineRows { get; internal set; }
}

/// <summary>
/// Transitions for off-policy learners: an online ring of fixed capacity (float32 columns, allocated once) and,
/// optionally, an offline part that is the dataset's own arrays (never copied, never overwritten). Sampling mixes
/// the two: with a mixing ratio R, R of every batch comes from the offline part (Cal-QL's 0.5; 0 = online only);
/// without one, both parts form a single pool sampled uniformly (CORL appends online data after the offline data).
/// A fractional R·batch is carried over from batch to batch, so the share of offline rows is exactly R in the long
/// run. Each row also carries a support σ (the DSR's, scored once at insertion; 1 without a DSR). The ring (with its
/// σ) and the carry go into checkpoints, so a resumed run samples the same rows.
/// </summary>
public sealed class ReplayBuffer
{
    readonly int obsDim, actDim;
    readonly float[] obs, actions, rewards, nextObs, terminals, support;
    readonly OfflineDataset? offline;
    readonly float[]? offlineReturns, offlineSupport;
    const double CarryTolerance = 1e-9;
    double offlineCarry;
    int head;

    /// <param name="capacity">Online transitions kept; the oldest is overwritten once full.</param>
    /// <param name="offline">Offline transitions with next observations (OfflineDataset.ToQLearningTransitions).
    /// </param>
    /// <param name="mixingRatio">Share of each batch from the offline part, in [0, 1]; null samples one pool.</param>
    /// <param name="offlineReturns">Monte-Carlo return of each offline row (Cal-QL), or null.</param>
    /// <param name="offlineSupport">The DSR's support σ of each offline row, or null (σ = 1).</param>
    public ReplayBuffer(int obsDim, int actDim, int capacity, OfflineDataset? offline = null,
        double? mixingRatio = null, float[]? offlineReturns = null, float[]? offlineSupport = null)
    {
        if (capacity <= 0) throw new OptionError($"BufferSize must be > 0, got {capacity}", "BufferSize");
        if (mixingRatio is < 0 or > 1)
            throw new OptionError($"MixingRatio must be in [0, 1], got {mixingRatio}", "MixingRatio");
        if (offline is not null)
        {
            if (offline.ObsDim != obsDim || offline.ActDim != actDim)
                throw new UserError($"the offline data has {offline.ObsDim} observation and {offline.ActDim} action "
                    + $"dims, the environment {obsDim} and {actDim}; use data recorded in this environment");
            if (offline.NextObservations is null || offline.Rewards is null || offline.Terminals is null)
                throw new UserError("the offline data lacks rewards, terminals or next observations; "
                    + "a D4RL file with rewards and terminals gives all three");
        }
        if (mixingRatio > 0 && (offline is null || offline.Count == 0))
            throw new OptionError($"MixingRatio {mixingRatio} needs offline data to mix in; keep the offline data or "
                + "set MixingRatio 0", "MixingRatio");
        this.obsDim = obsDim;
        this.actDim = actDim;
        if (offlineReturns is not null && offlineReturns.Length != (offline?.Count ?? 0))
            throw new ArgumentException("one Monte-Carlo return per offline row is needed", nameof(offlineReturns));
        if (offlineSupport is not null && offlineSupport.Length != (offline?.Count ?? 0))
            throw new ArgumentException("one support value per offline row is needed", nameof(offlineSupport));
        this.offline = offline;
        this.offlineReturns = offlineReturns;
        this.offlineSupport = offlineSupport;
        Capacity = capacity;
        MixingRatio = mixingRatio;
        obs = new float[(long)capacity * obsDim];
        actions = new float[(long)capacity * actDim];
        rewards = new float[capacity];
        nextObs = new float[(long)capacity * obsDim];
        terminals = new float[capacity];
        support = new float[capacity];
    }

    public int Capacity { get; }
    public double? MixingRatio { get; }
    /// <summary>Online transitions held (≤ Capacity).</summary>
    public int OnlineCount { get; private set; }
    public int OfflineCount => offline?.Count ?? 0;
    /// <summary>Online transitions added since the start (including overwritten ones).</summary>
    public long Added { get; private set; }

    /// <summary>
    /// Store one online transition; <paramref name="terminated"/> is a true end, not a time limit;
    /// <paramref name="supportValue"/> is the DSR's σ of the pair (1 without a DSR).
    /// </summary>
    public void Add(ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward,
        ReadOnlySpan<float> nextObservation, bool terminated, float supportValue = 1f)
    {
        observation.CopyTo(obs.AsSpan(head * obsDim, obsDim));
        action.CopyTo(actions.AsSpan(head * actDim, actDim));
        rewards[head] = reward;
        nextObservation.CopyTo(nextObs.AsSpan(head * obsDim, obsDim));
        terminals[head] = terminated ? 1f : 0f;
        support[head] = supportValue;
        head = (head + 1) % Capacity;
        OnlineCount = Math.Min(OnlineCount + 1, Capacity);
        Added++;
    }

    /// <summary>Fill <paramref name="batch"/> with rows drawn with replacement, offline rows first.</summary>
    public void Sample(ReplayBatch batch, Rng rng)
    {
        var offlineRows = OfflineRowsFor(batch.Size);
        if (batch.Size - offlineRows > 0 && OnlineCount == 0)
            throw new InvalidOperationException("sampling online transitions from an empty buffer");
        for (var i = 0; i < batch.Size; i++)
        {
            if (i < offlineRows) CopyOffline(rng.NextInt(OfflineCount), batch, i);
            else if (MixingRatio is null)
            {
                var k = rng.NextInt(OfflineCount + OnlineCount);
                if (k < OfflineCount) CopyOffline(k, batch, i);
                else CopyOnline(k - OfflineCount, batch, i);
            }
            else CopyOnline(rng.NextInt(OnlineCount), batch, i);
        }
        batch.OfflineRows = offlineRows;
    }

    int OfflineRowsFor(int size)
    {
        if (MixingRatio is not double r) return 0;
        offlineCarry += r * size;
        // The tolerance keeps rounding error (0.3 · 256 summed) from holding back a row that is due.
        var rows = (int)Math.Floor(offlineCarry + CarryTolerance);
        offlineCarry -= rows;
        return rows;
    }

    void CopyOnline(int k, ReplayBatch b, int i)
    {
        obs.AsSpan(k * obsDim, obsDim).CopyTo(b.Obs.AsSpan(i * obsDim, obsDim));
        actions.AsSpan(k * actDim, actDim).CopyTo(b.Actions.AsSpan(i * actDim, actDim));
        b.Rewards[i] = rewards[k];
        nextObs.AsSpan(k * obsDim, obsDim).CopyTo(b.NextObs.AsSpan(i * obsDim, obsDim));
        b.Terminals[i] = terminals[k];
        b.Returns[i] = 0f;
        b.Support[i] = support[k];
    }

    void CopyOffline(int k, ReplayBatch b, int i)
    {
        var d = offline!;
        d.Observation(k).CopyTo(b.Obs.AsSpan(i * obsDim, obsDim));
        d.Action(k).CopyTo(b.Actions.AsSpan(i * actDim, actDim));
        b.Rewards[i] = d.Rewards![k];
        d.NextObservations.AsSpan(k * obsDim, obsDim).CopyTo(b.NextObs.AsSpan(i * obsDim, obsDim));
        b.Terminals[i] = d.Terminals![k] ? 1f : 0f;
        b.Returns[i] = offlineReturns?[k] ?? 0f;
        b.Support[i] = offlineSupport?[k] ?? 1f;
    }

    /// <summary>The online ring's filled part (σ included), its write position and the mixing carry.</summary>
    public void WriteState(TrainingState state, string prefix = "replay.")
    {
        var n = OnlineCount;
        state.Add(prefix + "obs", obs[..(n * obsDim)]);
        state.Add(prefix + "actions", actions[..(n * actDim)]);
        state.Add(prefix + "rewards", rewards[..n]);
        state.Add(prefix + "next_obs", nextObs[..(n * obsDim)]);
        state.Add(prefix + "terminals", terminals[..n]);
        state.Add(prefix + "support", support[..n]);
        state.Add(prefix + "counters", [head, n, Added, OfflineCount]);
        state.Add(prefix + "carry", [offlineCarry]);
    }

    public void ReadState(TrainingState state, string prefix = "replay.")
    {
        var c = state.Longs(prefix + "counters");
        if (c.Length != 4 || c[1] > Capacity || c[3] != OfflineCount)
            throw new UserError("the checkpoint's replay buffer does not fit this run (other capacity or offline "
                + "data); resume with the same settings and data");
        var n = (int)c[1];
        state.Floats(prefix + "obs").CopyTo(obs, 0);
        state.Floats(prefix + "actions").CopyTo(actions, 0);
        state.Floats(prefix + "rewards").CopyTo(rewards, 0);
        state.Floats(prefix + "next_obs").CopyTo(nextObs, 0);
        state.Floats(prefix + "terminals").CopyTo(terminals, 0);
        // Checkpoints written before the support column existed held no DSR: σ = 1.
        if (state.Contains(prefix + "support")) state.Floats(prefix + "support").CopyTo(support, 0);
        else Array.Fill(support, 1f, 0, n);
        head = (int)c[0];
        OnlineCount = n;
        Added = c[2];
        offlineCarry = state.Doubles(prefix + "carry")[0];
    }
}
