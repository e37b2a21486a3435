using O2O.Learning.Nn;

namespace O2O.Learning.Training;

/// <summary>
/// What a learner gives the <see cref="RunHarness"/>: one epoch of training at a time, a policy to evaluate,
/// its state for checkpoints, and its log columns. The harness owns everything else (evaluation schedule,
/// CSV, TensorBoard, checkpoints, resume, rollback, early stop, progress).
/// </summary>
public interface ILearner : IDisposable
{
    /// <summary>Short name of the algorithm ("ppo"): names the checkpoint format and the final actor's source.
    /// </summary>
    string Name { get; }

    /// <summary>Time columns the learner measures (time/…), logged between time/fps and time/eval_s.</summary>
    IReadOnlyList<string> TimeColumns { get; }

    /// <summary>The learner's metrics (train/…, losses/…, charts/…), logged after the eval columns.</summary>
    IReadOnlyList<string> MetricColumns { get; }

    /// <summary>Columns of plug-ins such as the DSR shaper (dsr/…), logged last.</summary>
    IReadOnlyList<string> ExtraColumns { get; }

    /// <summary>
    /// Collect experience and update for one epoch, writing the learner's columns into <paramref name="row"/>.
    /// Returns false when a loss or a parameter became non-finite: the harness then restores the last checkpoint's
    /// model (<see cref="ReadState"/> with modelOnly) and goes on with new data.
    /// </summary>
    bool TrainEpoch(int epoch, long envStepsDone, IDictionary<string, double> row);

    /// <summary>A fresh policy on the current weights, for evaluation (one per worker thread).</summary>
    IPolicy CreatePolicy();

    /// <summary>All an exact resume needs: networks, optimiser moments, normalisers, RNGs, environments.</summary>
    void WriteState(TrainingState state);

    /// <summary>Restore what <see cref="WriteState"/> wrote; with <paramref name="modelOnly"/>, only networks
    /// and optimiser.</summary>
    void ReadState(TrainingState state, bool modelOnly);

    /// <summary>Write the current policy as an actor checkpoint.</summary>
    void SaveActor(string path, string runName, long envSteps);

    /// <summary>The learner's part of the progress line (e.g. "kl 0.0041  ev 0.62").</summary>
    string Describe(IReadOnlyDictionary<string, double> row);
}
