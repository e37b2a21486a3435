using O2O.Core;
using O2O.Learning.Ppo;

namespace O2O.Learning.OffPolicy;

/// <summary>The settings every fine-tuning of an offline agent shares (IQL, SAC from CQL), checked in one place.
/// </summary>
public static class FineTuningRules
{
    /// <summary>One-line errors naming the properties, for a learner of <paramref name="algo"/>.</summary>
    public static void Require(string offlineData, double? mixingRatio, long warmupSteps, int bufferSize,
        bool online, string? dsrPath, DsrShapingOptions shaping, string algo)
    {
        OptionError.Require(offlineData is "keep" or "drop", $"OfflineData '{offlineData}' must be keep or drop",
            "OfflineData");
        OptionError.Require(mixingRatio is null or (>= 0 and <= 1), $"MixingRatio must be in [0, 1], got {mixingRatio}",
            "MixingRatio");
        OptionError.Require(warmupSteps >= 0, $"WarmupSteps must be ≥ 0, got {warmupSteps}", "WarmupSteps");
        OptionError.Require(warmupSteps == 0 || online, "WarmupSteps is a fine-tuning setting; give InitAgent",
            "WarmupSteps", "InitAgent");
        OptionError.Require(bufferSize > 0, $"BufferSize must be > 0, got {bufferSize}", "BufferSize");
        OptionError.Require(dsrPath is null || online,
            $"DsrPath shapes online transitions: it needs InitAgent (fine-tuning), not offline {algo}",
            "DsrPath", "InitAgent");
        if (dsrPath is not null) shaping.Validate();
    }
}
