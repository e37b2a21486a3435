namespace O2O.Learning.Ppo;

/// <summary>
/// One rollout as the environment produced it (raw observations, executed actions, raw rewards), time-major
/// [Steps × Envs]; NextObs row k is the observation after step k (the final one when the episode ended).
/// </summary>
public sealed record RolloutBatch(
    int Steps, int Envs, int ObsDim, int ActDim, float[] Obs, float[] NextObs, float[] Actions, float[] Rewards,
    bool[] Terminated, bool[] Truncated);

/// <summary>
/// PPO's rollout storage, time-major [Horizon × Envs] (index t·Envs + i), allocated once: what was seen and done,
/// and what the update derives from it (old log-probs, values, GAE advantages and returns).
/// </summary>
internal sealed class RolloutBuffer
{
    public RolloutBuffer(int horizon, int envs, int obsDim, int actDim)
    {
        Horizon = horizon;
        Envs = envs;
        ObsDim = obsDim;
        ActDim = actDim;
        var n = horizon * envs;
        ObsRaw = new float[n * obsDim];
        ObsNormalized = new float[n * obsDim];
        ActionsRaw = new float[n * actDim];
        ActionsExecuted = new float[n * actDim];
        Rewards = new float[n];
        Values = new float[n];
        NextValues = new float[n];
        Advantages = new float[n];
        Returns = new float[n];
        LogProbOld = new float[n];
        CriticPenalty = new float[n];
        Ends = new bool[n];
        Terminated = new bool[n];
    }

    public int Horizon { get; }
    public int Envs { get; }
    public int ObsDim { get; }
    public int ActDim { get; }
    public int Count => Horizon * Envs;

    public float[] ObsRaw { get; }
    /// <summary>Observations through the running normaliser as it was when each was seen.</summary>
    public float[] ObsNormalized { get; }
    /// <summary>Sampled (pre-clip) actions: what log-probabilities refer to.</summary>
    public float[] ActionsRaw { get; }
    /// <summary>Actions clipped to [−1, 1]: what the environment executed and the DSR scores.</summary>
    public float[] ActionsExecuted { get; }
    public float[] Rewards { get; }
    public float[] Values { get; }
    /// <summary>Value to bootstrap from after each step: V(s'), V(final obs) after a time limit, 0 after a fall.
    /// </summary>
    public float[] NextValues { get; }
    public float[] Advantages { get; }
    public float[] Returns { get; }
    public float[] LogProbOld { get; }
    /// <summary>Per-sample weights of the critic's pessimism term (zeros when it is off).</summary>
    public float[] CriticPenalty { get; }
    /// <summary>The episode ended after this step (terminated or truncated).</summary>
    public bool[] Ends { get; }
    public bool[] Terminated { get; }
    /// <summary>Raw next observations, kept only while a recorder listens.</summary>
    public float[]? NextObsRaw { get; private set; }
    /// <summary>Steps that hit the time limit, with their normalised final observation (to bootstrap from).</summary>
    public List<(int Index, float[] FinalObsNorm)> Truncations { get; } = [];

    public float[] EnsureNextObs() => NextObsRaw ??= new float[ObsRaw.Length];

    /// <summary>A copy of what the environment produced, for a recorder.</summary>
    public RolloutBatch Snapshot()
    {
        var truncated = new bool[Ends.Length];
        for (var k = 0; k < Ends.Length; k++) truncated[k] = Ends[k] && !Terminated[k];
        return new RolloutBatch(Horizon, Envs, ObsDim, ActDim, (float[])ObsRaw.Clone(), (float[])NextObsRaw!.Clone(),
            (float[])ActionsExecuted.Clone(), (float[])Rewards.Clone(), (bool[])Terminated.Clone(), truncated);
    }
}
