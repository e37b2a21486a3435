using System.Globalization;
using O2O.Core;
using O2O.Learning.Checkpoints;
using O2O.Learning.Nn;
using O2O.Learning.Runtime;
using static TorchSharp.torch;

namespace O2O.Learning.Tests;

public sealed class CheckpointTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "o2o-ckpt-" + Guid.NewGuid().ToString("N"));

    public CheckpointTests()
    {
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(dir);
    }

    public void Dispose() => Directory.Delete(dir, true);

    static ActorBundle MakeBundle()
    {
        manual_seed(11);
        var actor = new GaussianActor(11, 3, [32, 16]);
        using (no_grad()) actor.LogStd.fill_(-0.7);
        var norm = new RunningNorm(11);
        norm.Set(Enumerable.Range(0, 11).Select(i => i * 0.1).ToArray(),
            Enumerable.Range(0, 11).Select(i => 1.0 + i).ToArray(), 1234);
        return new ActorBundle("Hopper-v4", actor, norm, "bc");
    }

    static float[] Act(ActorBundle b, float[] obs)
    {
        var runner = new PolicyRunner(b);
        var a = new float[3];
        runner.Act(obs, 1, a, null);
        return a;
    }

    [Fact]
    public void Save_then_load_gives_identical_actions_and_statistics()
    {
        using var b = MakeBundle();
        var path = Path.Combine(dir, "x_actor.pt");
        b.Save(path);
        using var c = ActorBundle.Load(path, "Hopper-v4", 11, 3);
        var obs = Enumerable.Range(0, 11).Select(i => (float)Math.Sin(i)).ToArray();
        Assert.Equal(Act(b, obs), Act(c, obs));
        Assert.Equal(b.ObsNorm.Mean, c.ObsNorm.Mean);
        Assert.Equal(b.ObsNorm.Var, c.ObsNorm.Var);
        Assert.Equal(1234, c.ObsNorm.Count);
        Assert.Equal("bc", c.Source);
        Assert.Equal(-0.7f, c.Actor.LogStd.data<float>()[0], 6);
        Assert.Empty(Directory.GetFiles(dir, ".tmp-*"));
    }

    [Fact]
    public void Loading_for_another_env_or_dims_is_a_clear_error()
    {
        using var b = MakeBundle();
        var path = Path.Combine(dir, "x_actor.pt");
        b.Save(path);
        var e1 = Assert.ThrowsAny<UserError>(() => ActorBundle.Load(path, "Walker2d-v4"));
        Assert.Contains("trained for Hopper-v4, not Walker2d-v4", e1.Message);
        var e2 = Assert.ThrowsAny<UserError>(() => ActorBundle.Load(path, null, obsDim: 17));
        Assert.Contains("expects 11-dim observations", e2.Message);
        var e3 = Assert.ThrowsAny<UserError>(() => ActorBundle.Load(Path.Combine(dir, "missing.pt")));
        Assert.Contains("does not exist", e3.Message);
        var junk = Path.Combine(dir, "junk.pt");
        File.WriteAllText(junk, "not a pickle");
        var e4 = Assert.ThrowsAny<UserError>(() => ActorBundle.Load(junk));
        Assert.Contains("not a readable PyTorch state dict", e4.Message);
        Assert.DoesNotContain('\n', e4.Message);
    }

    [Fact]
    public void A_state_dict_without_our_metadata_is_not_an_actor()
    {
        var path = Path.Combine(dir, "plain.pt");
        using var w = tensor(new float[] { 1, 2 });
        StateDictFile.Save(path, new Dictionary<string, Tensor> { ["w"] = w },
            new System.Text.Json.Nodes.JsonObject { ["format"] = "something-else" });
        var e = Assert.ThrowsAny<UserError>(() => ActorBundle.Load(path));
        Assert.Contains("not an O2O actor checkpoint", e.Message);
    }

    [SkippableFact]
    public void PyTorch_loads_the_file_and_reproduces_the_forward_pass()
    {
        Skip.IfNot(PythonTorch.Available, PythonTorch.SkipReason);
        using var b = MakeBundle();
        var path = Path.Combine(dir, "py_actor.pt");
        b.Save(path);
        var obs = Enumerable.Range(0, 11).Select(i => (float)Math.Cos(i * 0.7)).ToArray();
        var ours = Act(b, obs);
        var script = Path.Combine(dir, "check.py");
        File.WriteAllText(script, """
import json, sys, torch
sd = torch.load(sys.argv[1])
meta = json.loads(bytes(sd['_o2o_meta'].numpy()).decode())
assert meta['format'] == 'o2o.actor' and meta['env_id'] == 'Hopper-v4', meta
obs = torch.tensor([float(v) for v in sys.argv[2].split(',')], dtype=torch.float64)
x = ((obs - sd['obs_rms.mean']) / torch.sqrt(sd['obs_rms.var'] + 1e-8)).clamp(-10, 10).float()
layers = sorted({k.split('.')[1] for k in sd if k.startswith('mu.')}, key=lambda n: (n == 'out', n))
for name in layers:
    x = x @ sd[f'mu.{name}.weight'].T + sd[f'mu.{name}.bias']
    if name != 'out':
        x = torch.tanh(x)
print(','.join(repr(float(v)) for v in x))
""");
        var (code, stdout, stderr) = PythonTorch.Run(
            script, path, string.Join(',', obs.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        Assert.True(code == 0, stderr);
        var theirs = stdout.Trim().Split(',').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        for (var i = 0; i < 3; i++) Assert.Equal(ours[i], theirs[i], 4);
    }
}
