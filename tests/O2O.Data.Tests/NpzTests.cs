using System.IO.Compression;
using System.Text;
using O2O.Core;

namespace O2O.Data.Tests;

public class NpzTests
{
    [Fact]
    public void Reads_numpy_savez_compressed_fixture_exactly()
    {
        var ds = DatasetIO.Load(Fixtures.Path("tiny_numpy_compressed.npz"));
        Assert.Equal((40, 11, 3), (ds.Count, ds.ObsDim, ds.ActDim));
        for (var i = 0; i < 40; i++)
        {
            Fixtures.AssertCoreRow(ds, i);
        }
    }

    [Fact]
    public void Reads_numpy_savez_stored_fixture_with_float64_uint8_int64_and_fortran_order()
    {
        var arrays = Npz.Read(Fixtures.Path("tiny_numpy_stored.npz"));
        Assert.Equal("<f8", arrays["states"].DType);
        Assert.Equal("|u1", arrays["terminals"].DType);
        Assert.Equal("<i8", arrays["steps"].DType);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (double)i), arrays["steps"].ToFloat64());
        // actions were saved with np.asfortranarray: the reader must hand back C order.
        var act = arrays["actions"].ToFloat32();
        for (var i = 0; i < 40; i++)
            for (var k = 0; k < 3; k++) Assert.Equal(Fixtures.Act(i, k), act[i * 3 + k]);
        var ds = DatasetIO.Load(Fixtures.Path("tiny_numpy_stored.npz"));
        Assert.Equal(Fixtures.Obs(39, 10), ds.Observations[^1]);
        Assert.True(ds.Terminals![14]);
        Assert.Null(ds.Timeouts);
    }

    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
    }

    /// <summary>A copy of the stored (uncompressed) fixture with one byte of the 'states' data flipped.</summary>
    static string WithFlippedStatesByte()
    {
        var bytes = File.ReadAllBytes(Fixtures.Path("tiny_numpy_stored.npz"));
        var name = bytes.AsSpan().IndexOf("states.npy"u8);
        var magic = name + bytes.AsSpan(name).IndexOf("NUMPY"u8) - 1;  // the magic is \x93NUMPY
        var headerLength = bytes[magic + 8] | bytes[magic + 9] << 8;  // .npy version 1.0
        bytes[magic + 10 + headerLength + 5] ^= 0x10;  // inside the first float64 of the data
        var path = System.IO.Path.Combine(Directory.CreateTempSubdirectory("o2o-crc-").FullName, "flipped.npz");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void A_flipped_data_byte_is_refused_with_the_entry_and_the_crc_mismatch()
    {
        var path = WithFlippedStatesByte();
        var e = Assert.Throws<UserError>(() => Npz.Read(path));
        AssertOneLine.Message(e, "entry 'states.npy'", "Bad CRC-32", "stored", "computed", "again");
        Assert.Throws<UserError>(() => DatasetIO.Load(path));
    }

    [PythonFact]
    public void Numpy_refuses_the_same_flipped_byte()
    {
        var (code, _, err) = Python.Run("import numpy, sys; numpy.load(sys.argv[1])['states']", WithFlippedStatesByte());
        Assert.NotEqual(0, code);
        Assert.Contains("Bad CRC-32", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_pickled_object_arrays()
    {
        var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(Fixtures.Path("pickled_object.npz")));
        AssertOneLine.Message(e, "pickled", "|O");
    }

    [Fact]
    public void Round_trips_every_supported_dtype()
    {
        using var tmp = new TempDir();
        var p = tmp.File("a.npz");
        var f4 = new float[] { 1.5f, -2, float.MaxValue, float.Epsilon, 0, 7, 8, 9, 10, 11, 12, 13 };
        var f8 = new[] { Math.PI, -1e300, 0.1 };
        var b = new[] { true, false, true };
        var i4 = new[] { int.MinValue, 0, int.MaxValue };
        var i8 = new[] { long.MinValue, 1L, long.MaxValue };
        foreach (var compress in new[] { true, false })
        {
            Npz.Write(p,
                [
                    new("f4", NpyArray.FromFloat32(f4, 3, 4)),
                    new("f8", NpyArray.FromFloat64(f8)),
                    new("b", NpyArray.FromBool(b)),
                    new("i4", NpyArray.FromInt32(i4)),
                    new("i8", NpyArray.FromInt64(i8)),
                    new("u1", NpyArray.FromUInt8([0, 255])),
                    new("zeros", NpyArray.FromFloat32(new float[10000])),
                ],
                compress);
            var r = Npz.Read(p);
            Assert.Equal([3, 4], r["f4"].Shape);
            Assert.Equal(f4, r["f4"].ToFloat32());
            Assert.Equal(f8, r["f8"].ToFloat64());
            Assert.Equal(b, r["b"].ToBool("b"));
            Assert.Equal(i4.Select(x => (double)x), r["i4"].ToFloat64());
            Assert.Equal(i8.Select(x => (double)x), r["i8"].ToFloat64());
            Assert.Equal([0.0, 255.0], r["u1"].ToFloat64());
            using var zip = ZipFile.OpenRead(p);
            var zeros = zip.GetEntry("zeros.npy")!;
            // deflated like savez_compressed, else stored like savez
            Assert.Equal(compress, zeros.CompressedLength < zeros.Length / 10);
        }
    }

    [Fact]
    public void Streamed_entries_hold_the_same_npy_bytes_as_arrays_written_through_NpyArray()
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset(n: 57);
        DatasetIO.SaveNpz(tmp.File("streamed.npz"), ds);
        Npz.Write(tmp.File("arrays.npz"),
            [
                new("states", NpyArray.FromFloat32(ds.Observations, ds.Count, ds.ObsDim)),
                new("actions", NpyArray.FromFloat32(ds.Actions, ds.Count, ds.ActDim)),
                new("rewards", NpyArray.FromFloat32(ds.Rewards!, ds.Count)),
                new("next_states", NpyArray.FromFloat32(ds.NextObservations!, ds.Count, ds.ObsDim)),
                new("terminals", NpyArray.FromBool(ds.Terminals!, ds.Count)),
                new("timeouts", NpyArray.FromBool(ds.Timeouts!, ds.Count)),
            ]);
        using var a = ZipFile.OpenRead(tmp.File("streamed.npz"));
        using var b = ZipFile.OpenRead(tmp.File("arrays.npz"));
        Assert.Equal(b.Entries.Select(e => e.FullName), a.Entries.Select(e => e.FullName));
        foreach (var e in a.Entries)
        {
            using var sa = e.Open();
            using var sb = b.GetEntry(e.FullName)!.Open();
            using MemoryStream ma = new(), mb = new();
            sa.CopyTo(ma);
            sb.CopyTo(mb);
            Assert.Equal(mb.ToArray(), ma.ToArray());
        }
    }

    [Fact]
    public void Dataset_round_trips_through_npz()
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset();
        DatasetIO.SaveNpz(tmp.File("d.npz"), ds);
        var back = DatasetIO.Load(tmp.File("d.npz"));
        Fixtures.AssertSameTransitions(ds, back);
        Assert.Single(Directory.GetFiles(tmp.Path)); // no temp file left beside it
    }

    [PythonFact]
    public void Npz_written_here_loads_in_numpy()
    {
        using var tmp = new TempDir();
        var ds = Make.Dataset(n: 123);
        DatasetIO.SaveNpz(tmp.File("d.npz"), ds);
        var (code, stdout, stderr) = Python.Run("""
            import sys, numpy as np
            z = np.load(sys.argv[1], allow_pickle=False)
            for k in ['states', 'actions', 'rewards', 'next_states', 'terminals', 'timeouts']:
                print(k, z[k].dtype, z[k].shape, z[k].flags['C_CONTIGUOUS'])
            print('sum', repr(float(z['states'].astype(np.float64).sum())), int(z['terminals'].sum()))
            """, tmp.File("d.npz"));
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("states float32 (123, 11) True", lines[0]);
        Assert.Equal("actions float32 (123, 3) True", lines[1]);
        Assert.Equal("rewards float32 (123,) True", lines[2]);
        Assert.Equal("next_states float32 (123, 11) True", lines[3]);
        Assert.Equal("terminals bool (123,) True", lines[4]);
        Assert.Equal("timeouts bool (123,) True", lines[5]);
        var sum = ds.Observations.Sum(x => (double)x);
        var parts = lines[6].Split(' ');
        Assert.Equal(sum, double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), 6);
        Assert.Equal(
            ds.Terminals!.Count(t => t), int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    static byte[] NpyBytes(string dict, byte[] data, int major)
    {
        var header = dict;
        var pre = major == 1 ? 10 : 12;
        var total = (pre + header.Length + 1 + 63) / 64 * 64;
        header = header.PadRight(total - pre - 1) + "\n";
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)header.Length));
        else ms.Write(BitConverter.GetBytes((uint)header.Length));
        ms.Write(Encoding.Latin1.GetBytes(header));
        ms.Write(data);
        return ms.ToArray();
    }

    [Fact]
    public void Reads_version_2_header_and_big_endian_data()
    {
        var be = new byte[] { 0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0 }; // 1.0f, -2.0f big-endian
        var a = Npy.Read(
            new MemoryStream(NpyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be, 2)), "test");
        Assert.Equal(new[] { 1f, -2f }, a.ToFloat32());
    }

    [Fact]
    public void Refuses_unsupported_dtypes_truncated_data_and_bad_magic_with_one_line()
    {
        var e1 = Assert.ThrowsAny<UserError>(() => Npy.Read(new MemoryStream(NpyBytes("{'descr': '<U3', " +
            "'fortran_order': False, 'shape': (1,), }", new byte[12], 1)), "x"));
        AssertOneLine.Message(e1, "<U3", "not supported");
        var e2 = Assert.ThrowsAny<UserError>(() => Npy.Read(new MemoryStream(NpyBytes("{'descr': '<f4', " +
            "'fortran_order': False, 'shape': (5,), }", new byte[12], 1)), "x"));
        AssertOneLine.Message(e2, "truncated");
        var e3 = Assert.ThrowsAny<UserError>(
            () => Npy.Read(new MemoryStream(Encoding.ASCII.GetBytes("hello world, not npy")), "x"));
        AssertOneLine.Message(e3, "not a NumPy");
        var e4 = Assert.ThrowsAny<UserError>(() => Npy.Read(new MemoryStream(NpyBytes("{'descr': [('a', '<f4')], " +
            "'fortran_order': False, 'shape': (1,), }", new byte[4], 1)), "x"));
        AssertOneLine.Message(e4, "structured");
    }

    [Fact]
    public void Truncated_npz_is_a_one_line_error()
    {
        using var tmp = new TempDir();
        var bytes = File.ReadAllBytes(Fixtures.Path("tiny_numpy_compressed.npz"));
        File.WriteAllBytes(tmp.File("cut.npz"), bytes[..(bytes.Length / 2)]);
        var e = Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("cut.npz")));
        AssertOneLine.Message(e, "cut.npz", "truncated");
    }

    [Fact]
    public void Npz_without_states_or_with_mismatched_rows_is_refused()
    {
        using var tmp = new TempDir();
        Npz.Write(tmp.File("a.npz"), [new("actions", NpyArray.FromFloat32(new float[6], 2, 3))]);
        AssertOneLine.Message(
            Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("a.npz"))), "no 'states'", "actions");
        Npz.Write(tmp.File("b.npz"), [new("states", NpyArray.FromFloat32(new float[4], 2, 2))]);
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("b.npz"))), "no 'actions'");
        Npz.Write(tmp.File("c.npz"),
            [new("states", NpyArray.FromFloat32(new float[4], 2, 2)),
                new("actions", NpyArray.FromFloat32(new float[3], 3, 1))]);
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("c.npz"))), "3 rows", "2");
        Npz.Write(tmp.File("d.npz"),
            [new("states", NpyArray.FromFloat32(new float[4], 2, 2)),
                new("actions", NpyArray.FromFloat32(new float[2], 2, 1)),
                new("rewards", NpyArray.FromFloat32(new float[3]))]);
        AssertOneLine.Message(Assert.ThrowsAny<UserError>(() => DatasetIO.Load(tmp.File("d.npz"))), "rewards", "(3)");
    }
}
