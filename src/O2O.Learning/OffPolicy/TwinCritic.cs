using O2O.Learning.Nn;
using O2O.Learning.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.OffPolicy;

/// <summary>
/// Two Q networks Q₁, Q₂(s, a) (ReLU MLPs over [s ‖ a]) with Polyak-averaged target copies, as SAC, CQL and IQL
/// use them to curb overestimation (Fujimoto et al. 2018's clipped double-Q). State dict keys q1.*, q2.*,
/// q1_target.*, q2_target.*.
/// </summary>
public sealed class TwinCritic : IDisposable
{
    readonly Mlp q1, q2, q1Target, q2Target;
    readonly Scalar keep, tau;

    public TwinCritic(int obsDim, int actDim, IReadOnlyList<int> hidden, double polyakTau)
    {
        q1 = new Mlp("q1", obsDim + actDim, hidden, 1, Activation.Relu, outputGain: 1.0);
        q2 = new Mlp("q2", obsDim + actDim, hidden, 1, Activation.Relu, outputGain: 1.0);
        q1Target = new Mlp("q1", obsDim + actDim, hidden, 1, Activation.Relu, outputGain: 1.0);
        q2Target = new Mlp("q2", obsDim + actDim, hidden, 1, Activation.Relu, outputGain: 1.0);
        CopyWeights(q1, q1Target);
        CopyWeights(q2, q2Target);
        keep = 1 - polyakTau;
        tau = polyakTau;
    }

    /// <summary>The online networks' parameters (what the critic optimiser updates).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> Parameters() => q1.parameters().Concat(q2.parameters());

    /// <summary>Q₁ and Q₂ of the pairs, one value per row.</summary>
    public (Tensor Q1, Tensor Q2) Values(Tensor obs, Tensor actions)
    {
        using var scope = NewDisposeScope();
        var input = cat([obs, actions], 1);
        return (q1.call(input).view(-1).MoveToOuterDisposeScope(), q2.call(input).view(-1).MoveToOuterDisposeScope());
    }

    /// <summary>The target networks' Q₁', Q₂' of the pairs (no gradient).</summary>
    public (Tensor Q1, Tensor Q2) TargetValues(Tensor obs, Tensor actions)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var input = cat([obs, actions], 1);
        return (q1Target.call(input).view(-1).MoveToOuterDisposeScope(),
            q2Target.call(input).view(-1).MoveToOuterDisposeScope());
    }

    /// <summary>θ' ← (1 − τ)·θ' + τ·θ for both targets.</summary>
    public void UpdateTargets()
    {
        SacLosses.SoftUpdate(q1Target, q1, keep, tau);
        SacLosses.SoftUpdate(q2Target, q2, keep, tau);
    }

    public void WriteState(TrainingState state)
    {
        state.AddModule("q1.", q1);
        state.AddModule("q2.", q2);
        state.AddModule("q1_target.", q1Target);
        state.AddModule("q2_target.", q2Target);
    }

    public void ReadState(TrainingState state)
    {
        state.CopyInto("q1.", q1);
        state.CopyInto("q2.", q2);
        state.CopyInto("q1_target.", q1Target);
        state.CopyInto("q2_target.", q2Target);
    }

    static void CopyWeights(nn.Module from, nn.Module to)
    {
        using var _ = no_grad();
        var src = from.state_dict();
        foreach (var (k, v) in to.state_dict()) v.copy_(src[k]);
    }

    public void Dispose()
    {
        q1.Dispose();
        q2.Dispose();
        q1Target.Dispose();
        q2Target.Dispose();
        keep.Dispose();
        tau.Dispose();
    }
}
