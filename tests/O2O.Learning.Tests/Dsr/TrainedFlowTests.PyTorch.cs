using System.Globalization;
using O2O.Learning.Dsr;

namespace O2O.Learning.Tests.Dsr;

// The DSR checkpoint is a plain PyTorch state dict with everything needed to score: PyTorch (Debian's
// python3-torch) loads it, rebuilds both flows from the weights and masks alone, applies the saved input
// statistics and calibration, and gets our support values in the conditional and the gated mode (the latter
// also needs the state calibration's tau). (Part of TrainedFlowTests to share its trained model.)
public partial class TrainedFlowTests
{
    [SkippableFact]
    public void PyTorch_loads_the_dsr_and_reproduces_its_conditional_and_gated_support()
    {
        Skip.IfNot(PythonTorch.Available, PythonTorch.SkipReason);
        var dir = DsrTestData.TempDir();
        try
        {
            var path = Path.Combine(dir, "py_dsr.pt");
            fx.Model.Save(path);
            const int n = 9;
            // Three held-in pairs, three with their actions flipped (low support) and three with their states pushed
            // 3 std away (outside the state support: the gated score's other branch), to cover the whole sigma range.
            var s = fx.States.AsSpan(0, n * D).ToArray();
            var a = fx.Actions.AsSpan(0, n * A).ToArray();
            for (var i = 3 * A; i < 6 * A; i++) a[i] = -a[i];
            for (var i = 6 * D; i < n * D; i++) s[i] += 3f * DsrTestData.StateScale[i % D];
            var modes = new[] { SupportMode.Conditional, SupportMode.Gated };
            var ours = modes.Select(_ => new float[n]).ToArray();
            var raw = modes.Select(_ => new float[n]).ToArray();
            for (var k = 0; k < modes.Length; k++)
            {
                fx.Model.Support(s, a, n, modes[k], ours[k]);
                fx.Model.RawScore(s, a, n, modes[k], raw[k]);
            }

            var script = Path.Combine(dir, "check.py");
            File.WriteAllText(script, """
import json, math, sys, torch
sd = torch.load(sys.argv[1])
meta = json.loads(bytes(sd['dsr.meta_json'].numpy()).decode())
bound = meta['Options']['LogScaleBound']
def logp(prefix, x):
    n_layers = len({k.split('.')[2] for k in sd if k.startswith(prefix + '.layers.')})
    logdet = torch.zeros(x.shape[0])
    for i in range(n_layers):
        p = f'{prefix}.layers.{i}.'
        m = sd[p + 'mask']
        xm = x * m
        h = torch.nn.functional.silu(xm @ sd[p + 'net.fc1.weight'].T + sd[p + 'net.fc1.bias'])
        h = torch.nn.functional.silu(h @ sd[p + 'net.fc2.weight'].T + sd[p + 'net.fc2.bias'])
        h = h @ sd[p + 'net.out.weight'].T + sd[p + 'net.out.bias']
        sraw, t = h.chunk(2, -1)
        s = bound * torch.tanh(sraw / bound) * (1 - m)
        x = xm + (1 - m) * (x * torch.exp(s) + t * (1 - m))
        logdet = logdet + s.sum(-1)
    return -0.5 * (x * x).sum(-1) - x.shape[1] * 0.5 * math.log(2 * math.pi) + logdet
obs_dim, act_dim = meta['ObsDim'], meta['ActDim']
s = torch.tensor([float(v) for v in sys.argv[2].split(',')]).view(-1, obs_dim)
a = torch.tensor([float(v) for v in sys.argv[3].split(',')]).view(-1, act_dim)
z = ((s - sd['dsr.state_mean']) / sd['dsr.state_std']).clamp(-1e4, 1e4)
cal = {c['Mode']: c['Calibration'] for c in meta['Calibrations'] if c['Score'] == 'logp'}
lj, ls = logp('joint', torch.cat([z, a], 1)), logp('state', z)
for mode, g in (('Conditional', lj - ls), ('Gated', lj - ls.clamp(min=cal['State']['Tau']))):
    u = ((g - cal[mode]['Tau']) / cal[mode]['Temperature']).clamp(-30, 30)
    print(','.join(repr(float(v)) for v in g))
    print(','.join(repr(float(v)) for v in torch.sigmoid(u)))
""");
            var (code, stdout, stderr) = PythonTorch.Run(script, path,
                string.Join(',', s.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
                string.Join(',', a.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
            Assert.True(code == 0, stderr);
            var lines = stdout.Trim().Split('\n');
            Assert.Equal(2 * modes.Length, lines.Length);
            for (var k = 0; k < modes.Length; k++)
            {
                double[] Numbers(string line) =>
                    line.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                var g = Numbers(lines[2 * k]);
                var sigma = Numbers(lines[2 * k + 1]);
                string Row<T>(IEnumerable<T> values) where T : IFormattable =>
                    string.Join(" ", values.Select(v => v.ToString("F4", null)));
                output.WriteLine($"{modes[k]}: ours  g {Row(raw[k])} | sigma {Row(ours[k])}");
                output.WriteLine($"{modes[k]}: torch g {Row(g)} | sigma {Row(sigma)}");
                for (var i = 0; i < n; i++)
                {
                    Assert.Equal(raw[k][i], g[i], 3);
                    Assert.Equal(ours[k][i], sigma[i], 4);
                }
                Assert.True(ours[k].Take(3).Min() > ours[k].Skip(3).Take(3).Max(),
                    $"{modes[k]}: flipped actions have lower support");
            }
            Assert.True(ours[1].Take(3).Min() > ours[1].Skip(6).Max(), "gated: far states have lower support");
        }
        finally { Directory.Delete(dir, true); }
    }
}
