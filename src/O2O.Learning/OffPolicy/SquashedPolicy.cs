using O2O.Learning.Nn;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Acts with a <see cref="SquashedGaussianActor"/> in plain C# (see <see cref="MlpSnapshot"/>): tanh(μ(s)) when
/// deterministic, else tanh(μ + σ·ξ) with ξ from the caller's RNG. Refresh after every update. With a normaliser
/// (CQL's agents learn on z-scored observations) each raw observation is normalised first.
/// </summary>
public sealed class SquashedPolicy : IPolicy
{
    readonly MlpSnapshot net;
    readonly float[] output;
    readonly int actDim;
    readonly RunningNorm? norm;
    readonly float[] normObs;

    public SquashedPolicy(SquashedGaussianActor actor, RunningNorm? norm = null)
    {
        net = new MlpSnapshot(actor.Net);
        output = new float[2 * actor.ActDim];
        actDim = actor.ActDim;
        this.norm = norm;
        normObs = new float[actor.ObsDim];
    }

    public void Refresh(SquashedGaussianActor actor) => net.Refresh(actor.Net);

    public void Act(ReadOnlySpan<float> obs, int n, Span<float> actions, Rng? rng)
    {
        const double halfRange = 0.5 * (SquashedGaussianActor.LogStdMax - SquashedGaussianActor.LogStdMin);
        var obsDim = net.Input;
        for (var i = 0; i < n; i++)
        {
            var row = obs.Slice(i * obsDim, obsDim);
            if (norm is not null)
            {
                norm.Normalize(row, normObs, 1);
                row = normObs;
            }
            net.Forward(row, output);
            for (var j = 0; j < actDim; j++)
            {
                double u = output[j];
                if (rng is not null)
                {
                    var logStd = SquashedGaussianActor.LogStdMin + halfRange * (Math.Tanh(output[actDim + j]) + 1);
                    u += Math.Exp(logStd) * rng.NextGaussian();
                }
                actions[i * actDim + j] = (float)Math.Tanh(u);
            }
        }
    }
}
