namespace O2O.Experiments;
/// <summary>Where the run layout of the notebook lives: {root}/data, {root}/checkpts, {root}/logs.</summary>
public sealed record RunLayout(string Root)
{
    public string DataDir => Path.Combine(Root, "data");
    public string CheckpointDir => Path.Combine(Root, "checkpts");
    public string LogDir => Path.Combine(Root, "logs");
}
