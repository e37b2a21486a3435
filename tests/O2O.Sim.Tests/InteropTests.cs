using O2O.Core;
using O2O.Sim.Interop;

namespace O2O.Sim.Tests;

public class InteropTests
{
    [Fact]
    public void Version_is_the_one_the_offsets_were_generated_for()
    {
        Assert.Equal("2.2.2", MuJoCo.Version);
        Assert.Equal(222, MuJoCo.EnsureLoaded());
        Assert.Equal(MuJoCoOffsets.HeaderVersion, MuJoCo.RequiredVersion);
    }

    [GccFact]
    public void Committed_offsets_match_what_the_generator_prints_from_the_installed_headers()
    {
        var root = TestSupport.RepoRoot;
        var exe = Path.Combine(Path.GetTempPath(), $"o2o-gen-offsets-{Guid.NewGuid():N}");
        try
        {
            var (code, _, err) = TestSupport.Run("gcc", "-Wall", "-Werror", "-I/usr/include",
                Path.Combine(root, "scripts", "gen-mujoco-offsets.c"), "-o", exe);
            Assert.True(code == 0, $"gcc failed: {err}");
            var (runCode, printed, runErr) = TestSupport.Run(exe);
            Assert.True(runCode == 0, $"generator failed: {runErr}");
            var committed = File.ReadAllText(Path.Combine(root, "src", "O2O.Sim", "Interop", "MuJoCoOffsets.g.cs"));
            Assert.Equal(committed, printed);
        }
        finally
        {
            File.Delete(exe);
        }
    }

    [Fact]
    public void Missing_library_maps_to_a_one_line_error_naming_the_package()
    {
        var e = MuJoCo.TranslateLoadError(
            new DllNotFoundException("Unable to load shared library 'libmujoco.so.2.2.2'\nmore text"));
        var user = Assert.IsType<UserError>(e);
        Assert.Contains("apt-get install libmujoco2.2.2", user.Message);
        Assert.DoesNotContain('\n', user.Message);
        Assert.IsType<DllNotFoundException>(user.InnerException);
    }

    [Fact]
    public void Missing_entry_point_maps_to_a_reinstall_hint()
    {
        var e = Assert.IsType<UserError>(MuJoCo.TranslateLoadError(new EntryPointNotFoundException("Unable to find " +
            "an entry point named 'mj_step'\nx")));
        Assert.Contains("mj_step", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Other_versions_are_refused_with_both_versions_named()
    {
        MuJoCo.CheckVersion(222);
        var e = Assert.ThrowsAny<UserError>(() => MuJoCo.CheckVersion(231));
        Assert.Contains("2.3.1", e.Message);
        Assert.Contains("2.2.2", e.Message);
    }

    [Fact]
    public void Bad_MJCF_reports_MuJoCos_parser_message()
    {
        var e = Assert.ThrowsAny<UserError>(
            () => MjSimulation.FromXml("<mujoco><worldbody><geom type='nonsense'/></worldbody></mujoco>", "bad.xml"));
        Assert.Contains("bad.xml", e.Message);
        Assert.Contains("nonsense", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("hopper.xml", 1, 0.002, 6, 6, 3)]
    [InlineData("walker2d.xml", 1, 0.002, 9, 9, 6)]
    [InlineData("half_cheetah.xml", 0, 0.01, 9, 9, 6)]
    public void Models_compile_with_the_published_integrator_timestep_and_sizes(
        string asset, int integrator, double timestep, int nq, int nv, int nu)
    {
        using var sim = MjSimulation.FromEmbeddedAsset(asset);
        Assert.Equal(integrator, sim.Integrator);  // mjINT_EULER = 0, mjINT_RK4 = 1
        Assert.Equal(timestep, sim.Timestep);
        Assert.Equal((nq, nv, nu), (sim.Nq, sim.Nv, sim.Nu));
    }

    [Fact]
    public void HalfCheetah_total_mass_is_set_to_14()
    {
        using var sim = MjSimulation.FromEmbeddedAsset("half_cheetah.xml");
        Assert.Equal(14.0, sim.BodyMass.Sum(), 9);
    }

    [Fact]
    public void Hopper_starts_standing_at_the_rootz_reference()
    {
        using var sim = MjSimulation.FromEmbeddedAsset("hopper.xml");
        Assert.Equal([0, 1.25, 0, 0, 0, 0], sim.QPos0.ToArray());
    }
}
