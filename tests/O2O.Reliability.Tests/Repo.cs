namespace O2O.Reliability.Tests;

/// <summary>Paths of the repository the tests run from.</summary>
internal static class Repo
{
    public static string Root => Program.Repo();
    public static string Fixtures => Path.Combine(Root, "tests", "fixtures");
}

/// <summary>A fresh temp folder, removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("o2o-reliability-test-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
