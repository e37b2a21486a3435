using System.Buffers.Binary;
using O2O.Core;

namespace O2O.Data;

/// <summary>
/// Checks an HDF5 file's metadata before PureHDF decodes it. PureHDF allocates what a size field claims before it
/// reads (a damaged link name, attribute, fill value or global-heap object can claim up to 2 GB, in a file of
/// kilobytes), so a damaged or hostile file must be refused first: every checksummed structure of the newer format
/// (version 2 object headers and their continuation blocks, fixed-array chunk indexes; PureHDF and h5py with
/// libver="latest" write them) must match its Jenkins lookup3 checksum, as libhdf5 verifies them; every object header
/// of either version (version 1 ones, h5py's default, reached from the superblock and the symbol-table nodes) must
/// hold messages whose inner lengths (attribute name, type, space and data; fill value; link name; enum values;
/// filter names and parameters) fit in the message; local and global heaps must fit in the file. One pass over the
/// file; the verdict is kept per file (path, size, time) so that a dataset opened twice (Minari's sniffing, then its
/// reading) is scanned once.
/// </summary>
internal static class Hdf5Guard
{
    static readonly object Gate = new();
    static string? lastVerified;

    /// <exception cref="UserError">A structure of the file is damaged; the message names it and its offset.</exception>
    public static void Check(string path, string src)
    {
        var info = new FileInfo(path);
        var key = $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        lock (Gate) if (lastVerified == key) return;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            new Scan(fs, src).Run();
        lock (Gate) lastVerified = key;
    }

    sealed class Scan(FileStream fs, string src)
    {
        readonly long length = fs.Length;
        int sizeOfOffsets = 8, sizeOfLengths = 8;

        long baseAddress;
        readonly HashSet<long> visited = [];

        /// <summary>Addresses genuine structures point to (the superblock, verified headers, symbol tables, chunk
        /// indexes): what PureHDF will read.</summary>
        readonly HashSet<long> referenced = [];
        /// <summary>Checksummed structures whose checksum fails (or that carry impossible flags), with why: a damaged
        /// structure if something points to it, else only the signature's bytes inside other data.</summary>
        readonly Dictionary<long, (string What, string Why)> suspects = [];

        public void Run()
        {
            var sb = D4rlHdf5.FindSuperblock(fs);
            long root = -1;
            var version = -1;
            if (sb >= 0)
            {
                var head = Bytes(sb, Math.Min(length - sb, 128));
                if (head is { Length: >= 16 })
                {
                    version = head[8];
                    var at = version is 0 or 1 ? 13 : 9;
                    if (head[at] is 2 or 4 or 8) sizeOfOffsets = head[at];
                    if (head[at + 1] is 2 or 4 or 8) sizeOfLengths = head[at + 1];
                    var first = version switch { 0 => 24, 1 => 28, _ => 12 };
                    if (version is 2 or 3 && first + 4 * sizeOfOffsets + 4 <= head.Length)
                    {
                        // v2/v3: base, extension, EOF, root header, then the superblock's own checksum.
                        Verify(head[..(first + 4 * sizeOfOffsets + 4)], "superblock", sb);
                        baseAddress = (long)Math.Min(Field(head.AsSpan(first), sizeOfOffsets), (ulong)length);
                        root = Address(head.AsSpan(first + 3 * sizeOfOffsets));
                    }
                    else if (first + 6 * sizeOfOffsets <= head.Length)
                    {
                        baseAddress = (long)Math.Min(Field(head.AsSpan(first), sizeOfOffsets), (ulong)length);
                        // v0/v1: base, free space, EOF, driver, then the root's symbol table entry (name, header).
                        root = Address(head.AsSpan(first + 5 * sizeOfOffsets));
                    }
                }
            }
            var found = Signatures();
            foreach (var (sig, at) in found)
            {
                switch (sig)
                {
                    case "GCOL": GlobalHeap(at); break;
                    case "OHDR": ObjectHeader(at); break;
                    case "FAHD": FixedArray(at); break;
                    case "HEAP": LocalHeap(at); break;
                    case "FRHP": FractalHeap(at); break;
                }
            }
            // Version 1 object headers have no signature: the root's, and those symbol-table nodes name.
            if (root >= 0) Header(root);
            foreach (var (sig, at) in found)
                if (sig == "SNOD") SymbolNode(at);
            foreach (var (at, (what, why)) in suspects)
                if (referenced.Contains(at)) throw Damaged(what, at, why);
        }

        /// <summary>The object header a genuine structure points to: a version 2 one was checked by the scan (and is
        /// now known to be read); anything else must be a whole version 1 header.</summary>
        void Header(long start)
        {
            referenced.Add(start);
            var head = start >= 0 && start < length ? Bytes(start, Math.Min(4, length - start)) : null;
            if (head is { Length: 4 } && head[0] == 'O' && head[1] == 'H' && head[2] == 'D' && head[3] == 'R') return;
            HeaderV1(start, strict: true);
        }

        /// <summary>An address field (relative to the base address) as a file offset; -1 for the undefined one.
        /// </summary>
        long Address(ReadOnlySpan<byte> b)
        {
            var a = Field(b, sizeOfOffsets);
            if (a == (sizeOfOffsets == 8 ? ulong.MaxValue : (1UL << (8 * sizeOfOffsets)) - 1)) return -1;
            return a > (ulong)(length - baseAddress) ? long.MaxValue : baseAddress + (long)a;
        }

        /// <summary>Offsets of the signatures of interest, in one pass over the file.</summary>
        List<(string, long)> Signatures()
        {
            var found = new List<(string, long)>();
            var block = new byte[Math.Max(16, Math.Min(1 << 20, length))];
            long at = 0;
            while (true)
            {
                fs.Position = at;
                var n = fs.ReadAtLeast(block, block.Length, throwOnEndOfStream: false);
                var span = block.AsSpan(0, n);
                foreach (var sig in new[] { "GCOL", "OHDR", "FAHD", "HEAP", "SNOD", "FRHP" })
                {
                    var needle = System.Text.Encoding.ASCII.GetBytes(sig);
                    for (var i = span.IndexOf(needle); i >= 0;)
                    {
                        if (at + i >= 0 && !found.Contains((sig, at + i))) found.Add((sig, at + i));
                        var next = span[(i + 1)..].IndexOf(needle);
                        i = next < 0 ? -1 : i + 1 + next;
                    }
                }
                if (n < block.Length) break;
                at += n - 3;  // a signature across two blocks
            }
            return found;
        }

        byte[]? Bytes(long at, long count)
        {
            if (at < 0 || count < 0 || count > length - at || count > 1 << 26) return null;
            var b = new byte[count];
            fs.Position = at;
            fs.ReadExactly(b);
            return b;
        }

        ulong Length(ReadOnlySpan<byte> b) => Field(b, sizeOfLengths);

        static ulong Field(ReadOnlySpan<byte> b, int size) => size switch
        {
            1 => b[0],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(b),
            4 => BinaryPrimitives.ReadUInt32LittleEndian(b),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(b),
        };

        UserError Damaged(string what, long at, string why) =>
            new($"{src}: the HDF5 {what} at byte {at} is damaged ({why}); the file is corrupt — download or "
                + "generate it again");

        /// <summary>A global heap collection and each of its objects fit in the file and in the collection.</summary>
        void GlobalHeap(long start)
        {
            var head = Bytes(start, 8 + sizeOfLengths);
            // Version 1 and three zero bytes, else the signature's bytes inside other data.
            if (head is null || head[4] != 1 || head[5] != 0 || head[6] != 0 || head[7] != 0) return;
            var size = Length(head.AsSpan(8));
            if (size > (ulong)(length - start))
                throw Damaged("global heap", start, $"it claims {size} bytes, past the end of the file");
            var end = (ulong)start + size;
            var obj = (ulong)start + 8 + (ulong)sizeOfLengths;
            while (obj + 8 + (ulong)sizeOfLengths <= end)
            {
                var h = Bytes((long)obj, 8 + sizeOfLengths)!;
                if (BinaryPrimitives.ReadUInt16LittleEndian(h) == 0) break;  // free space: the end
                var data = obj + 8 + (ulong)sizeOfLengths;
                var n = Length(h.AsSpan(8));
                if (n > end - data)
                    throw Damaged("global heap", start, $"an object claims {n} bytes, more than the collection holds");
                obj = data + (n + 7) / 8 * 8;
            }
        }

        /// <summary>
        /// A version 2 object header: its first chunk fits in the file and matches its checksum, and so does each
        /// continuation block (OCHK) its continuation messages point to.
        /// </summary>
        void ObjectHeader(long start)
        {
            var head = Bytes(start, 6);
            if (head is null || head[4] != 2) return;  // not a version 2 header
            var flags = head[5];
            if ((flags & 0xC0) != 0)
            {
                suspects[start] = ("object header", $"reserved flags 0x{flags:x2} are set");
                return;
            }
            var prefix = 6 + ((flags & 0x20) != 0 ? 16 : 0) + ((flags & 0x10) != 0 ? 4 : 0);
            var width = 1 << (flags & 3);
            var sizeField = Bytes(start + prefix, width);
            var chunk = sizeField is null ? ulong.MaxValue : Field(sizeField, width);
            var total = chunk > (ulong)length ? ulong.MaxValue : (ulong)(prefix + width) + chunk + 4;
            if (total > (ulong)(length - start))
            {
                suspects[start] = ("object header", $"it claims {chunk} bytes of messages, past the end of the file");
                return;
            }
            var block = Bytes(start, (long)total)!;
            if (Checksum(block) is { } why)
            {
                suspects[start] = ("object header", why);
                return;
            }
            Messages(block.AsSpan(prefix + width, (int)chunk), (flags & 4) != 0, depth: 0);
        }

        /// <summary>
        /// The messages of a version 2 header chunk: each one's inner lengths (<see cref="Message"/>), and the
        /// continuation messages (type 0x10) followed to their OCHK blocks.
        /// </summary>
        void Messages(ReadOnlySpan<byte> chunk, bool creationOrder, int depth)
        {
            var at = 0;
            var head = creationOrder ? 6 : 4;
            while (at + head <= chunk.Length)
            {
                var type = chunk[at];
                var size = BinaryPrimitives.ReadUInt16LittleEndian(chunk[(at + 1)..]);
                var data = at + head;
                if (data + size > chunk.Length) break;  // the gap at the end
                Message(type, chunk.Slice(data, size));
                if (type == 0x10 && size >= sizeOfOffsets + sizeOfLengths && depth < 64)
                {
                    var (address, len) = Continuation(chunk[data..]);
                    var block = Bytes(address, len)!;
                    if (block[0] == 'O' && block[1] == 'C' && block[2] == 'H' && block[3] == 'K')
                    {
                        Verify(block, "object header continuation", address);
                        Messages(block.AsSpan(4, block.Length - 8), creationOrder, depth + 1);
                    }
                }
                at = data + size;
            }
        }

        (long Address, long Length) Continuation(ReadOnlySpan<byte> data)
        {
            var address = Address(data);
            var len = Field(data[sizeOfOffsets..], sizeOfLengths);
            if (address < 0 || address >= length || len > (ulong)(length - address) || len < 8)
                throw Damaged("object header continuation", Math.Max(0, address),
                    $"{len} bytes claimed past the end of the file");
            return (address, (long)len);
        }

        /// <summary>A symbol-table node (version 1 groups): the headers of its entries.</summary>
        void SymbolNode(long start)
        {
            var head = Bytes(start, 8);
            if (head is null || head[4] != 1 || head[5] != 0) return;
            var count = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(6));
            var entry = 2 * sizeOfOffsets + 24;
            var entries = Bytes(start + 8, (long)count * entry);
            if (entries is null || count > 1024) return;
            for (var i = 0; i < count; i++)  // cache type 0, 1 or 2, else these bytes are no symbol-table node
                if (BinaryPrimitives.ReadUInt32LittleEndian(entries.AsSpan(i * entry + 2 * sizeOfOffsets)) > 2) return;
            for (var i = 0; i < count; i++) Header(Address(entries.AsSpan(i * entry + sizeOfOffsets)));
        }

        /// <summary>
        /// A version 1 object header (h5py's default): version 1, then messages (type, size, flags) in blocks that
        /// must fit in the file, each checked by <see cref="Message"/>; continuation blocks followed.
        /// </summary>
        void HeaderV1(long start, bool strict)
        {
            if (start < 0 && !strict) return;
            if (start < 0 || start >= length)
                throw Damaged("symbol table entry", Math.Max(0, start), "its object header is past the file's end");
            if (!visited.Add(start)) return;
            var head = Bytes(start, 16);
            if (head is not null && head[0] == 'O' && head[1] == 'H' && head[2] == 'D' && head[3] == 'R') return;
            if (head is null || head[0] != 1 || head[1] != 0)
            {
                // What an entry points to is read as an object header: neither version here is a damaged pointer.
                if (strict) throw Damaged("object header", start, "no object header where a symbol table points");
                return;
            }
            var size = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(8));
            if (size > length - start - 16)
                throw Damaged("object header", start, $"it claims {size} bytes of messages, past the end of the file");
            var blocks = new Queue<(long, long)>();
            blocks.Enqueue((start + 16, size));
            for (var n = 0; blocks.Count > 0 && n < 64; n++)
            {
                var (at, len) = blocks.Dequeue();
                var block = Bytes(at, len)!;
                for (var p = 0; p + 8 <= block.Length;)
                {
                    var type = BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(p));
                    var msize = BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(p + 2));
                    if (p + 8 + msize > block.Length)
                        throw Damaged("object header", start, $"a message of {msize} bytes runs past its block");
                    var data = block.AsSpan(p + 8, msize);
                    Message(type, data);
                    if (type == 0x10 && msize >= sizeOfOffsets + sizeOfLengths) blocks.Enqueue(Continuation(data));
                    p += 8 + msize;
                }
            }
        }

        /// <summary>
        /// The lengths inside one message must fit in it: PureHDF reads (and first allocates) what they claim.
        /// </summary>
        void Message(int type, ReadOnlySpan<byte> m)
        {
            var room = m.Length;
            void Need(long bytes, string what)
            {
                if (bytes < 0 || bytes > room)
                    throw new UserError($"{src}: an HDF5 {what} claims {bytes} bytes in a message of {room}; the "
                        + "file is corrupt — download or generate it again");
            }
            if (m.Length < 2) return;
            switch (type)
            {
                case 0x04:  // old fill value: size, value
                    if (m.Length >= 4) Need(4L + BinaryPrimitives.ReadUInt32LittleEndian(m), "fill value");
                    break;
                case 0x05:  // fill value
                {
                    var at = m[0] switch { 1 => 4, 2 => m.Length >= 4 && m[3] != 0 ? 4 : -1, 3 => (m[1] & 0x20) != 0
                        ? 2 : -1, _ => -1 };
                    if (at >= 0 && at + 4 <= m.Length)
                        Need(at + 4L + BinaryPrimitives.ReadUInt32LittleEndian(m[at..]), "fill value");
                    break;
                }
                case 0x06 when m.Length >= 2:  // link (version 2 headers): its name, and a hard link's header
                {
                    var flags = m[1];
                    var hard = (flags & 8) == 0 || m[2] == 0;
                    var at = 2 + ((flags & 8) != 0 ? 1 : 0) + ((flags & 4) != 0 ? 8 : 0) + ((flags & 16) != 0 ? 1 : 0);
                    var width = 1 << (flags & 3);
                    if (at + width > m.Length) break;
                    var end = at + width + (long)Field(m[at..], width);
                    Need(end, "link name");
                    if (hard)
                    {
                        Need(end + sizeOfOffsets, "link");
                        Header(Address(m[(int)end..]));
                    }
                    break;
                }
                case 0x03:  // datatype: an enumeration's members
                    if (m.Length >= 8 && (m[0] & 0x0F) == 8)
                    {
                        var members = BinaryPrimitives.ReadUInt16LittleEndian(m[1..]);
                        Need(8L + (long)members * BinaryPrimitives.ReadUInt32LittleEndian(m[4..]), "enumeration");
                    }
                    break;
                case 0x08:  // data layout: a version 1 B-tree of chunks
                    ChunkIndex(m);
                    break;
                case 0x02 or 0x15 when m.Length >= 2 + sizeOfOffsets:  // link / attribute info: a fractal heap
                {
                    var at = 2 + ((m[1] & 1) != 0 ? (type == 0x02 ? 8 : 2) : 0);
                    if (at + sizeOfOffsets <= m.Length) referenced.Add(Address(m[at..]));
                    break;
                }
                case 0x0B:  // filter pipeline
                    FilterPipeline(m, Need);
                    break;
                case 0x0C:  // attribute
                    Attribute(m, Need);
                    break;
            }
        }

        delegate void Needs(long bytes, string what);

        static long Pad8(long n) => (n + 7) / 8 * 8;

        void Attribute(ReadOnlySpan<byte> m, Needs need)
        {
            if (m.Length < 8) return;
            int version = m[0], flags = m[1];
            long name = BinaryPrimitives.ReadUInt16LittleEndian(m[2..]);
            long type = BinaryPrimitives.ReadUInt16LittleEndian(m[4..]);
            long space = BinaryPrimitives.ReadUInt16LittleEndian(m[6..]);
            var head = version == 3 ? 9 : 8;
            if (version == 1) (name, type, space) = (Pad8(name), Pad8(type), Pad8(space));
            need(head + name + type + space, "attribute");
            if (version != 1 && (flags & 3) != 0) return;  // a shared type or space: its size is elsewhere
            var t = m.Slice(head + (int)name, (int)type);
            var sp = m.Slice(head + (int)name + (int)type, (int)space);
            if (t.Length < 8 || sp.Length < 4) return;
            var elementSize = BinaryPrimitives.ReadUInt32LittleEndian(t[4..]);
            int rank = sp[1], spaceVersion = sp[0];
            var dims = spaceVersion == 1 ? 8 : 4;
            if (spaceVersion == 2 && sp[3] == 2) return;  // null dataspace: no data
            if (dims + rank * sizeOfLengths > sp.Length)  // PureHDF would read the dimensions past its end
                throw new UserError($"{src}: an HDF5 attribute's dataspace claims {rank} dimensions in {sp.Length} "
                    + "bytes; the file is corrupt — download or generate it again");
            double elements = 1;
            for (var i = 0; i < rank && dims + (i + 1) * sizeOfLengths <= sp.Length; i++)
                elements *= Field(sp[(dims + i * sizeOfLengths)..], sizeOfLengths);
            var data = elements * elementSize;
            need(data > long.MaxValue / 2 ? long.MaxValue : head + name + type + space + (long)data,
                "attribute's data");
        }

        /// <summary>The chunk B-tree (version 1) a layout message of version 1 to 3 names, if it is chunked.</summary>
        void ChunkIndex(ReadOnlySpan<byte> m)
        {
            int version = m[0];
            if (version == 4 && m.Length >= 5 && m[1] == 2)
            {
                // flags, rank, the width of the dims, the dims, the index type (3: a fixed array), its byte, address
                var at = 5 + m[3] * m[4];
                if (at + 2 + sizeOfOffsets <= m.Length && m[at] == 3) referenced.Add(Address(m[(at + 2)..]));
                return;
            }
            if (version == 3 && m.Length >= 3 + sizeOfOffsets && m[1] == 2)
                ChunkTree(Address(m[3..]), m[2], 0);
            else if (version is 1 or 2 && m.Length >= 8 + sizeOfOffsets && m[2] == 2)
                ChunkTree(Address(m[8..]), m[1], 0);
        }

        /// <summary>
        /// A node of a chunk B-tree: every chunk a leaf names (its address and its stored size, which PureHDF
        /// allocates before reading) lies in the file; inner nodes are followed.
        /// </summary>
        void ChunkTree(long start, int dims, int depth)
        {
            if (start < 0 || start >= length || depth > 32 || !visited.Add(start)) return;
            var head = Bytes(start, 8 + 2 * sizeOfOffsets);
            if (head is null || head[0] != 'T' || head[1] != 'R' || head[2] != 'E' || head[3] != 'E' || head[4] != 1)
                return;  // PureHDF refuses a node without its signature
            int level = head[5], entries = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(6));
            var key = 8 + 8L * dims;
            var body = Bytes(start + head.Length, entries * (key + sizeOfOffsets) + key)
                ?? throw Damaged("chunk index", start, $"its {entries} entries run past the end of the file");
            for (var i = 0; i < entries; i++)
            {
                var at = (int)(i * (key + sizeOfOffsets));
                var size = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(at));
                var child = Address(body.AsSpan(at + (int)key));
                if (level > 0) ChunkTree(child, dims, depth + 1);
                else if (child < 0 || child >= length || size > length - child)
                    throw Damaged("chunk index", start, $"a chunk of {size} bytes at {child} runs past the end of "
                        + "the file");
            }
        }

        void FilterPipeline(ReadOnlySpan<byte> m, Needs need)
        {
            int version = m[0], count = m[1];
            var at = version == 1 ? 8 : 2;
            for (var f = 0; f < count; f++)
            {
                need(at + 2, "filter");
                var id = BinaryPrimitives.ReadUInt16LittleEndian(m[at..]);
                var hasName = version == 1 || id >= 256;
                var fixedPart = hasName ? 8 : 6;
                need(at + fixedPart, "filter");
                var nameLength = hasName ? BinaryPrimitives.ReadUInt16LittleEndian(m[(at + 2)..]) : 0;
                var values = BinaryPrimitives.ReadUInt16LittleEndian(m[(at + fixedPart - 2)..]);
                long next = at + fixedPart + (version == 1 ? Pad8(nameLength) : nameLength) + 4L * values
                    + (version == 1 && values % 2 == 1 ? 4 : 0);
                need(next, "filter's name and parameters");
                at = (int)next;
            }
        }

        /// <summary>A local heap (names of version 1 groups): its data segment lies in the file.</summary>
        void LocalHeap(long start)
        {
            var head = Bytes(start, 8 + 2 * sizeOfLengths + sizeOfOffsets);
            if (head is null || head[4] != 0 || head[5] != 0 || head[6] != 0 || head[7] != 0) return;
            var size = Length(head.AsSpan(8));
            var address = Address(head.AsSpan(8 + 2 * sizeOfLengths));
            if (address < 0) return;
            if (address >= length || size > (ulong)(length - address))
                throw Damaged("local heap", start, $"its {size}-byte data segment reaches past the end of the file");
        }

        /// <summary>A fixed-array chunk index: its header, and its data block when it is not paged.</summary>
        void FixedArray(long start)
        {
            var total = 4 + 4 + sizeOfLengths + sizeOfOffsets + 4;
            var block = Bytes(start, total);
            if (block is null || block[4] != 0) return;
            if (Checksum(block) is { } why)
            {
                suspects[start] = ("fixed-array index", why);
                return;
            }
            int entrySize = block[6], pageBits = block[7];
            var entries = Length(block.AsSpan(8));
            var address = Field(block.AsSpan(8 + sizeOfLengths), sizeOfOffsets);
            if (address == ulong.MaxValue) return;  // no data block yet
            if (pageBits < 32 && entries > 1UL << pageBits) return;  // paged: each page has its own checksum
            var size = 4 + 2 + (ulong)sizeOfOffsets + entries * (ulong)entrySize + 4;
            if (entries > (ulong)length || address >= (ulong)length || size > (ulong)length - address)
                throw Damaged("fixed-array index", start, $"its {entries} entries reach past the end of the file");
            var data = Bytes((long)address, (long)size)!;
            if (data[0] == 'F' && data[1] == 'A' && data[2] == 'D' && data[3] == 'B')
                Verify(data, "fixed-array data block", (long)address);
        }

        /// <summary>
        /// A fractal heap (where a version 2 header keeps its links or attributes once there are many): its header
        /// matches its checksum, and so does its root direct block when the heap checksums its blocks (libhdf5 does
        /// for attributes and links). A root indirect block (a large heap) is not followed.
        /// </summary>
        void FractalHeap(long start)
        {
            var l = sizeOfLengths;
            var o = sizeOfOffsets;
            var fixedPart = 4 + 1 + 2 + 2 + 1 + 4 + l + o + l + o + 8 * l + 2 + l + l + 2 + 2 + o + 2;
            var head = Bytes(start, fixedPart);
            if (head is null || head[4] != 0) return;
            var filters = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(7));
            var block = Bytes(start, fixedPart + (filters > 0 ? l + 4 + filters : 0) + 4);
            if (block is null) return;
            if (Checksum(block) is { } why)
            {
                suspects[start] = ("fractal heap", why);
                return;
            }
            var flags = head[9];
            var at = 4 + 1 + 2 + 2 + 1 + 4 + l + o + l + o + 8 * l + 2;
            var startSize = Length(head.AsSpan(at));
            var maxHeapBits = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(at + 2 * l));
            var root = Address(head.AsSpan(at + 2 * l + 4));
            var rows = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(at + 2 * l + 4 + o));
            if (root < 0 || rows != 0 || filters > 0 || (flags & 2) == 0) return;
            if (root >= length || startSize > (ulong)(length - root) || startSize < 16)
                throw Damaged("fractal heap", start, $"its {startSize}-byte root block runs past the end of the file");
            var direct = Bytes(root, (long)startSize)!;
            if (direct[0] != 'F' || direct[1] != 'H' || direct[2] != 'D' || direct[3] != 'B')
                throw Damaged("fractal heap", start, "its root block is not a direct block");
            // The block's checksum covers the whole block, its own field as zeros.
            var field = 5 + o + (maxHeapBits + 7) / 8;
            if (field + 4 > direct.Length) return;
            var stored = BinaryPrimitives.ReadUInt32LittleEndian(direct.AsSpan(field));
            direct.AsSpan(field, 4).Clear();
            var computed = Lookup3(direct);
            if (stored != computed)
                throw Damaged("fractal heap block", root, $"checksum {stored:x8} stored, {computed:x8} computed");
        }

        /// <summary>Null when the block's last 4 bytes are the lookup3 checksum of the rest, else why not.</summary>
        static string? Checksum(byte[] block)
        {
            var stored = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(block.Length - 4));
            var computed = Lookup3(block.AsSpan(0, block.Length - 4));
            return stored == computed ? null : $"checksum {stored:x8} stored, {computed:x8} computed";
        }

        void Verify(byte[] block, string what, long at)
        {
            if (Checksum(block) is { } why) throw Damaged(what, at, why);
        }
    }

    /// <summary>Bob Jenkins' lookup3 hashlittle with initial value 0: HDF5's metadata checksum.</summary>
    internal static uint Lookup3(ReadOnlySpan<byte> k)
    {
        uint a, b, c;
        a = b = c = 0xdeadbeef + (uint)k.Length;
        while (k.Length > 12)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(k);
            b += BinaryPrimitives.ReadUInt32LittleEndian(k[4..]);
            c += BinaryPrimitives.ReadUInt32LittleEndian(k[8..]);
            a -= c; a ^= Rot(c, 4); c += b;
            b -= a; b ^= Rot(a, 6); a += c;
            c -= b; c ^= Rot(b, 8); b += a;
            a -= c; a ^= Rot(c, 16); c += b;
            b -= a; b ^= Rot(a, 19); a += c;
            c -= b; c ^= Rot(b, 4); b += a;
            k = k[12..];
        }
        if (k.Length == 0) return c;
        Span<byte> tail = stackalloc byte[12];
        tail.Clear();
        k.CopyTo(tail);
        c += BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]);
        b += BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]);
        a += BinaryPrimitives.ReadUInt32LittleEndian(tail);
        c ^= b; c -= Rot(b, 14);
        a ^= c; a -= Rot(c, 11);
        b ^= a; b -= Rot(a, 25);
        c ^= b; c -= Rot(b, 16);
        a ^= c; a -= Rot(c, 4);
        b ^= a; b -= Rot(a, 14);
        c ^= b; c -= Rot(b, 24);
        return c;
    }

    static uint Rot(uint x, int k) => (x << k) | (x >> (32 - k));
}
