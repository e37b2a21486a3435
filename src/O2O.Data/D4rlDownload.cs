using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using O2O.Core;
using PureHDF;

namespace O2O.Data;

/// <summary>
/// A progress event of a download: a stage ("start", "progress", "done"), bytes so far, total if known, a line to show.
/// </summary>
public sealed record DownloadProgress(string Stage, long Bytes, long? Total, string Message);

/// <summary>
/// Downloads a D4RL gym-mujoco dataset: <c>{base}/{env}_{quality}-v2.hdf5</c> into <c>DIR/{task}.hdf5</c> (the
/// notebook's local name). Bytes go to <c>DIR/{task}.hdf5.part</c>; a rerun resumes it with an HTTP Range request. The
/// final name appears only when the body is complete (Content-Length matched) and the file opens as HDF5 with
/// 'observations'.
/// </summary>
public static class D4rlDownload
{
    /// <summary>D4RL's server for the -v2 gym-mujoco files.</summary>
    public const string DefaultBaseUrl = "http://rail.eecs.berkeley.edu/datasets/offline_rl/gym_mujoco_v2";

    /// <summary>
    /// Default time without any progress (connecting, waiting for headers, or between reads) before giving up.
    /// </summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The User-Agent header of every request: the toolkit's name and version.</summary>
    const string UserAgent = "o2o/0.1";

    // I/O sizes of the body copy (tuning, not protocol): 64 KiB file buffer, 1 MiB socket reads.
    const int FileBufferBytes = 1 << 16;
    const int ReadChunkBytes = 1 << 20;
    const double BytesPerMiB = 1 << 20;

    /// <summary>At most one progress event a second while the body streams in.</summary>
    const long ProgressIntervalMs = 1000;

    /// <summary>The URL of a task's file.</summary>
    /// <summary>The end of every failure's advice; a front end may replace it with its own command.</summary>
    public const string CollectHint = "or collect one by running a policy in the environment";

    public static string UrlFor(string task, string? baseUrl = null)
    {
        var root = string.IsNullOrWhiteSpace(baseUrl) ? DefaultBaseUrl : baseUrl.TrimEnd('/');
        return $"{root}/{D4rlTask.Parse(task).ServerFileName}";
    }

    /// <summary>Synchronous <see cref="FetchAsync"/>: returns the path of the complete file.</summary>
    public static string Fetch(
        string task,
        string dir,
        string? baseUrl = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken ct = default,
        TimeSpan? timeout = null,
        string? sha256 = null) =>
        FetchAsync(task, dir, baseUrl, progress, ct, timeout, sha256).GetAwaiter().GetResult();

    /// <summary>
    /// Download <paramref name="task"/> into <paramref name="dir"/> unless its file is already there; returns its path.
    /// </summary>
    /// <exception cref="UserError">Unknown task, unwritable folder, network failure, HTTP error, truncated body or a
    /// body that is not HDF5.</exception>
    public static async Task<string> FetchAsync(
        string task,
        string dir,
        string? baseUrl = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken ct = default,
        TimeSpan? timeout = null,
        string? sha256 = null)
    {
        using var stopPoint = Interruption.StopPoint(ct);  // a cancelled download stops between chunks
        var t = D4rlTask.Parse(task);
        var url = UrlFor(task, baseUrl);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new OptionError($"BaseUrl '{baseUrl}' is not an http(s) URL; give one such as {DefaultBaseUrl}",
                "BaseUrl");
        var final = Path.Combine(dir, t.LocalFileName);
        var part = final + ".part";
        var limit = timeout ?? DefaultTimeout;
        if (limit <= TimeSpan.Zero)
            throw new OptionError($"Timeout must be positive, got {limit.TotalSeconds} s", "Timeout");
        var byHand = $"or place {t.LocalFileName} (from {url}) in '{dir}' by hand, {CollectHint}";
        var expected = sha256?.Trim().ToLowerInvariant();
        if (expected is not null && (expected.Length != 64 || !expected.All(char.IsAsciiHexDigit)))
            throw new OptionError($"Sha256 '{sha256}' is not a SHA-256 (64 hexadecimal digits)", "Sha256");
        if (File.Exists(final))
        {
            if (expected is not null && FileHash.Sha256(final) is var have && have != expected)
                throw new OptionError($"'{final}' is already there but its SHA-256 is {have}, not the Sha256 given "
                    + $"({expected}); delete it to download again, or check the checksum", "Sha256");
            progress?.Report(
                new DownloadProgress("done", new FileInfo(final).Length, null, $"{final} is already there"));
            return final;
        }
        AtomicFile.EnsureWritableFolder(final, "data folder");

        using var handler = new SocketsHttpHandler
        {
            ConnectTimeout = limit,
            AutomaticDecompression = DecompressionMethods.None,
        };
        using var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd(UserAgent);
        for (var attempt = 0; ; attempt++)
        {
            long have = File.Exists(part) ? new FileInfo(part).Length : 0;
            using var req = new HttpRequestMessage(HttpMethod.Get, uri);
            if (have > 0) req.Headers.Range = new RangeHeaderValue(have, null);
            using var headerCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            headerCts.CancelAfter(limit);
            HttpResponseMessage resp;
            try
            {
                resp = await http.SendAsync(
                    req, HttpCompletionOption.ResponseHeadersRead, headerCts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new OptionError($"no answer from {url} within {limit.TotalSeconds:0} s; "
                    + $"check the network or raise Timeout, {byHand}", "Timeout");
            }
            catch (HttpRequestException e)
            {
                throw new OptionError($"cannot reach {url} ({Inner(e)}); check the network or BaseUrl, {byHand}",
                    "BaseUrl");
            }
            using (resp)
            {
                long offset;
                long? total;
                if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0 && attempt == 0)
                {
                    File.Delete(part); // the partial file does not fit the server's file: start over once
                    continue;
                }
                if (resp.StatusCode == HttpStatusCode.PartialContent && have > 0)
                {
                    var cr = resp.Content.Headers.ContentRange;
                    if (cr?.From != have)
                    {
                        if (attempt > 0)
                            throw new UserError($"{url} answered a resume request with the wrong range ({cr}); " +
                                $"delete '{part}' and retry, {byHand}");
                        File.Delete(part);
                        continue;
                    }
                    offset = have;
                    total = cr.Length;
                }
                else if (resp.StatusCode == HttpStatusCode.OK)
                {
                    offset = 0; // the server ignored the range (or there was none): start from the beginning
                    total = resp.Content.Headers.ContentLength;
                }
                else
                {
                    throw new OptionError($"{url} answered HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}; "
                        + $"the D4RL server is often down or moved — retry later or give another BaseUrl, {byHand}",
                        "BaseUrl");
                }

                progress?.Report(new DownloadProgress("start", offset, total,
                    offset > 0
                        ? $"resuming {url} at {Mb(offset)} of {Mb(total)}"
                        : $"downloading {url} ({Mb(total)}) to {part}"));
                var got = offset;
                try
                {
                    await using var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                    var mode = offset > 0 ? FileMode.Append : FileMode.Create;
                    await using var fs = new FileStream(
                        part, mode, FileAccess.Write, FileShare.None, FileBufferBytes, useAsync: true);
                    var buf = new byte[ReadChunkBytes];
                    var lastReport = Environment.TickCount64;
                    using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    while (true)
                    {
                        readCts.CancelAfter(limit);
                        int n;
                        try { n = await body.ReadAsync(buf, readCts.Token).ConfigureAwait(false); }
                        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                        {
                            throw new UserError($"download of {url} stalled: " +
                                $"no data for {limit.TotalSeconds:0} s after {Mb(got)} of {Mb(total)}; " +
                                $"download again to resume (kept '{part}'), {byHand}");
                        }
                        if (n == 0) break;
                        await fs.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                        got += n;
                        if (Environment.TickCount64 - lastReport >= ProgressIntervalMs)
                        {
                            lastReport = Environment.TickCount64;
                            progress?.Report(new DownloadProgress(
                                "progress", got, total, $"{Mb(got)} of {Mb(total)}{Percent(got, total)}"));
                        }
                    }
                    await fs.FlushAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    throw new UserError($"download of {url} broke off after {Mb(got)} of {Mb(total)} ({Inner(e)}); " +
                        $"download again to resume (kept '{part}'), {byHand}");
                }
                if (total is { } tot && got != tot)
                    throw new UserError($"download of {url} ended at {got} of {tot} bytes (truncated body); " +
                        $"download again to resume (kept '{part}'), {byHand}");
                progress?.Report(
                    new DownloadProgress("progress", got, total, $"{Mb(got)} of {Mb(total)}{Percent(got, total)}"));
                break;
            }
        }

        Verify(part, url, byHand);
        if (expected is not null && FileHash.Sha256(part) is var actual && actual != expected)
        {
            try { File.Delete(part); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new OptionError($"the file downloaded from {url} has SHA-256 {actual}, not the Sha256 given "
                + $"({expected}): it is damaged or another file; it was deleted — check the checksum and download "
                + "again", "Sha256");
        }
        File.Move(part, final, overwrite: false);
        progress?.Report(new DownloadProgress("done", new FileInfo(final).Length, null, $"saved {final}"));
        return final;
    }

    /// <summary>
    /// The complete body must be an HDF5 file with an 'observations' dataset; otherwise it is deleted.
    /// </summary>
    static void Verify(string part, string url, string byHand)
    {
        string? why = null;
        try
        {
            if (DatasetIO.DetectKind(part) != DatasetFileKind.Hdf5) why = "it is not HDF5";
            else
            {
                Hdf5Guard.Check(part, $"'{part}'");
                using var f = H5File.OpenRead(part);
                if (!f.LinkExists("observations")) why = "it has no 'observations' dataset";
            }
        }
        catch (UserError e) { why = e.Message; }
        catch (Exception e) when (e is not OutOfMemoryException) { why = $"it does not open as HDF5: {e.Message}"; }
        if (why is null) return;
        try { File.Delete(part); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        throw new OptionError(
            $"the file downloaded from {url} is not a D4RL dataset ({why.TrimEnd('.')}); check BaseUrl, {byHand}",
            "BaseUrl");
    }

    static string Inner(Exception e)
    {
        var m = e.Message.TrimEnd('.');
        for (var i = e.InnerException; i is not null; i = i.InnerException) m += ": " + i.Message.TrimEnd('.');
        return string.Join(' ', m.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    static string Mb(long? bytes) => bytes is null
        ? "unknown size"
        : (bytes.Value / BytesPerMiB).ToString("F1", CultureInfo.InvariantCulture) + " MB";
    static string Percent(long got, long? total) => total is > 0 ? $" ({100.0 * got / total.Value:F0} %)" : "";
}
