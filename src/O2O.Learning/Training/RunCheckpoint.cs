using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Learning.Checkpoints;

namespace O2O.Learning.Training;

/// <summary>Where a run stands: what the harness needs besides the learner's state to continue exactly.</summary>
/// <param name="Epoch">Epochs done.</param>
/// <param name="EnvSteps">Environment steps done.</param>
/// <param name="WallSeconds">Wall time spent so far, over every session of the run.</param>
/// <param name="BestEval">Best mean evaluation return so far (−∞ before the first).</param>
/// <param name="LastEval">The latest mean evaluation return (NaN before the first).</param>
/// <param name="NonfiniteRestores">Epochs rolled back after a non-finite update.</param>
public sealed record RunProgress(
    int Epoch, long EnvSteps, double WallSeconds, double BestEval, double LastEval, int NonfiniteRestores)
{
    public static RunProgress Start { get; } = new(0, 0, 0, double.NegativeInfinity, double.NaN, 0);
}

/// <summary>
/// A run's checkpoint: a folder holding model.pt (a PyTorch state dict with the learner's tensors and the
/// harness's metadata), replaced as a whole — written to NAME.new, the previous one kept as NAME.old until
/// NAME.new has been moved in — so that a crash at any moment leaves one complete checkpoint.
/// </summary>
public sealed class RunCheckpoint(string path, string learnerName, string envId)
{
    const string ModelFile = "model.pt";

    string Format => $"o2o.{learnerName}-checkpoint";

    /// <summary>Write the learner's state and the progress, replacing the previous checkpoint atomically.</summary>
    public void Save(ILearner learner, RunProgress progress, JsonNode options)
    {
        var tmp = path + ".new";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        using (var state = new TrainingState())
        {
            learner.WriteState(state);
            try
            {
                StateDictFile.Save(Path.Combine(tmp, ModelFile), state.Tensors, Meta(progress, options));
            }
            catch (DiskFullError e)
            {
                // Say how much a checkpoint takes: the previous one's size. The previous checkpoint stays whole.
                var previous = Existing() is { } dir ? new FileInfo(Path.Combine(dir, ModelFile)).Length : 0;
                throw DiskFull.Error(Path.Combine(tmp, ModelFile), 0, e, "writing the checkpoint", previous);
            }
        }
        var old = path + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(path)) Directory.Move(path, old);
        Directory.Move(tmp, path);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    JsonObject Meta(RunProgress p, JsonNode options) => new()
    {
        ["format"] = Format,
        ["env_id"] = envId,
        ["epoch"] = p.Epoch,
        ["env_steps"] = p.EnvSteps,
        ["wall_s"] = p.WallSeconds,
        ["best_eval"] = double.IsFinite(p.BestEval) ? p.BestEval : null,
        ["last_eval"] = double.IsFinite(p.LastEval) ? p.LastEval : null,
        ["nonfinite_restores"] = p.NonfiniteRestores,
        ["options"] = options.DeepClone(),
    };

    /// <summary>The complete checkpoint folder, if any (NAME, or NAME.old when a swap was interrupted).</summary>
    string? Existing()
    {
        foreach (var dir in new[] { path, path + ".old" })
            if (File.Exists(Path.Combine(dir, ModelFile))) return dir;
        return null;
    }

    /// <summary>
    /// Restore the learner and return the progress; null when there is no checkpoint. The saved options must
    /// agree with <paramref name="options"/> on <paramref name="mustMatch"/> (the properties that shape the data).
    /// </summary>
    public RunProgress? Load(ILearner learner, JsonNode options, IReadOnlyList<string> mustMatch)
    {
        var dir = Existing();
        if (dir is null) return null;
        var (tensors, meta) = StateDictFile.Load(Path.Combine(dir, ModelFile), "checkpoint");
        using var state = new TrainingState(tensors);
        if (meta is null || (string?)meta["format"] != Format)
            throw new UserError($"'{dir}' is not an o2o {learnerName} checkpoint; start a new run instead of resuming");
        if ((string?)meta["env_id"] != envId)
            throw new UserError($"checkpoint '{dir}' is for {(string?)meta["env_id"]}, not {envId}; "
                + "resume with the environment it was made for");
        var saved = meta["options"];
        foreach (var key in mustMatch)
            if (saved?[key]?.ToJsonString() != options[key]?.ToJsonString())
                throw new OptionError($"cannot resume: the checkpoint was made with another {key} ({saved?[key]}); "
                    + "resume with the same settings", key);
        learner.ReadState(state, modelOnly: false);
        double D(string k) => meta[k] is null ? double.NaN : (double)meta[k]!;
        var best = meta["best_eval"] is null ? double.NegativeInfinity : (double)meta["best_eval"]!;
        return new RunProgress((int)meta["epoch"]!, (long)meta["env_steps"]!, D("wall_s"), best, D("last_eval"),
            (int)meta["nonfinite_restores"]!);
    }

    /// <summary>Restore only the learner's networks and optimiser (after a non-finite update).</summary>
    public void LoadModelOnly(ILearner learner)
    {
        var dir = Existing() ?? throw new UserError(
            "training diverged before the first checkpoint; lower the learning rate");
        var (tensors, _) = StateDictFile.Load(Path.Combine(dir, ModelFile), "checkpoint");
        using var state = new TrainingState(tensors);
        learner.ReadState(state, modelOnly: true);
    }
}
