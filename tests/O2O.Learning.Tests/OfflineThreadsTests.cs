using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using O2O.Data;
using O2O.Learning.Bc;
using O2O.Learning.Dsr;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;

namespace O2O.Learning.Tests;

/// <summary>
/// The offline phases' thread counts: a fixed count and seed give byte-identical checkpoints, the count is recorded,
/// and one thread reproduces the checkpoints of the builds before the speed work (commit 2be3edd: the DSR's and BC's
/// minibatches were gathered batch by batch then; now once per epoch and sliced).
/// </summary>
[Collection("Torch training")]
public class OfflineThreadsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("o2o-threads-").FullName;

    public OfflineThreadsTests() => TorchRuntime.EnsureLoaded();

    public void Dispose()
    {
        TorchRuntime.Configure(0, 1);  // leave the process as the other tests expect it
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }

    /// <summary>SHA-256 of the tensors (weights, normaliser, calibrations) that commit 2be3edd trained on 1 thread.
    /// </summary>
    const string DsrBefore = "8b578399ac0c198a82f45facfb7a7e88dc04cd61f7fee66146eb8ad9c5b3df13";
    const string BcBefore = "745f80a50bb512b2bded64f5c34c8d0ad0c24df22a9775cfc5d9446ef26e14e9";

    /// <summary>Hopper-shaped pairs (11 obs, 3 actions) in 40 episodes of 500 rows; actions a noisy function of s.</summary>
    internal static OfflineDataset HopperLike(int rows = 20_000)
    {
        const int od = 11, ad = 3, length = 500;
        var rng = new Rng(17);
        var obs = new float[rows * od];
        var act = new float[rows * ad];
        for (var i = 0; i < obs.Length; i++) obs[i] = (float)(0.5 * rng.NextGaussian() + 0.1 * (i % od));
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < ad; j++)
                act[r * ad + j] = (float)Math.Clamp(Math.Tanh(obs[r * od + j] - 0.7 * obs[r * od + j + 3])
                    + 0.1 * rng.NextGaussian(), -1, 1);
        var timeouts = Enumerable.Range(0, rows).Select(i => i % length == length - 1).ToArray();
        var rewards = Enumerable.Range(0, rows).Select(i => (float)(1 + 0.001 * (i % 97))).ToArray();
        return new OfflineDataset(rows, od, ad, obs, act, rewards, null, new bool[rows], timeouts);
    }

    static string Sha(IEnumerable<float[]> parts, string extra = "")
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in parts) h.AppendData(MemoryMarshal.AsBytes(p.AsSpan()));
        h.AppendData(System.Text.Encoding.UTF8.GetBytes(extra));
        return Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>Every tensor of the DSR's networks and normaliser, and its calibrations.</summary>
    internal static string Hash(SupportModel m)
    {
        var tensors = m.JointNet.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Concat(m.StateNet.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
            .Select(kv => kv.Value.detach().contiguous().data<float>().ToArray())
            .Append(m.StateMean.data<float>().ToArray()).Append(m.StateStd.data<float>().ToArray());
        var cal = string.Join(";", m.AllCalibrations.OrderBy(kv => kv.Key.Mode).ThenBy(kv => kv.Key.Radius)
            .Select(kv => JsonSerializer.Serialize(kv.Value)));
        return Sha(tensors, cal);
    }

    /// <summary>Every tensor of the actor (mean network and log-std) and its normaliser.</summary>
    internal static string Hash(O2O.Learning.Checkpoints.ActorBundle b) =>
        Sha(b.Actor.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => kv.Value.detach().contiguous().data<float>().ToArray())
            .Append(b.ObsNorm.Mean.Select(v => (float)v).ToArray()));

    static SupportModel Dsr(OfflineDataset d, int threads) =>
        DsrTrainer.Train(new DsrOptions { Epochs = 2, BatchSize = 2048, DiagnosticsMaxPairs = 500,
            TorchThreads = threads }, d.Observations, d.Actions, d.ObsDim, d.ActDim, d.EpisodeStarts(), "Hopper-v4",
            rewards: d.Rewards);

    static O2O.Learning.Checkpoints.ActorBundle Bc(OfflineDataset d, int threads) =>
        BehaviourCloning.Train(new BcOptions { EnvId = "Hopper-v4", Epochs = 2, EvalEpisodes = 0,
            TorchThreads = threads }, d).Actor;

    byte[] Saved(Action<string> save, string name)
    {
        var path = Path.Combine(dir, name);
        save(path);
        return File.ReadAllBytes(path);
    }

    [Fact]
    public void Dsr_on_two_threads_gives_the_same_checkpoint_twice_and_records_the_count()
    {
        var d = HopperLike();
        using var a = Dsr(d, 2);
        using var b = Dsr(d, 2);
        Assert.Equal(2, a.Options.TorchThreads);
        Assert.Equal(2, a.Diagnostics!.TorchThreads);
        Assert.Equal(Saved(a.Save, "a_dsr.pt"), Saved(b.Save, "b_dsr.pt"));
        Assert.Equal(2, SupportModel.Load(Path.Combine(dir, "a_dsr.pt"), "Hopper-v4").Options.TorchThreads);
        // On this CPU the DSR's operations give the same sums on 1 and 2 threads.
        if (PpoBaselineTests.OtherCpuReason() is null) Assert.Equal(DsrBefore, Hash(a));
    }

    [Fact]
    public void Bc_on_two_threads_gives_the_same_checkpoint_twice_and_records_the_count()
    {
        var d = HopperLike();
        using var a = Bc(d, 2);
        using var b = Bc(d, 2);
        Assert.Equal(2, (int)a.Extra["torch_threads"]!);
        Assert.Equal(Saved(a.Save, "a_actor.pt"), Saved(b.Save, "b_actor.pt"));
    }

    [SkippableFact]
    public void One_thread_reproduces_the_dsr_and_bc_of_the_build_before()
    {
        Skip.If(PpoBaselineTests.OtherCpuReason() is not null, PpoBaselineTests.OtherCpuReason());
        var d = HopperLike();
        using (var m = Dsr(d, 1)) Assert.Equal(DsrBefore, Hash(m));
        using (var b = Bc(d, 1)) Assert.Equal(BcBefore, Hash(b));
    }
}
