namespace O2O.Data;
/// <summary>Marker for the data layer assembly.</summary>
internal static class AssemblyInfo { }
