using System.Globalization;
using System.Text;

namespace O2O.Core;

/// <summary>
/// A CSV log with a fixed header, invariant culture, one row per call, flushed after each row.
/// Opening an existing log for resume keeps exactly its first <c>keepRows</c> data rows (so a run
/// killed after writing a row it had not checkpointed continues without duplicates).
/// </summary>
public sealed class CsvLog : IDisposable
{
    readonly FileStream file;
    readonly string path;

    CsvLog(FileStream file, string path, IReadOnlyList<string> columns)
    {
        this.file = file;
        this.path = path;
        Columns = columns;
    }

    public IReadOnlyList<string> Columns { get; }

    /// <summary>Start a new log (replacing any file at <paramref name="path"/>).</summary>
    public static CsvLog Create(string path, IReadOnlyList<string> columns)
    {
        AtomicFile.WriteText(path, string.Join(',', columns) + "\n");
        return Open(path, columns);
    }

    /// <summary>Continue an existing log after its first <paramref name="keepRows"/> data rows.</summary>
    public static CsvLog Resume(string path, IReadOnlyList<string> columns, int keepRows)
    {
        if (!File.Exists(path))
            throw new OptionError($"cannot Resume: log '{path}' is missing; start a new run without Resume", "Resume");
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != string.Join(',', columns))
            throw new OptionError($"cannot Resume: log '{path}' has other columns than this run; "
                + "start a new run without Resume", "Resume");
        if (lines.Length - 1 < keepRows)
            throw new UserError(
                $"cannot resume: log '{path}' has {lines.Length - 1} rows but the checkpoint is at row {keepRows}");
        AtomicFile.WriteText(path, string.Join('\n', lines.Take(keepRows + 1)) + "\n");
        return Open(path, columns);
    }

    static CsvLog Open(string path, IReadOnlyList<string> columns)
    {
        // Unbuffered: each row goes to the file whole in one write, or (disk full) not at all.
        var fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
        return new CsvLog(fs, path, columns);
    }

    /// <summary>Write one row; values are matched to columns by name, missing ones left empty.</summary>
    public void Write(IReadOnlyDictionary<string, double> values)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < Columns.Count; i++)
        {
            if (i > 0) sb.Append(',');
            if (values.TryGetValue(Columns[i], out var v)) sb.Append(Format(v));
        }
        var row = Encoding.UTF8.GetBytes(sb.Append('\n').ToString());
        var before = file.Length;
        try
        {
            file.Write(row);
        }
        catch (IOException e) when (DiskFull.Is(e))
        {
            // No partial row: the log ends with its last whole row, as a resume expects.
            try { file.SetLength(before); } catch (IOException) { }
            throw DiskFull.Error(path, row.Length, e, "appending a row to");
        }
    }

    /// <summary>Shortest round-trippable invariant form; integers without a decimal point.</summary>
    public static string Format(double v) =>
        double.IsNaN(v) ? "nan"
        : v == Math.Floor(v) && Math.Abs(v) < 1e15 ? ((long)v).ToString(CultureInfo.InvariantCulture)
        : v.ToString("R", CultureInfo.InvariantCulture);

    public void Dispose() => file.Dispose();
}
