using System.Text;

namespace O2O.Reliability.Fuzz;

/// <summary>
/// Mutations of text formats (CSV logs, YAML sweep specs, JSON metadata): lines dropped, repeated (a duplicated key
/// or row), swapped or re-indented, fields removed or added, values replaced by hostile ones (NaN, 1e999, 10^12,
/// empty, a YAML alias, deep nesting), truncation at line and field boundaries, and byte-level damage.
/// </summary>
public static class TextMutations
{
    static readonly string[] Values =
    [
        "", "nan", "NaN", "inf", "-inf", "1e999", "-1e999", "1000000000000", "99999999999999999999", "-1", "0",
        "0x10", "1,5", "\"", "'", "~", "null", "[", "]", "{", "}", "&a", "*a", "*undefined", "!!binary AAAA",
        "!!python/object/apply:os.system ['true']", "{a: 1, a: 2}", "[1, [2, [3]]]", "- x", ": ", "#", "\t",
        "\u00e9\u00e8", "\ud83d\ude00", "\u0000", new string('x', 5000), "1.5", "-0", "+7", "1_000", "true",
    ];

    public static (byte[], string) Mutate(byte[] bytes, Random r, IReadOnlyList<string> keys)
    {
        if (r.Next(8) == 0) return Mutations.Any(bytes, r, Boundaries(bytes), [], keys);
        var text = Encoding.UTF8.GetString(bytes);
        var lines = text.Split('\n').ToList();
        if (lines.Count == 0) lines.Add("");
        var i = r.Next(lines.Count);
        string what;
        switch (r.Next(12))
        {
            case 0:
                what = $"drop line {i}";
                lines.RemoveAt(i);
                break;
            case 1:
                lines.Insert(i, lines[i]);
                what = $"repeat line {i}";
                break;
            case 2:
            {
                var j = r.Next(lines.Count);
                (lines[i], lines[j]) = (lines[j], lines[i]);
                what = $"swap lines {i} and {j}";
                break;
            }
            case 3:
                lines[i] = r.Next(2) == 0 ? "  " + lines[i] : lines[i].TrimStart();
                what = $"re-indent line {i}";
                break;
            case 4 or 5 or 6:
            {
                var (line, w) = ReplaceValue(lines[i], r);
                lines[i] = line;
                what = $"line {i}: {w}";
                break;
            }
            case 7:
            {
                var sep = lines[i].Contains(',') ? ',' : ' ';
                var parts = lines[i].Split(sep).ToList();
                var k = r.Next(parts.Count);
                if (r.Next(2) == 0 && parts.Count > 1) parts.RemoveAt(k); else parts.Insert(k, parts[k]);
                lines[i] = string.Join(sep, parts);
                what = $"line {i}: drop or repeat field {k}";
                break;
            }
            case 8:
            {
                var depth = 1 + r.Next(r.Next(2) == 0 ? 50 : 20000);
                var open = r.Next(3) switch { 0 => "[", 1 => "{a: ", _ => "- " };
                lines.Insert(i, "x: " + string.Concat(Enumerable.Repeat(open, depth)));
                what = $"nest {depth} × '{open.Trim()}' at line {i}";
                break;
            }
            case 9:
            {
                // YAML anchors and aliases that multiply on expansion ("billion laughs").
                var n = 2 + r.Next(12);
                var sb = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                for (var k = 1; k < n; k++)
                    sb.Append($"a{k}: &a{k} [*a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}]\n");
                lines.Insert(r.Next(2) == 0 ? 0 : i, sb.ToString().TrimEnd('\n'));
                what = $"{n} levels of aliases at line {i}";
                break;
            }
            case 10:
            {
                var cut = Boundaries(bytes);
                return Mutations.TruncateNear(bytes, cut, r);
            }
            default:
                lines[i] = lines[i].Replace("\r", "") + (r.Next(2) == 0 ? "\r" : "\u00a0");
                what = $"line {i}: CR or NBSP";
                break;
        }
        return (Encoding.UTF8.GetBytes(string.Join('\n', lines)), what);
    }

    static (string, string) ReplaceValue(string line, Random r)
    {
        var v = Values[r.Next(Values.Length)];
        var shown = v.Length > 20 ? $"{v.Length} chars" : v;
        var colon = line.IndexOf(':');
        if (colon >= 0 && r.Next(2) == 0) return (line[..(colon + 1)] + " " + v, $"value -> {shown}");
        var fields = line.Split(',');
        if (fields.Length > 1)
        {
            var k = r.Next(fields.Length);
            fields[k] = v;
            return (string.Join(',', fields), $"field {k} -> {shown}");
        }
        var at = r.Next(line.Length + 1);
        return (line[..at] + v + line[at..], $"insert {shown} at {at}");
    }

    /// <summary>Line starts, and each line's field and key separators.</summary>
    public static List<int> Boundaries(byte[] b)
    {
        var list = new List<int> { 0 };
        for (var i = 0; i < b.Length; i++)
            if (b[i] is (byte)'\n' or (byte)',' or (byte)':' or (byte)'[' or (byte)'{')
            {
                list.Add(i);
                list.Add(i + 1);
            }
        list.Add(b.Length);
        return [.. list.Distinct()];
    }
}
