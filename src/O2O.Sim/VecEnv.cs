namespace O2O.Sim;

/// <summary>
/// N copies of one environment stepped in parallel on persistent worker threads, with auto-reset.
/// Env i is seeded with seed + i, owns its random stream and is stepped by exactly one thread per
/// step, so results do not depend on the thread count or on which thread took it. Step allocates nothing.
/// </summary>
public sealed class VecEnv : IDisposable
{
    readonly IEnv[] _envs;
    readonly int _obsDim, _actDim;
    readonly float[] _actions;
    readonly double[] _runningReturn;
    readonly Thread[] _workers;            // workers 1..Threads-1; the caller runs partition 0
    readonly SemaphoreSlim[] _go;
    readonly ManualResetEventSlim _allDone = new(false);
    Exception? _error;
    int _completed;
    readonly PaddedCounter[] _next;        // one claim counter per partition
    readonly int[] _partStart;             // partition p holds envs [_partStart[p], _partStart[p + 1])

    /// <summary>A counter on its own cache line, so two workers' counters never share one.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
    struct PaddedCounter
    {
        [System.Runtime.InteropServices.FieldOffset(64)] public int Value;
    }
    volatile bool _stopping;
    bool _disposed;

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

    /// <summary>Return of the episode that just finished, for envs whose episode ended on the last step; 0 elsewhere.</summary>
    public double[] EpisodeReturn { get; }

    /// <summary>Length of the episode that just finished, for envs whose episode ended on the last step; 0 elsewhere.</summary>
    public int[] EpisodeLength { get; }

    /// <summary>
    /// Make <paramref name="numEnvs"/> envs of <paramref name="envId"/>, reset env i with seed <paramref name="seed"/> + i.
    /// <paramref name="threads"/> 0 means min(numEnvs, processor count).
    /// </summary>
    public VecEnv(string envId, int numEnvs, int seed, int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numEnvs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Spec = EnvRegistry.Get(envId);
        NumEnvs = numEnvs;
        Threads = Math.Min(numEnvs, threads == 0 ? Environment.ProcessorCount : threads);
        _obsDim = Spec.ObsDim;
        _actDim = Spec.ActDim;
        _envs = new IEnv[numEnvs];
        _actions = new float[numEnvs * _actDim];
        _runningReturn = new double[numEnvs];
        Obs = new float[numEnvs * _obsDim];
        FinalObs = new float[numEnvs * _obsDim];
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
                _envs[i] = EnvRegistry.Make(envId);
                _envs[i].Reset(unchecked(seed + i), ObsRow(i));
            }
        }
        catch
        {
            foreach (var e in _envs) e?.Dispose();
            throw;
        }

        // ManualResetEventSlim creates its lock object the first time a wait has to block; make that happen
        // here (a 1 ms timed wait on the unset event) so no Step ever allocates.
        _allDone.Wait(1);
        _next = new PaddedCounter[Threads];
        _partStart = new int[Threads + 1];
        for (var p = 0; p <= Threads; p++) _partStart[p] = (int)((long)numEnvs * p / Threads);
        _go = new SemaphoreSlim[Threads];
        _workers = new Thread[Threads];
        for (var k = 1; k < Threads; k++)
        {
            _go[k] = new SemaphoreSlim(0);
            var worker = k;
            _workers[k] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"VecEnv {envId} worker {k}" };
            _workers[k].Start();
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
            var s = _envs[i].CaptureState();
            ints.Add(s.Reals.Length);
            ints.Add(s.Ints.Length);
            reals.AddRange(s.Reals);
            ints.AddRange(s.Ints);
            reals.Add(_runningReturn[i]);
        }
        reals.AddRange(Obs.Select(v => (double)v));
        return (reals.ToArray(), ints.ToArray());
    }

    /// <summary>Continue from <see cref="GetState"/> of a VecEnv with the same env id and count.</summary>
    public void SetState(double[] reals, long[] ints)
    {
        if (ints.Length == 0 || ints[0] != NumEnvs)
            throw new ArgumentException($"saved state is for {(ints.Length == 0 ? 0 : ints[0])} envs, this VecEnv has {NumEnvs}");
        int ri = 0, ii = 1;
        for (var i = 0; i < NumEnvs; i++)
        {
            var nr = (int)ints[ii++];
            var ni = (int)ints[ii++];
            _envs[i].RestoreState(new EnvState(reals[ri..(ri + nr)], ints[ii..(ii + ni)]));
            ri += nr;
            ii += ni;
            _runningReturn[i] = reals[ri++];
        }
        for (var j = 0; j < Obs.Length; j++) Obs[j] = (float)reals[ri + j];
    }

    /// <summary>The underlying env i (for qpos/qvel when collecting datasets). Do not step it directly.</summary>
    public IEnv Env(int i) => _envs[i];

    /// <summary>Start a new episode in every env (continuing each env's random stream) and fill <see cref="Obs"/>.</summary>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (var i = 0; i < NumEnvs; i++)
        {
            _envs[i].Reset(null, ObsRow(i));
            _runningReturn[i] = 0;
        }
    }

    /// <summary>
    /// Step every env with its row of <paramref name="actions"/> (NumEnvs × ActDim, row-major, clipped to [-1, 1] by the env);
    /// fills the result arrays and auto-resets finished envs.
    /// </summary>
    public void Step(ReadOnlySpan<float> actions)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (actions.Length != _actions.Length)
            throw new ArgumentException($"actions has {actions.Length} entries, {NumEnvs} envs × {_actDim} ({Spec.Id}) need {_actions.Length}", nameof(actions));
        for (var j = 0; j < actions.Length; j++)
            if (!float.IsFinite(actions[j]))
                throw new ArgumentException($"actions[{j}] (env {j / _actDim}, entry {j % _actDim}) is {actions[j]}; {Spec.Id} needs finite actions", nameof(actions));
        actions.CopyTo(_actions);

        // Publish the work: the counter hands out env indices; whoever completes the last env signals.
        _allDone.Reset();
        _error = null;
        Volatile.Write(ref _completed, 0);
        for (var p = 0; p < Threads; p++) Volatile.Write(ref _next[p].Value, 0);
        for (var k = 1; k < Threads; k++) _go[k].Release();
        StepShare(0);
        _allDone.Wait();
        if (_error is { } error)
            throw new InvalidOperationException($"{Spec.Id} VecEnv step failed: {error.Message}", error);
    }

    void WorkerLoop(int k)
    {
        while (true)
        {
            _go[k].Wait();
            if (_stopping) return;
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
            int start = _partStart[part], end = _partStart[part + 1], i;
            while ((i = start + Interlocked.Increment(ref _next[part].Value) - 1) < end)
            {
                try
                {
                    StepOne(i);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, e, null);
                }
                finally
                {
                    if (Interlocked.Increment(ref _completed) == NumEnvs) _allDone.Set();
                }
            }
        }
    }

    void StepOne(int i)
    {
        var env = _envs[i];
        var next = FinalObs.AsSpan(i * _obsDim, _obsDim);
        var r = env.Step(_actions.AsSpan(i * _actDim, _actDim), next);
        Results[i] = r;
        Rewards[i] = (float)r.Reward;
        Terminated[i] = r.Terminated;
        Truncated[i] = r.Truncated;
        _runningReturn[i] += r.Reward;
        if (r.Terminated || r.Truncated)
        {
            EpisodeReturn[i] = _runningReturn[i];
            EpisodeLength[i] = env.EpisodeStep;
            _runningReturn[i] = 0;
            env.Reset(null, ObsRow(i));
        }
        else
        {
            EpisodeReturn[i] = 0;
            EpisodeLength[i] = 0;
            next.CopyTo(ObsRow(i));
        }
    }

    Span<float> ObsRow(int i) => Obs.AsSpan(i * _obsDim, _obsDim);

    /// <summary>Stop the worker threads and free every env.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stopping = true;
        for (var k = 1; k < Threads; k++) _go[k].Release();
        for (var k = 1; k < Threads; k++) _workers[k].Join();
        for (var k = 1; k < Threads; k++) _go[k].Dispose();
        _allDone.Dispose();
        foreach (var e in _envs) e.Dispose();
    }
}
