using O2O.Core;
using O2O.Reliability.Fuzz;
using Xunit.Abstractions;

namespace O2O.Reliability.Tests;

/// <summary>
/// The fuzz campaign at CI size (a few hundred cases per reader; `o2o-reliability fuzz` runs ≥ 10,000, figures in
/// docs/reliability.md), and every input it ever found, kept under tests/fixtures/fuzz: each must end in a valid read
/// or one line of error, within the hang limit, without allocating far beyond its size.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    public static TheoryData<string> Formats => new(FuzzFormat.All.Select(f => f.Name));

    [Theory]
    [MemberData(nameof(Formats))]
    public void A_few_hundred_damaged_files_per_reader_end_in_a_valid_read_or_one_line(string format)
    {
        using var tmp = new TempDir();
        var o = new FuzzOptions([format], 300, Seed: 17, tmp.Path, Path.Combine(tmp.Path, "findings"));
        var tally = Assert.Single(FuzzCampaign.Run(o, Repo.Root, output.WriteLine));
        Assert.Equal(300, tally.Cases);
        Assert.True(tally.Bad == 0, string.Join("\n", tally.Defects.Select(d =>
            $"{d.Kind} case {d.Case} ({d.Seed}: {d.What}): {d.Message}")));
        Assert.True(tally.Valid > 0 && tally.Errors > 0, $"{tally.Valid} valid, {tally.Errors} errors: a useless mix");
    }

    public static TheoryData<string, string> Findings
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var dir in Directory.GetDirectories(Path.Combine(Repo.Fixtures, "fuzz")).Order())
                foreach (var c in Directory.GetDirectories(dir).Order())
                    data.Add(Path.GetFileName(dir), Path.GetFileName(c));
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Findings))]
    public void Every_input_the_campaign_found_is_refused_with_one_line(string format, string name)
    {
        var f = FuzzCampaign.Find(format);
        var dir = Path.Combine(Repo.Fixtures, "fuzz", format, name);
        var seed = File.ReadLines(Path.Combine(dir, "case.txt")).First(l => l.StartsWith("from seed ",
            StringComparison.Ordinal))["from seed ".Length..].Split(':')[0];
        var size = Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Sum(p => new FileInfo(p).Length);
        // A copy: the readers look for metadata.json beside a Minari file, and must not find others.
        using var tmp = new TempDir();
        foreach (var file in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(tmp.Path, Path.GetRelativePath(dir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.ThrowsAny<UserError>(() => f.Read(Path.Combine(tmp.Path, f.MainFile), seed));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"{format}/{name}: {e.Message} ({allocated} bytes, {clock.ElapsedMilliseconds} ms)");
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(allocated < (64L << 20) + 64 * size, $"{allocated} bytes allocated for a {size}-byte input");
    }
}
