using O2O.Learning.Nn;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Acts with a <see cref="SquashedGaussianActor"/> in plain C# (see <see cref="MlpSnapshot"/>): tanh(μ(s)) when
/// deterministic, else tanh(μ + σ·ξ) with ξ from the caller's RNG. Refresh after every update.
/// </summary>
public sealed class SquashedPolicy : IPolicy
{
    readonly MlpSnapshot net;
    readonly float[] output;
    readonly int actDim;

    public SquashedPolicy(SquashedGaussianActor actor)
    {
        net = new MlpSnapshot(actor.Net);
        output = new float[2 * actor.ActDim];
        actDim = actor.ActDim;
    }

    public void Refresh(SquashedGaussianActor actor) => net.Refresh(actor.Net);

    public void Act(ReadOnlySpan<float> obs, int n, Span<float> actions, Rng? rng)
    {
        const double halfRange = 0.5 * (SquashedGaussianActor.LogStdMax - SquashedGaussianActor.LogStdMin);
        var obsDim = net.Input;
        for (var i = 0; i < n; i++)
        {
            net.Forward(obs.Slice(i * obsDim, obsDim), output);
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
