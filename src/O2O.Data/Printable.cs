namespace O2O.Data;

/// <summary>Text from a file quoted in a one-line message: a damaged file's names and headers hold any bytes.</summary>
internal static class Printable
{
    /// <summary>Printable ASCII only (others become '?'), at most <paramref name="max"/> characters.</summary>
    public static string Of(string s, int max = 80)
    {
        var clean = string.Concat(s.Take(max).Select(c => c is >= ' ' and <= '~' ? c : '?'));
        return s.Length > max ? clean + "…" : clean;
    }
}
