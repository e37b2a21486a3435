using System.Globalization;
using O2O.Sim;

namespace O2O.Cli.Commands;

/// <summary>`o2o envs`: list the environments, or roll one out with a uniform random policy.</summary>
public static class EnvsCommand
{
    public static readonly CommandSpec Spec = new(
        "envs",
        "list the MuJoCo environments; --rollout ID runs a uniform random policy and reports returns and env steps/s",
        [
            new OptionSpec("rollout", "env id to roll out with random actions, e.g. Hopper-v4"),
            new OptionSpec("steps", "env steps for --rollout", "10000"),
            new OptionSpec("seed", "seed of the reset noise and the random actions", "0"),
        ],
        Execute);

    static int Execute(CommandContext ctx)
    {
        var a = ctx.Args;
        var inv = CultureInfo.InvariantCulture;
        var w = ctx.Out;
        if (!a.Has("rollout"))
        {
            if (a.Has("steps") || a.Has("seed")) throw new UsageError("--steps and --seed need --rollout ID");
            w.WriteLine($"MuJoCo {MuJoCo.Version}");
            w.WriteLine($"{"id",-16} {"obs",4} {"act",4} {"dt (s)",7} {"frame skip",10} {"max steps",9}");
            foreach (var s in EnvRegistry.Specs)
                w.WriteLine(string.Format(inv, "{0,-16} {1,4} {2,4} {3,7:0.###} {4,10} {5,9}",
                    s.Id, s.ObsDim, s.ActDim, s.Dt, s.FrameSkip, s.MaxEpisodeSteps));
            return 0;
        }

        var id = a.RequiredString("rollout");
        EnvRegistry.Get(id);  // unknown id → the registry's one-line error before anything runs
        var steps = a.Long("steps", min: 1);
        var seed = a.Int("seed");
        var result = RandomRollout.Run(id, steps, seed);
        const int shown = 10;
        var eps = result.Episodes;
        for (var i = 0; i < Math.Min(shown, eps.Count); i++)
            w.WriteLine(string.Format(inv, "episode {0,4}: return {1,10:0.00}  length {2,4}{3}",
                i + 1, eps[i].Return, eps[i].Length, eps[i].Truncated ? "  (time limit)" : ""));
        if (eps.Count > shown) w.WriteLine($"… {eps.Count - shown} more episodes");
        if (eps.Count == 0)
            w.WriteLine($"{id}: no episode finished within {steps} steps "
                + $"(episodes last up to {EnvRegistry.Get(id).MaxEpisodeSteps})");
        else
            w.WriteLine(string.Format(inv, "{0}: {1} episodes, mean return {2:0.00}, mean length {3:0.0}",
                id, eps.Count, eps.Average(e => e.Return), eps.Average(e => e.Length)));
        w.WriteLine(string.Format(inv, "{0} env steps in {1:0.00} s: {2:0} env steps/s (one thread, MuJoCo {3})",
            result.Steps, result.Seconds, result.StepsPerSecond, MuJoCo.Version));
        return 0;
    }
}
