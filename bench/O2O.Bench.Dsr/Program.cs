using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using O2O.Learning.Dsr;
using O2O.Learning.Runtime;

// Usage: dotnet run -c Release --project bench/O2O.Bench.Dsr [-- ROWS [EPOCHS [THREADS [REPEATS]]]]
// Trains the default DSR (flow: 8 couplings, hidden 128, batch 2048; then the energy model) on ROWS Hopper-shaped
// synthetic pairs (11 state dims, 3 action dims, actions a smooth function of the state) and times
//  - training: pairs per second of the epoch loop (joint + state model together), from the per-epoch timings;
//  - queries: Support() of a batch of 4096 pairs per mode (conditional runs both networks), median of REPEATS.
var inv = CultureInfo.InvariantCulture;
var rows = args.Length > 0 ? int.Parse(args[0], inv) : 40_000;
var epochs = args.Length > 1 ? int.Parse(args[1], inv) : 2;
var threads = args.Length > 2 ? int.Parse(args[2], inv) : 0;
var repeats = args.Length > 3 ? int.Parse(args[3], inv) : 21;
const int ObsDim = 11, ActDim = 3, Batch = 4096;

TorchRuntime.Configure(0, threads);
Console.WriteLine($"rows {rows}, epochs {epochs}, libtorch threads {TorchSharp.torch.get_num_threads()}, {Environment.ProcessorCount} cores, .NET {Environment.Version}, load average {LoadAverage()}");
var rng = new Random(0);
var s = new float[rows * ObsDim];
var a = new float[rows * ActDim];
for (var i = 0; i < rows; i++)
{
    for (var j = 0; j < ObsDim; j++) s[i * ObsDim + j] = (float)Gauss(rng) * (1 + j % 3);
    for (var j = 0; j < ActDim; j++) a[i * ActDim + j] = (float)Math.Clamp(Math.Tanh(s[i * ObsDim + j] - 0.5 * s[i * ObsDim + j + 3]) + 0.2 * Gauss(rng), -1, 1);
}
var starts = Enumerable.Range(0, rows / 1000).Select(e => e * 1000).ToArray();
var qs = s.AsSpan(0, Batch * ObsDim).ToArray();
var qa = a.AsSpan(0, Batch * ActDim).ToArray();
var sigma = new float[Batch];

foreach (var kind in new[] { DsrKind.Flow, DsrKind.Energy })
{
    var options = new DsrOptions { Kind = kind, Epochs = epochs, DiagnosticsMaxPairs = 1000 };
    var log = new List<string>();
    var sw = Stopwatch.StartNew();
    using var model = DsrTrainer.Train(options, s, a, ObsDim, ActDim, starts, "Hopper-v4", log.Add);
    var total = sw.Elapsed.TotalSeconds;
    var epochSeconds = log.Select(l => Regex.Match(l, @"^dsr epoch \d+/\d+:.* ([0-9.]+)s$")).Where(m => m.Success)
        .Select(m => double.Parse(m.Groups[1].Value, inv)).ToArray();
    var trainPairs = model.Diagnostics!.TrainPairs;
    Console.WriteLine($"{kind.Word()} (hidden {options.Hidden}{(kind == DsrKind.Flow ? $", {options.CouplingLayers} couplings" : $", {options.EnergyNegatives} negatives")}, batch {options.BatchSize}): " +
        $"train {trainPairs * epochSeconds.Length / epochSeconds.Sum():F0} pairs/s (epochs {string.Join(" ", epochSeconds.Select(x => x.ToString("F1", inv)))} s), Train() total {total:F1} s incl. calibration + diagnostics");
    foreach (var mode in Enum.GetValues<SupportMode>())
    {
        model.Support(qs, qa, Batch, mode, sigma); // warm-up
        var times = new double[repeats];
        for (var r = 0; r < repeats; r++)
        {
            sw.Restart();
            model.Support(qs, qa, Batch, mode, sigma);
            times[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        var med = times[repeats / 2];
        Console.WriteLine($"  support {mode.Word(),-11} batch {Batch}: median {med:F1} ms, min {times[0]:F1} ms -> {Batch / med * 1000:F0} queries/s");
    }
}

static double Gauss(Random r) => Math.Sqrt(-2.0 * Math.Log(1.0 - r.NextDouble())) * Math.Cos(2.0 * Math.PI * r.NextDouble());

static string LoadAverage()
{
    try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
    catch (IOException) { return "?"; }
}
