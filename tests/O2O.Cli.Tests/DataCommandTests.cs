using O2O.Cli;
using O2O.Data;

namespace O2O.Cli.Tests;

/// <summary>`o2o data convert|download|info` in-process: exit codes, one-line errors, files written or not.</summary>
public class DataCommandTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("o2o-cli-data-").FullName;

    public void Dispose() { try { Directory.Delete(tmp, true); } catch (IOException) { } }

    static string Fixture(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tests", "fixtures", name);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException(name);
    }

    static (int code, string stderr) Run(params string[] args)
    {
        var err = new StringWriter();
        var code = Program.Run(args, TextWriter.Null, err);
        return (code, err.ToString());
    }

    static void OneLineError(string stderr, params string[] fragments)
    {
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("error:", stderr, StringComparison.Ordinal);
        foreach (var f in fragments) Assert.Contains(f, stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Convert_writes_the_npz_with_notebook_flags()
    {
        var outPath = Path.Combine(tmp, "hopper_medium.npz");
        var (code, err) = Run("data", "convert", "--h5", Fixture("d4rl_tiny_h5py.hdf5"), "--out", outPath,
            "--max_samples", "12", "--seed", "3");
        Assert.True(code == 0, err);
        var ds = DatasetIO.Load(outPath);
        Assert.Equal((12, 11, 3), (ds.Count, ds.ObsDim, ds.ActDim));
        // kebab-case aliases are accepted too
        Assert.Equal(0, Run("data", "convert", "--h5", Fixture("d4rl_tiny_h5py.hdf5"), "--out", outPath,
            "--max-samples", "12", "--allow-nonfinite").code);
    }

    [Fact]
    public void Convert_errors_are_one_line_with_exit_codes()
    {
        var (code, err) = Run("data", "convert", "--out", Path.Combine(tmp, "x.npz"));
        Assert.Equal(2, code);
        OneLineError(err, "--h5 is required");
        (code, err) = Run("data", "convert", "--h5", Path.Combine(tmp, "missing.hdf5"), "--out", Path.Combine(tmp,
            "x.npz"));
        Assert.Equal(1, code);
        OneLineError(err, "does not exist");
        (code, err) = Run("data", "convert", "--h5", Fixture("pickled_object.npz"), "--out", Path.Combine(tmp,
            "x.npz"));
        Assert.Equal(1, code);
        OneLineError(err, "pickled");
        (code, err) = Run("data", "convert", "--h5", Fixture("d4rl_tiny_h5py.hdf5"), "--out",
            "/proc/o2o-cli-test/x.npz");
        Assert.Equal(1, code);
        OneLineError(err, "writable");
        (code, err) = Run("data", "convert", "--h5", Fixture("d4rl_tiny_h5py.hdf5"), "--out", Path.Combine(tmp,
            "x.npz"), "--max_samples", "0");
        Assert.Equal(2, code);
        Assert.Empty(Directory.GetFiles(tmp));
    }

    [Fact]
    public void Convert_refuses_nan_unless_allowed()
    {
        var src = Path.Combine(tmp, "nan.hdf5");
        DatasetIO.SaveHdf5(src, new OfflineDataset(2, 1, 1, [float.NaN, 1], [0, 0]));
        var outPath = Path.Combine(tmp, "nan.npz");
        var (code, err) = Run("data", "convert", "--h5", src, "--out", outPath);
        Assert.Equal(1, code);
        OneLineError(err, "1 NaN/Inf value, first at row 0", "--allow_nonfinite");
        Assert.False(File.Exists(outPath));
        Assert.Equal(0, Run("data", "convert", "--h5", src, "--out", outPath, "--allow_nonfinite").code);
        Assert.True(File.Exists(outPath));
    }

    [Fact]
    public void Info_reads_hdf5_and_npz_and_reports_bad_files_in_one_line()
    {
        Assert.Equal(0, Run("data", "info", Fixture("d4rl_tiny_h5py.hdf5")).code);
        var info = CliHarness.Run("data", "info", Fixture("tiny_numpy_compressed.npz"));
        Assert.Equal(0, info.Code);
        // As `sha256sum tests/fixtures/tiny_numpy_compressed.npz` prints it.
        Assert.Contains("sha256 6534e3f19b740f9d4485241647cfde12e741e422a139736abe92e89a34432eae  ", info.Out);
        var (code, err) = Run("data", "info", Path.Combine(tmp, "none.npz"));
        Assert.Equal(1, code);
        OneLineError(err, "does not exist");
        File.WriteAllText(Path.Combine(tmp, "junk.hdf5"), "junk");
        (code, err) = Run("data", "info", Path.Combine(tmp, "junk.hdf5"));
        Assert.Equal(1, code);
        OneLineError(err, "neither an HDF5 nor an NPZ");
        (code, err) = Run("data", "info");
        Assert.Equal(2, code);
        OneLineError(err, "o2o data info PATH");
        (code, err) = Run("data", "download", "--task", "hopper-medium-v2", "--dir", tmp, "--sha256", "xyz");
        Assert.Equal(1, code);
        OneLineError(err, "--sha256 'xyz' is not a SHA-256");
    }

    [Fact]
    public void Download_failures_are_one_line_errors()
    {
        var (code, err) = Run("data", "download", "--task", "hopper-awful-v2", "--dir", tmp);
        Assert.Equal(1, code);
        OneLineError(err, "unknown D4RL task");
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        (code, err) = Run("data", "download", "--task", "hopper-medium-v2", "--dir", tmp, "--base_url",
            $"http://127.0.0.1:{port}", "--timeout", "5");
        Assert.Equal(1, code);
        OneLineError(err, "cannot reach", "o2o data collect");
        Assert.Empty(Directory.GetFiles(tmp));
    }
}
