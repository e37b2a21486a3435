using System.Runtime.ExceptionServices;
using TorchSharp;

namespace O2O.Learning.Runtime;

/// <summary>
/// Runs work items 0…n−1 concurrently, each always on the same thread (the caller runs item 0, item i its own
/// background thread), every thread with libtorch's intra-op thread count set to the same value. libtorch's OpenMP
/// count is a per-thread setting: a thread-pool thread that never set it would run its operations on every core,
/// with other roundings, and which item landed on such a thread would vary from run to run. Fixed threads keep
/// the results a function of the data alone. Not reentrant; one <see cref="Run"/> at a time.
/// </summary>
internal sealed class FixedThreads : IDisposable
{
    readonly Thread[] workers;
    readonly SemaphoreSlim[] go, done;
    readonly int intraOp;
    Action<int>? work;
    readonly Exception?[] errors;
    volatile bool stopping;

    public FixedThreads(int count, int intraOp)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(intraOp, 1);
        this.intraOp = intraOp;
        errors = new Exception?[count];
        go = new SemaphoreSlim[count];
        done = new SemaphoreSlim[count];
        workers = new Thread[count];
        for (var i = 1; i < count; i++)
        {
            go[i] = new SemaphoreSlim(0);
            done[i] = new SemaphoreSlim(0);
            var item = i;
            workers[i] = new Thread(() => Loop(item)) { IsBackground = true, Name = $"o2o libtorch worker {i}" };
            workers[i].Start();
        }
    }

    /// <summary>Items (threads) per <see cref="Run"/>.</summary>
    public int Count => workers.Length;

    /// <summary>Run <paramref name="action"/>(i) for every item i on thread i; rethrows the first error.</summary>
    public void Run(Action<int> action)
    {
        work = action;
        Array.Clear(errors);
        for (var i = 1; i < workers.Length; i++) go[i].Release();
        try { action(0); }
        catch (Exception e) { errors[0] = e; }
        for (var i = 1; i < workers.Length; i++) done[i].Wait();
        work = null;
        if (errors.FirstOrDefault(e => e is not null) is { } error) ExceptionDispatchInfo.Throw(error);
    }

    void Loop(int i)
    {
        torch.set_num_threads(intraOp);
        while (true)
        {
            go[i].Wait();
            if (stopping) return;
            try { work!(i); }
            catch (Exception e) { errors[i] = e; }
            finally { done[i].Release(); }
        }
    }

    public void Dispose()
    {
        stopping = true;
        for (var i = 1; i < workers.Length; i++) go[i].Release();
        for (var i = 1; i < workers.Length; i++) workers[i].Join();
        for (var i = 1; i < workers.Length; i++) { go[i].Dispose(); done[i].Dispose(); }
    }
}
