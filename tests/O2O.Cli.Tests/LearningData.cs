using O2O.Data;
using O2O.Experiments;
using O2O.Learning.Bc;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using static TorchSharp.torch;

namespace O2O.Cli.Tests;

/// <summary>
/// Files shared by the learning-command tests, made once per test class: a 10k-transition random-policy
/// Hopper dataset (.npz and .hdf5), a small Walker2d dataset, a quick BC actor for Hopper and an
/// untrained Walker2d actor. Everything lives in one temp folder removed at the end.
/// </summary>
public sealed class LearningData : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("o2o-cli-learn-").FullName;
    public string HopperNpz { get; }
    public string HopperHdf5 { get; }
    public string WalkerNpz { get; }
    public string HopperActor { get; }
    public string WalkerActor { get; }

    public LearningData()
    {
        TorchRuntime.EnsureLoaded();
        var hopper = DatasetCollector.Collect(new CollectOptions("Hopper-v4", new BehaviourPolicy.Random(), 10_000,
            Seed: 1, "random"));
        HopperNpz = Path.Combine(Dir, "hopper_random.npz");
        HopperHdf5 = Path.Combine(Dir, "hopper_random.hdf5");
        DatasetIO.SaveNpz(HopperNpz, hopper);
        DatasetIO.SaveHdf5(HopperHdf5, hopper);
        WalkerNpz = Path.Combine(Dir, "walker_random.npz");
        DatasetIO.SaveNpz(WalkerNpz, DatasetCollector.Collect(new CollectOptions("Walker2d-v4",
            new BehaviourPolicy.Random(), 1_000, Seed: 1, "random")));

        HopperActor = Path.Combine(Dir, "hopper_bc_actor.pt");
        using (var bc = BehaviourCloning.Train(new BcOptions { EnvId = "Hopper-v4", Epochs = 1, BatchSize = 1024,
            Hidden = [64, 64], EvalEpisodes = 0 }, hopper).Actor)
            bc.Save(HopperActor);
        WalkerActor = Path.Combine(Dir, "walker_actor.pt");
        using (var w = new ActorBundle("Walker2d-v4", new GaussianActor(17, 6, [16]), new RunningNorm(17), "test"))
            w.Save(WalkerActor);
    }

    /// <summary>A fresh, empty sub-folder for one test.</summary>
    public string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(Dir,
        name + "-" + Guid.NewGuid().ToString("N")[..8])).FullName;

    /// <summary>
    /// A deterministic Hopper "teacher": a small tanh MLP with fixed seed whose output layer is scaled up
    /// so that its actions matter (the default output gain keeps them near 0). Identity observation normaliser.
    /// </summary>
    public static void SaveTeacher(string path, double outputScale)
    {
        TorchSharp.torch.random.manual_seed(7);
        var actor = new GaussianActor(11, 3, [32]);
        using (no_grad()) actor.Mean.Layers[^1].weight!.mul_(outputScale);
        using var bundle = new ActorBundle("Hopper-v4", actor, new RunningNorm(11), "test-teacher");
        bundle.Save(path);
    }

    public void Dispose() { try { Directory.Delete(Dir, true); } catch (IOException) { } }
}
