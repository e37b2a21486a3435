namespace O2O.Sim;

/// <summary>
/// N copies of one environment stepped in parallel on persistent worker threads, with auto-reset.
/// Env i is seeded with seed + i, owns its random stream and is stepped by exactly one thread per
/// step, so results do not depend on the thread count or on which thread took it. Step allocates nothing.
/// </summary>
public sealed class VecEnv : IDisposable
{
    readonly IEnv[] envs;
    readonly int obsDim, actDim;
    readonly float[] actionBuffer;
    readonly double[] runningReturn;
    readonly Thread[] workers;            // workers 1..Threads-1; the caller runs partition 0
    readonly SemaphoreSlim[] workerGo;
    readonly ManualResetEventSlim allDone = new(false);
    Exception? stepError;
    int completed;
    readonly PaddedCounter[] nextClaim;        // one claim counter per partition
    readonly int[] partStart;             // partition p holds envs [partStart[p], partStart[p + 1])

    /// <summary>A counter on its own cache line, so two workers' counters never share one.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
    struct PaddedCounter
    {
        [System.Runtime.InteropServices.FieldOffset(64)] public int Value;
    }
    volatile bool stopping;
    bool disposed;

    /// <summary>The environment's static facts.</summary>
    public EnvSpec Spec { get; }

    /// <summary>Number of environments.</summary>
    public int NumEnvs { get; }

    /// <summary>Threads that step the envs (the calling thread included).</summary>
    public int Threads { get; }

    /// <summary>Current observation of each env (NumEnvs × ObsDim, row-major), after auto-reset.</summary>
    public float[] Obs { get; }

    /// <summary>
    /// Observation that followed the last action of each env (NumEnvs × ObsDim). For an env whose episode just ended
    /// (Terminated or Truncated) this is the final observation of that episode, while <see cref="Obs"/> already holds
    /// the next episode's first one; for the others it equals the <see cref="Obs"/> row.
    /// </summary>
    public float[] FinalObs { get; }

    /// <summary>Reward of the last step per env.</summary>
    public float[] Rewards { get; }

    /// <summary>True where the last step ended the episode by a fall (do not bootstrap).</summary>
    public bool[] Terminated { get; }

    /// <summary>True where the last step hit the time limit (bootstrap from <see cref="FinalObs"/>).</summary>
    public bool[] Truncated { get; }

    /// <summary>Full step result (reward terms, x position and velocity) per env.</summary>
    public StepResult[] Results { get; }

    /// <summary>
    /// Return of the episode that just finished, for envs whose episode ended on the last step; 0 elsewhere.
    /// </summary>
    public double[] EpisodeReturn { get; }

    /// <summary>
    /// Length of the episode that just finished, for envs whose episode ended on the last step; 0 elsewhere.
    /// </summary>
    public int[] EpisodeLength { get; }

    /// <summary>
    /// Make <paramref name="numEnvs"/> envs of <paramref name="envId"/>, reset env i with seed
    /// <paramref name="seed"/> + i. <paramref name="threads"/> 0 means min(numEnvs, processor count).
    /// </summary>
    public VecEnv(string envId, int numEnvs, int seed, int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numEnvs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Spec = EnvRegistry.Get(envId);
        NumEnvs = numEnvs;
        Threads = Math.Min(numEnvs, threads == 0 ? Environment.ProcessorCount : threads);
        obsDim = Spec.ObsDim;
        actDim = Spec.ActDim;
        envs = new IEnv[numEnvs];
        actionBuffer = new float[numEnvs * actDim];
        runningReturn = new double[numEnvs];
        Obs = new float[numEnvs * obsDim];
        FinalObs = new float[numEnvs * obsDim];
        Rewards = new float[numEnvs];
        Terminated = new bool[numEnvs];
        Truncated = new bool[numEnvs];
        Results = new StepResult[numEnvs];
        EpisodeReturn = new double[numEnvs];
        EpisodeLength = new int[numEnvs];
        try
        {
            for (var i = 0; i < numEnvs; i++)
            {
                envs[i] = EnvRegistry.Make(envId);
                envs[i].Reset(unchecked(seed + i), ObsRow(i));
            }
        }
        catch
        {
            foreach (var e in envs) e?.Dispose();
            throw;
        }

        // ManualResetEventSlim creates its lock object the first time a wait has to block; make that happen
        // here (a 1 ms timed wait on the unset event) so no Step ever allocates.
        allDone.Wait(1);
        nextClaim = new PaddedCounter[Threads];
        partStart = new int[Threads + 1];
        for (var p = 0; p <= Threads; p++) partStart[p] = (int)((long)numEnvs * p / Threads);
        workerGo = new SemaphoreSlim[Threads];
        workers = new Thread[Threads];
        for (var k = 1; k < Threads; k++)
        {
            workerGo[k] = new SemaphoreSlim(0);
            var worker = k;
            workers[k] = new Thread(
                () => WorkerLoop(worker)) { IsBackground = true, Name = $"VecEnv {envId} worker {k}" };
            workers[k].Start();
        }
    }

    /// <summary>
    /// Every env's state, the running episode returns and the current observations, as flat arrays
    /// (a checkpoint stores them; <see cref="SetState"/> continues exactly).
    /// </summary>
    public (double[] Reals, long[] Ints) GetState()
    {
        var reals = new List<double>();
        var ints = new List<long> { NumEnvs };
        for (var i = 0; i < NumEnvs; i++)
        {
            var s = envs[i].CaptureState();
            ints.Add(s.Reals.Length);
            ints.Add(s.Ints.Length);
            reals.AddRange(s.Reals);
            ints.AddRange(s.Ints);
            reals.Add(runningReturn[i]);
        }
        reals.AddRange(Obs.Select(v => (double)v));
        return (reals.ToArray(), ints.ToArray());
    }

    /// <summary>Continue from <see cref="GetState"/> of a VecEnv with the same env id and count.</summary>
    public void SetState(double[] reals, long[] ints)
    {
        if (ints.Length == 0 || ints[0] != NumEnvs)
            throw new ArgumentException(
                $"saved state is for {(ints.Length == 0 ? 0 : ints[0])} envs, this VecEnv has {NumEnvs}");
        int ri = 0, ii = 1;
        for (var i = 0; i < NumEnvs; i++)
        {
            var nr = (int)ints[ii++];
            var ni = (int)ints[ii++];
            envs[i].RestoreState(new EnvState(reals[ri..(ri + nr)], ints[ii..(ii + ni)]));
            ri += nr;
            ii += ni;
            runningReturn[i] = reals[ri++];
        }
        for (var j = 0; j < Obs.Length; j++) Obs[j] = (float)reals[ri + j];
    }

    /// <summary>The underlying env i (for qpos/qvel when collecting datasets). Do not step it directly.</summary>
    public IEnv Env(int i) => envs[i];

    /// <summary>
    /// Start a new episode in every env (continuing each env's random stream) and fill <see cref="Obs"/>.
    /// </summary>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        for (var i = 0; i < NumEnvs; i++)
        {
            envs[i].Reset(null, ObsRow(i));
            runningReturn[i] = 0;
        }
    }

    /// <summary>
    /// Step every env with its row of <paramref name="actions"/> (NumEnvs × ActDim, row-major, clipped to [-1, 1] by
    /// the env); fills the result arrays and auto-resets finished envs.
    /// </summary>
    public void Step(ReadOnlySpan<float> actions)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (actions.Length != actionBuffer.Length)
            throw new ArgumentException($"actions has {actions.Length} entries, " +
                $"{NumEnvs} envs × {actDim} ({Spec.Id}) need {actionBuffer.Length}", nameof(actions));
        for (var j = 0; j < actions.Length; j++)
            if (!float.IsFinite(actions[j]))
                throw new ArgumentException($"actions[{j}] (env {j / actDim}, entry {j % actDim}) is {actions[j]}; " +
                    $"{Spec.Id} needs finite actions", nameof(actions));
        actions.CopyTo(actionBuffer);

        // Publish the work: the counter hands out env indices; whoever completes the last env signals.
        allDone.Reset();
        stepError = null;
        Volatile.Write(ref completed, 0);
        for (var p = 0; p < Threads; p++) Volatile.Write(ref nextClaim[p].Value, 0);
        for (var k = 1; k < Threads; k++) workerGo[k].Release();
        StepShare(0);
        allDone.Wait();
        if (stepError is { } error)
            throw new InvalidOperationException($"{Spec.Id} VecEnv step failed: {error.Message}", error);
    }

    void WorkerLoop(int k)
    {
        while (true)
        {
            workerGo[k].Wait();
            if (stopping) return;
            StepShare(k);
        }
    }

    /// <summary>
    /// Worker k first steps its own partition of envs, then helps with the others' until none is left.
    /// Own partitions keep each env's MuJoCo data in one core's cache from step to step (a shared counter
    /// moved envs between cores and cost ≈ 15 % more CPU per env step); stealing keeps the dynamic balance a
    /// busy machine needs: a worker that wakes late takes fewer envs (or none) instead of holding everyone up.
    /// Claims only happen on counters reset for the current step, after its actions were published.
    /// </summary>
    void StepShare(int k)
    {
        for (var r = 0; r < Threads; r++)
        {
            var part = (k + r) % Threads;
            int start = partStart[part], end = partStart[part + 1], i;
            while ((i = start + Interlocked.Increment(ref nextClaim[part].Value) - 1) < end)
            {
                try
                {
                    StepOne(i);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref stepError, e, null);
                }
                finally
                {
                    if (Interlocked.Increment(ref completed) == NumEnvs) allDone.Set();
                }
            }
        }
    }

    void StepOne(int i)
    {
        var env = envs[i];
        var next = FinalObs.AsSpan(i * obsDim, obsDim);
        var r = env.Step(actionBuffer.AsSpan(i * actDim, actDim), next);
        Results[i] = r;
        Rewards[i] = (float)r.Reward;
        Terminated[i] = r.Terminated;
        Truncated[i] = r.Truncated;
        runningReturn[i] += r.Reward;
        if (r.Terminated || r.Truncated)
        {
            EpisodeReturn[i] = runningReturn[i];
            EpisodeLength[i] = env.EpisodeStep;
            runningReturn[i] = 0;
            env.Reset(null, ObsRow(i));
        }
        else
        {
            EpisodeReturn[i] = 0;
            EpisodeLength[i] = 0;
            next.CopyTo(ObsRow(i));
        }
    }

    Span<float> ObsRow(int i) => Obs.AsSpan(i * obsDim, obsDim);

    /// <summary>Stop the worker threads and free every env.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        stopping = true;
        for (var k = 1; k < Threads; k++) workerGo[k].Release();
        for (var k = 1; k < Threads; k++) workers[k].Join();
        for (var k = 1; k < Threads; k++) workerGo[k].Dispose();
        allDone.Dispose();
        foreach (var e in envs) e.Dispose();
    }
}
