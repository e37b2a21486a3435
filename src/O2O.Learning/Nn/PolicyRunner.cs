using O2O.Learning.Checkpoints;

namespace O2O.Learning.Nn;

/// <summary>
/// Acts with a Gaussian actor in plain C# (see <see cref="MlpSnapshot"/>): normalise the observation,
/// evaluate the mean, add σ·N(0, 1) noise unless deterministic. Refresh after every update.
/// </summary>
public sealed class PolicyRunner : IPolicy
{
    readonly MlpSnapshot mean;
    readonly float[] std;
    readonly RunningNorm norm;
    float[] normObs;

    public PolicyRunner(GaussianActor actor, RunningNorm norm)
    {
        mean = new MlpSnapshot(actor.Mean);
        std = new float[actor.ActDim];
        this.norm = norm;
        normObs = new float[actor.ObsDim];
        Refresh(actor);
    }

    public PolicyRunner(ActorBundle bundle) : this(bundle.Actor, bundle.ObsNorm) { }

    public int ObsDim => mean.Input;
    /// <summary>Current σ per action dimension.</summary>
    public ReadOnlySpan<float> Std => std;
    public int ActDim => mean.Output;

    /// <summary>Copy weights and σ from the actor.</summary>
    public void Refresh(GaussianActor actor)
    {
        mean.Refresh(actor.Mean);
        using var scope = TorchSharp.torch.NewDisposeScope(); // frees the intermediate detach() tensor
        var ls = actor.LogStd.detach().cpu();
        var l = ls.data<float>().ToArray();
        for (var i = 0; i < std.Length; i++) std[i] = MathF.Exp(l[i]);
    }

    /// <summary>
    /// Compute actions for <paramref name="n"/> raw observations. <paramref name="rng"/> null means
    /// deterministic (the mean). Writes the pre-clip actions (what log-probs refer to).
    /// </summary>
    public void Act(ReadOnlySpan<float> obs, int n, Span<float> actions, Rng? rng)
    {
        int od = ObsDim, ad = ActDim;
        if (normObs.Length < n * od) normObs = new float[n * od];
        norm.Normalize(obs[..(n * od)], normObs, n);
        // One pass over the weights for all rows; each row's mean is the same as alone (MlpSnapshot.Forward).
        mean.Forward(normObs, n, actions);
        if (rng is not null)
            for (var i = 0; i < n; i++)
                for (var j = 0; j < ad; j++) actions[i * ad + j] += std[j] * (float)rng.NextGaussian();
    }
}
