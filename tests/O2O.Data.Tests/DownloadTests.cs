using System.Net;
using System.Net.Sockets;
using System.Text;
using O2O.Core;

namespace O2O.Data.Tests;

/// <summary>
/// A tiny HTTP/1.1 server on 127.0.0.1 that serves one body, honours Range, and can misbehave on purpose.
/// </summary>
internal sealed class LocalHttpServer : IDisposable
{
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stopping = new();
    readonly Task acceptLoop;

    /// <summary>
    /// Body for the served path, status to answer, and how many body bytes to send before closing (null = all).
    /// </summary>
    public byte[] Body { get; set; } = [];
    public string ServedPath { get; set; } = "/hopper_medium-v2.hdf5";
    public int Status { get; set; } = 200;
    // request number → bytes of body to send before hanging up
    public Func<int, long?> CutAfter { get; set; } = _ => null;
    public List<string?> RangeHeaders { get; } = [];
    public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";

    public LocalHttpServer()
    {
        listener.Start();
        acceptLoop = Task.Run(Loop);
    }

    async Task Loop()
    {
        var n = 0;
        while (!stopping.IsCancellationRequested)
        {
            TcpClient c;
            try { c = await listener.AcceptTcpClientAsync(stopping.Token); } catch { return; }
            var req = n++;
            using (c) { try { await Serve(c, req); } catch (IOException) { } catch (SocketException) { } }
        }
    }

    async Task Serve(TcpClient c, int reqNo)
    {
        var s = c.GetStream();
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await s.ReadAsync(one) == 1)
            head.Append((char)one[0]);
        var lines = head.ToString().Split("\r\n");
        var path = lines[0].Split(' ')[1];
        var range = lines.FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))?[6..].Trim();
        lock (RangeHeaders) RangeHeaders.Add(range);
        if (path != ServedPath || Status != 200)
        {
            var code = path != ServedPath ? 404 : Status;
            var msg = Encoding.ASCII.GetBytes("nope");
            await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {code} Whatever\r\nContent-Length: " +
                $"{msg.Length}\r\nConnection: close\r\n\r\n"));
            await s.WriteAsync(msg);
            return;
        }
        long from = 0;
        string status = "200 OK", extra = "";
        if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            from = long.Parse(range[6..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
            status = "206 Partial Content";
            extra = $"Content-Range: bytes {from}-{Body.Length - 1}/{Body.Length}\r\n";
        }
        var len = Body.Length - from;
        await s.WriteAsync(
            Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Length: {len}\r\n{extra}Connection: close\r\n\r\n"));
        var send = Math.Min(len, CutAfter(reqNo) ?? len);
        await s.WriteAsync(Body.AsMemory((int)from, (int)send));
        await s.FlushAsync();
    }

    public void Dispose()
    {
        stopping.Cancel();
        listener.Stop();
        try { acceptLoop.Wait(2000); } catch (AggregateException) { }
        stopping.Dispose();
    }
}

public class DownloadTests
{
    static byte[] Hdf5Bytes(TempDir tmp)
    {
        DatasetIO.SaveHdf5(tmp.File("src.hdf5"), Make.Dataset(n: 3000), new Hdf5WriteOptions(Gzip: false));
        var b = File.ReadAllBytes(tmp.File("src.hdf5"));
        File.Delete(tmp.File("src.hdf5"));
        return b;
    }

    static readonly TimeSpan Quick = TimeSpan.FromSeconds(10);

    [Fact]
    public void Downloads_full_file_verifies_it_and_reports_progress()
    {
        using var tmp = new TempDir();
        using var srv = new LocalHttpServer();
        srv.Body = Hdf5Bytes(tmp);
        var events = new List<DownloadProgress>();
        var path = D4rlDownload.Fetch(
            "hopper-medium-v2", tmp.File("data"), srv.BaseUrl, new ListProgress(events), timeout: Quick);
        Assert.Equal(Path.Combine(tmp.File("data"), "hopper-medium-v2.hdf5"), path);
        Assert.Equal(srv.Body, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + ".part"));
        Assert.Equal(3000, DatasetIO.Load(path).Count);
        Assert.Equal("start", events[0].Stage);
        Assert.Equal("done", events[^1].Stage);
        // A second call finds the file and does not download again.
        var before = srv.RangeHeaders.Count;
        Assert.Equal(path, D4rlDownload.Fetch("hopper-medium-v2", tmp.File("data"), srv.BaseUrl, timeout: Quick));
        Assert.Equal(before, srv.RangeHeaders.Count);
    }

    [Fact]
    public void Cut_connection_keeps_the_part_and_a_rerun_resumes_with_range()
    {
        using var tmp = new TempDir();
        using var srv = new LocalHttpServer();
        srv.Body = Hdf5Bytes(tmp);
        var half = srv.Body.Length / 2;
        srv.CutAfter = req => req == 0 ? half : null;
        var dir = tmp.File("data");
        var e = Assert.ThrowsAny<UserError>(
            () => D4rlDownload.Fetch("hopper-medium-v2", dir, srv.BaseUrl, timeout: Quick));
        AssertOneLine.Message(
            e, "download again to resume", "place hopper-medium-v2.hdf5", "collect one by running a policy");
        var part = Path.Combine(dir, "hopper-medium-v2.hdf5.part");
        Assert.Equal(half, new FileInfo(part).Length);
        Assert.False(File.Exists(Path.Combine(dir, "hopper-medium-v2.hdf5")));
        var path = D4rlDownload.Fetch("hopper-medium-v2", dir, srv.BaseUrl, timeout: Quick);
        Assert.Equal($"bytes={half}-", srv.RangeHeaders[^1]);
        Assert.Equal(srv.Body, File.ReadAllBytes(path));
        Assert.False(File.Exists(part));
    }

    [Fact]
    public void Http_404_and_403_are_one_line_errors_with_a_way_forward()
    {
        using var tmp = new TempDir();
        using var srv = new LocalHttpServer { ServedPath = "/elsewhere.hdf5" };
        var e = Assert.ThrowsAny<UserError>(
            () => D4rlDownload.Fetch("walker2d-medium-replay-v2", tmp.Path, srv.BaseUrl, timeout: Quick));
        AssertOneLine.Message(
            e, "HTTP 404", "walker2d_medium_replay-v2.hdf5", "by hand", "collect one by running a policy");
        srv.ServedPath = "/walker2d_medium_replay-v2.hdf5";
        srv.Status = 403;
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(
                () => D4rlDownload.Fetch("walker2d-medium-replay-v2", tmp.Path, srv.BaseUrl, timeout: Quick)),
            "HTTP 403");
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void A_given_sha256_keeps_a_matching_file_and_refuses_and_removes_another()
    {
        using var tmp = new TempDir();
        using var srv = new LocalHttpServer();
        srv.Body = Hdf5Bytes(tmp);
        var right = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(srv.Body));
        var wrong = new string('0', 64);
        var e = Assert.Throws<OptionError>(() => D4rlDownload.Fetch("hopper-medium-v2", tmp.File("a"), srv.BaseUrl,
            timeout: Quick, sha256: wrong));
        AssertOneLine.Message(e, $"has SHA-256 {right}, not the Sha256 given ({wrong})", "deleted");
        Assert.Equal(["Sha256"], e.Options);
        Assert.Empty(Directory.GetFiles(tmp.File("a")));

        var path = D4rlDownload.Fetch("hopper-medium-v2", tmp.File("b"), srv.BaseUrl, timeout: Quick,
            sha256: right.ToUpperInvariant());
        Assert.Equal(srv.Body, File.ReadAllBytes(path));
        Assert.Equal(right, FileHash.Sha256(path));
        // The file in place is checked too, and kept: it may be the user's.
        e = Assert.Throws<OptionError>(() => D4rlDownload.Fetch("hopper-medium-v2", tmp.File("b"), srv.BaseUrl,
            timeout: Quick, sha256: wrong));
        AssertOneLine.Message(e, "already there but its SHA-256 is", "delete it to download again");
        Assert.True(File.Exists(path));
        e = Assert.Throws<OptionError>(() => D4rlDownload.Fetch("hopper-medium-v2", tmp.File("c"), srv.BaseUrl,
            timeout: Quick, sha256: "abc"));
        AssertOneLine.Message(e, "is not a SHA-256 (64 hexadecimal digits)");
    }

    [Fact]
    public void Truncated_body_is_never_given_the_final_name()
    {
        using var tmp = new TempDir();
        using var srv = new LocalHttpServer();
        srv.Body = Hdf5Bytes(tmp);
        srv.CutAfter = _ => 1000; // every answer stops after 1000 bytes
        var e = Assert.ThrowsAny<UserError>(
            () => D4rlDownload.Fetch("hopper-medium-v2", tmp.Path, srv.BaseUrl, timeout: Quick));
        AssertOneLine.Message(e, "of", "resume");
        Assert.False(File.Exists(tmp.File("hopper-medium-v2.hdf5")));
        Assert.Equal(1000, new FileInfo(tmp.File("hopper-medium-v2.hdf5.part")).Length);
    }

    [Fact]
    public void A_complete_body_that_is_not_hdf5_is_refused_and_removed()
    {
        using var tmp = new TempDir();
        using var srv = new LocalHttpServer { Body = Encoding.ASCII.GetBytes("<html>moved</html>") };
        var e = Assert.ThrowsAny<UserError>(
            () => D4rlDownload.Fetch("hopper-medium-v2", tmp.Path, srv.BaseUrl, timeout: Quick));
        AssertOneLine.Message(e, "not a D4RL dataset");
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void Server_down_is_a_one_line_error()
    {
        using var tmp = new TempDir();
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop(); // nothing listens there now: connection refused
        var e = Assert.ThrowsAny<UserError>(
            () => D4rlDownload.Fetch("hopper-medium-v2", tmp.Path, $"http://127.0.0.1:{port}", timeout: Quick));
        AssertOneLine.Message(e, "cannot reach", $"127.0.0.1:{port}", "by hand", "collect one by running a policy");
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void Stalled_server_times_out_with_one_line()
    {
        using var tmp = new TempDir();
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start(); // accepts (backlog) but never answers
        try
        {
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            var e = Assert.ThrowsAny<UserError>(() => D4rlDownload.Fetch("hopper-medium-v2", tmp.Path,
                $"http://127.0.0.1:{port}", timeout: TimeSpan.FromSeconds(1)));
            AssertOneLine.Message(e, "no answer", "raise Timeout");
        }
        finally { l.Stop(); }
    }

    [Fact]
    public void Bad_task_and_unwritable_dir_fail_before_any_request()
    {
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => D4rlDownload.Fetch("ant-medium-v2", "/tmp", "http://127.0.0.1:1")),
            "ant-medium-v2", "hopper");
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(
                () => D4rlDownload.Fetch("hopper-medium-v2", "/proc/o2o-nope", "http://127.0.0.1:1")),
            "/proc/o2o-nope", "writable");
    }

    sealed class ListProgress(List<DownloadProgress> list) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) { lock (list) list.Add(value); }
    }
}
