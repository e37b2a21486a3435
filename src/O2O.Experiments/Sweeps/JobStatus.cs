using System.Text.Json;
using System.Text.Json.Serialization;
using O2O.Core;

namespace O2O.Experiments.Sweeps;

/// <summary>
/// A job's status file (JSON, written atomically): its state (submitted, running, done, failed), the command
/// it ran, attempts, whether it resumed, times, process and host, and under Slurm the job and array task ids.
/// </summary>
public sealed record JobStatus
{
    public const string Submitted = "submitted", Running = "running", Done = "done", Failed = "failed";

    public required string Job { get; init; }
    public required string State { get; init; }
    public string? Command { get; init; }
    public int? ExitCode { get; init; }
    public int Attempts { get; init; }
    public bool Resumed { get; init; }
    public DateTimeOffset? Started { get; init; }
    public DateTimeOffset? Finished { get; init; }
    public int? Pid { get; init; }
    public string? Host { get; init; }
    public int? Threads { get; init; }
    public string? SlurmJobId { get; init; }
    public string? SlurmArrayTaskId { get; init; }

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The status in <paramref name="path"/>, or null when the job has none yet.</summary>
    public static JobStatus? Read(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<JobStatus>(File.ReadAllText(path), Json)
                ?? throw new UserError($"status file '{path}' is empty; delete it to run the job again");
        }
        catch (JsonException e)
        {
            throw new UserError($"status file '{path}' is not a job status ({e.Message}); "
                + "delete it to run the job again");
        }
    }

    public void Write(string path) => AtomicFile.WriteText(path, JsonSerializer.Serialize(this, Json) + "\n");

    /// <summary>The last <paramref name="lines"/> non-empty lines of a log (empty when there is none).</summary>
    public static IReadOnlyList<string> Tail(string log, int lines)
    {
        if (!File.Exists(log)) return [];
        return File.ReadAllLines(log).Where(l => l.Trim().Length > 0).TakeLast(lines).ToList();
    }
}
