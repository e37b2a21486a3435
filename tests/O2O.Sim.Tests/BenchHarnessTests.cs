namespace O2O.Sim.Tests;

public class BenchHarnessTests
{
    [GccFact]
    public void C_benchmark_harness_compiles_and_steps_the_embedded_hopper()
    {
        var root = TestSupport.RepoRoot;
        var dir = Directory.CreateTempSubdirectory("o2o-bench-test-");
        try
        {
            var xml = Path.Combine(dir.FullName, "hopper.xml");
            File.WriteAllText(xml, O2O.Sim.Interop.MjSimulation.EmbeddedXml("hopper.xml"));
            var exe = Path.Combine(dir.FullName, "mujoco_bench");
            var (code, _, err) = TestSupport.Run("gcc", "-O2", "-Wall", "-Werror", "-I/usr/include",
                Path.Combine(root, "bench", "c", "mujoco_bench.c"), "-o", exe, "-l:libmujoco.so.2.2.2", "-lm");
            Assert.True(code == 0, $"gcc failed: {err}");
            var (runCode, stdout, runErr) = TestSupport.Run(exe, xml, "500");
            Assert.True(runCode == 0, $"harness failed: {runErr}");
            Assert.StartsWith("c_env_steps_per_s=", stdout);
            Assert.Contains(" steps=500 ", stdout);
            var episodes = int.Parse(
                stdout.Trim().Split("episodes=")[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(episodes, 5, 100);  // random hoppers fall after about 20 steps, as in the C# env
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
