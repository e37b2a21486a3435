using System.Text.Json.Nodes;
using O2O.Core;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Sim;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace O2O.Learning.Ppo;

/// <summary>
/// Everything a killed PPO run needs to continue exactly: actor, critic, Adam state, normalisers,
/// the RNG, every environment's physics and RNG state, and the counters. A folder with
/// model.pt (PyTorch state dict + metadata, Adam's moments included), replaced as a whole: written to
/// NAME.new, then swapped in (the previous one kept as NAME.old until the swap is done).
/// </summary>
internal sealed class PpoCheckpoint(string path)
{
    const string Format = "o2o.ppo-checkpoint";

    public void Save(PpoOptions o, GaussianActor actor, Mlp critic, AdamOptimizer optimizer, RunningNorm obsNorm, RewardScaler scaler, Rng rng, VecEnv envs, IRolloutShaper? shaper,
        (int Epoch, long EnvSteps, double Wall, double Best, double LastEval, int Nonfinite) counters)
    {
        var tmp = path + ".new";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        var t = new Dictionary<string, Tensor>();
        foreach (var (k, v) in actor.state_dict()) t["actor." + k] = v;
        foreach (var (k, v) in critic.state_dict()) t["critic." + k] = v;
        t["obs_rms.mean"] = tensor(obsNorm.Mean);
        t["obs_rms.var"] = tensor(obsNorm.Var);
        t["obs_rms.count"] = tensor(new[] { obsNorm.Count });
        t["ret_rms.mean"] = tensor(scaler.Stats.Mean);
        t["ret_rms.var"] = tensor(scaler.Stats.Var);
        t["ret_rms.count"] = tensor(new[] { scaler.Stats.Count });
        t["ret_acc"] = tensor(scaler.Returns);
        t["rng"] = tensor(rng.GetState().Select(u => unchecked((long)u)).ToArray());
        var (reals, ints) = envs.GetState();
        t["envs.reals"] = tensor(reals);
        t["envs.ints"] = tensor(ints);
        t["shaper.state"] = tensor(shaper?.SaveState() ?? []);
        for (var i = 0; i < optimizer.FirstMoments.Count; i++)
        {
            t[$"adam.m.{i}"] = optimizer.FirstMoments[i];
            t[$"adam.v.{i}"] = optimizer.SecondMoments[i];
        }
        t["adam.steps"] = tensor(new[] { optimizer.Steps });
        var meta = new JsonObject
        {
            ["format"] = Format,
            ["env_id"] = o.EnvId,
            ["epoch"] = counters.Epoch,
            ["env_steps"] = counters.EnvSteps,
            ["wall_s"] = counters.Wall,
            ["best_eval"] = double.IsFinite(counters.Best) ? counters.Best : null,
            ["last_eval"] = double.IsFinite(counters.LastEval) ? counters.LastEval : null,
            ["nonfinite_restores"] = counters.Nonfinite,
            ["options"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(o)),
        };
        StateDictFile.Save(Path.Combine(tmp, "model.pt"), t, meta);
        foreach (var (k, v) in t) if (k.StartsWith("obs_rms", StringComparison.Ordinal) || k.StartsWith("ret_", StringComparison.Ordinal) || k is "rng" or "envs.reals" or "envs.ints" or "shaper.state" or "adam.steps") v.Dispose();
        var old = path + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(path)) Directory.Move(path, old);
        Directory.Move(tmp, path);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    string? Existing() => Directory.Exists(path) && File.Exists(Path.Combine(path, "model.pt")) ? path
        : Directory.Exists(path + ".old") && File.Exists(Path.Combine(path + ".old", "model.pt")) ? path + ".old" : null;

    /// <summary>Restore everything; null when there is no checkpoint.</summary>
    public (int, long, double, double, double, int)? Load(PpoOptions o, GaussianActor actor, Mlp critic, AdamOptimizer optimizer, RunningNorm obsNorm, RewardScaler scaler, Rng rng, VecEnv envs, IRolloutShaper? shaper)
    {
        var dir = Existing();
        if (dir is null) return null;
        var (t, meta) = StateDictFile.Load(Path.Combine(dir, "model.pt"), "checkpoint");
        try
        {
            if (meta is null || (string?)meta["format"] != Format) throw new UserError($"'{dir}' is not an o2o PPO checkpoint; start without --resume");
            if ((string?)meta["env_id"] != o.EnvId) throw new UserError($"checkpoint '{dir}' is for {(string?)meta["env_id"]}, not {o.EnvId}; resume with the same --env_id");
            var saved = meta["options"]!;
            foreach (var key in new[] { "StepsPerEpoch", "NumEnvs", "MinibatchSize", "Seed" })
                if (saved[key]?.ToJsonString() != JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(o))![key]?.ToJsonString())
                    throw new UserError($"--resume: the checkpoint was made with another {key} ({saved[key]}); resume with the same settings");
            CopyInto(actor.state_dict(), t, "actor.");
            CopyInto(critic.state_dict(), t, "critic.");
            obsNorm.Set(t["obs_rms.mean"].data<double>().ToArray(), t["obs_rms.var"].data<double>().ToArray(), t["obs_rms.count"].data<double>()[0]);
            scaler.Stats.Set(t["ret_rms.mean"].data<double>().ToArray(), t["ret_rms.var"].data<double>().ToArray(), t["ret_rms.count"].data<double>()[0]);
            t["ret_acc"].data<double>().CopyTo(scaler.Returns);
            rng.SetState(t["rng"].data<long>().ToArray().Select(l => unchecked((ulong)l)).ToArray());
            envs.SetState(t["envs.reals"].data<double>().ToArray(), t["envs.ints"].data<long>().ToArray());
            if (shaper is not null && t.TryGetValue("shaper.state", out var ss)) shaper.LoadState(ss.data<double>().ToArray());
            LoadOptimizer(optimizer, t);
            double D(string k) => meta[k] is null ? double.NaN : (double)meta[k]!;
            var best = meta["best_eval"] is null ? double.NegativeInfinity : (double)meta["best_eval"]!;
            return ((int)meta["epoch"]!, (long)meta["env_steps"]!, D("wall_s"), best, D("last_eval"), (int)meta["nonfinite_restores"]!);
        }
        finally { foreach (var v in t.Values) v.Dispose(); }
    }

    /// <summary>Restore only the networks and the optimiser (after a non-finite update).</summary>
    public void LoadModelOnly(GaussianActor actor, Mlp critic, AdamOptimizer optimizer)
    {
        var dir = Existing() ?? throw new UserError("training diverged before the first checkpoint; lower --lr");
        var (t, _) = StateDictFile.Load(Path.Combine(dir, "model.pt"), "checkpoint");
        try
        {
            CopyInto(actor.state_dict(), t, "actor.");
            CopyInto(critic.state_dict(), t, "critic.");
            LoadOptimizer(optimizer, t);
        }
        finally { foreach (var v in t.Values) v.Dispose(); }
    }

    static void LoadOptimizer(AdamOptimizer optimizer, IReadOnlyDictionary<string, Tensor> t)
    {
        var n = optimizer.FirstMoments.Count;
        if (!t.ContainsKey("adam.steps") || !t.ContainsKey($"adam.m.{n - 1}"))
            throw new UserError("checkpoint lacks the optimiser state; it is damaged or from another architecture");
        optimizer.Load(Enumerable.Range(0, n).Select(i => t[$"adam.m.{i}"]).ToArray(), Enumerable.Range(0, n).Select(i => t[$"adam.v.{i}"]).ToArray(),
            t["adam.steps"].data<long>()[0]);
    }

    static void CopyInto(IDictionary<string, Tensor> target, IReadOnlyDictionary<string, Tensor> src, string prefix)
    {
        using var _ = no_grad();
        foreach (var (k, v) in target)
        {
            if (!src.TryGetValue(prefix + k, out var s)) throw new UserError($"checkpoint lacks '{prefix + k}'; it is damaged or from another architecture");
            v.copy_(s);
        }
    }
}
