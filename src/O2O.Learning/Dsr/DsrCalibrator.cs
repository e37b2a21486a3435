namespace O2O.Learning.Dsr;

/// <summary>Calibrates every support mode of a trained DSR on its held-out pairs (docs/method.md).</summary>
internal static class DsrCalibrator
{
    /// <summary>
    /// Calibrate every mode (and, for flows, the radius score) on the noiseless held-out scores; the tempered score
    /// shares logp's calibration. Modes go in enum order, so the state calibration exists before the gated mode's
    /// score needs its tau.
    /// </summary>
    internal static void Calibrate(SupportModel model, float[] heldStates, float[] heldActions, int count)
    {
        var radiusToo = model.Kind == DsrKind.Flow;
        var g = new float[count];
        foreach (var mode in Enum.GetValues<SupportMode>())
        {
            foreach (var radius in radiusToo ? new[] { false, true } : [false])
            {
                model.RawScore(heldStates, heldActions, count, mode, g, radius ? DsrScore.Radius : DsrScore.LogP);
                model.SetCalibration(mode, radius, SupportCalibration.FromScores(g, model.Options.Rho));
            }
        }
    }
}
