namespace O2O.Core;

/// <summary>
/// What a signal handler needs to know to stop a command cleanly (SIGTERM from a scheduler, SIGINT from Ctrl-C):
/// whether the running code watches its cancellation token at safe points (the run harness between epochs, a
/// download between chunks) — then cancelling it stops there, after its checkpoint — or not, and then the process
/// may exit at once (every file is written atomically, so nothing partial is left under a final name); and which
/// checkpoint the work so far is kept in. Process-wide: one command runs per process.
/// </summary>
public static class Interruption
{
    static int stopPoints;
    static volatile string? checkpoint;

    /// <summary>
    /// Declare, for the scope's lifetime, that the running code stops soon at a safe point once
    /// <paramref name="ct"/> is cancelled. A token that cannot be cancelled declares nothing: its caller does not
    /// handle cancellation.
    /// </summary>
    public static IDisposable StopPoint(CancellationToken ct)
    {
        if (!ct.CanBeCanceled) return Scope.None;
        Interlocked.Increment(ref stopPoints);
        return new Scope();
    }

    /// <summary>True while some code declared by <see cref="StopPoint"/> runs.</summary>
    public static bool AtStopPoint => Volatile.Read(ref stopPoints) > 0;

    /// <summary>Describes the latest complete checkpoint written or loaded by this process, e.g. "'x.ckpt' (epoch 3
    /// of 10)"; null when none.</summary>
    public static string? Checkpoint => checkpoint;

    /// <summary>Record the latest complete checkpoint (see <see cref="Checkpoint"/>).</summary>
    public static void Checkpointed(string description) => checkpoint = description;

    /// <summary>Forget the checkpoint of a previous command (commands run one after another in tests).</summary>
    public static void Reset() => checkpoint = null;

    sealed class Scope : IDisposable
    {
        public static readonly IDisposable None = new NoScope();
        int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0) Interlocked.Decrement(ref stopPoints);
        }

        sealed class NoScope : IDisposable
        {
            public void Dispose() { }
        }
    }
}
