using System.Globalization;
using O2O.Core;
using O2O.Learning.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace O2O.Learning.Dsr;

/// <summary>Maximum-likelihood training of the joint and state flows, and their held-out log-likelihood.</summary>
internal static class FlowTraining
{
    /// <summary>
    /// Rows per held-out evaluation pass, to bound memory on large held-out sets. It only groups the logged sums
    /// (no randomness is drawn), but a new size changes the logged values in their last digits.
    /// </summary>
    internal const int HeldOutChunkRows = 8192;

    /// <summary>
    /// Fit both flows together (loss −(mean log p(s, a) + mean log p(s))) on z-scored states and raw actions, with
    /// Gaussian dequantisation noise of options.StateNoise / ActionNoise; logs train and held-out log-likelihood.
    /// </summary>
    internal static void Train(SupportModel model, DsrOptions options, Tensor zTrain, Tensor aTrain, Tensor zHeld,
        Tensor aHeld, Action<string>? log)
    {
        var jointFlow = (RealNvpFlow)model.JointNet;
        var stateFlow = (RealNvpFlow)model.StateNet;
        double sumJoint = 0, sumState = 0;
        long seen = 0;
        // Explicit scalars: implicit ones are freed by the finalizer, possibly while libtorch reads them.
        using Scalar stateNoise = options.StateNoise, actionNoise = options.ActionNoise;
        TorchSharp.Modules.Parameter[][] groups = [[.. jointFlow.parameters()], [.. stateFlow.parameters()]];
        MinibatchTraining.Run(options, groups, [zTrain, aTrain], rows =>
        {
            var zs = rows[0];
            var a = rows[1];
            var batch = (int)zs.shape[0];
            if (options.StateNoise > 0) zs = zs.Plus(randn_like(zs).mul(stateNoise));
            if (options.ActionNoise > 0) a = a.Plus(randn_like(a).mul(actionNoise));
            var x = cat([zs, a], 1);
            seen += batch;
            // Loss −(mean log p(s, a) + mean log p(s)): the two flows share no parameter, so each part is the
            // negated mean of one flow (the gradient of the sum, exactly).
            return
            [
                () =>
                {
                    var lpJ = jointFlow.forward(x).mean();
                    sumJoint += lpJ.item<float>() * batch;
                    return -lpJ;
                },
                () =>
                {
                    var lpS = stateFlow.forward(zs).mean();
                    sumState += lpS.item<float>() * batch;
                    return -lpS;
                },
            ];
        }, (epoch, elapsed) =>
        {
            var (hj, hs) = HeldOutLogLik(jointFlow, stateFlow, zHeld, aHeld);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"dsr epoch {epoch}/{options.Epochs}: train ll joint {sumJoint / seen:F3} state {sumState / seen:F3}"
                + $" | held-out ll joint {hj:F3} state {hs:F3} (nats per pair, z-scored states)"
                + $" {elapsed.TotalSeconds:F2}s"));
            if (!double.IsFinite(sumJoint) || !double.IsFinite(sumState))
                throw new OptionError(
                    "DSR flow training diverged (non-finite log-likelihood); lower LearningRate",
                    nameof(DsrOptions.LearningRate));
            sumJoint = sumState = 0;
            seen = 0;
        }, log);
    }

    /// <summary>
    /// Maximum likelihood on raw D-dimensional points (random minibatches with replacement, cosine learning rate);
    /// for tests and tools.
    /// </summary>
    internal static void FitFlow(RealNvpFlow flow, Tensor data, int steps, int batch, double lr)
    {
        var parameters = flow.parameters().ToArray();
        using var opt = optim.Adam(parameters, lr);
        var n = data.shape[0];
        var schedule = optim.lr_scheduler.CosineAnnealingLR(opt, steps);
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var x = data.index_select(0, randint(0, n, [batch]));
            var loss = -flow.forward(x).mean();
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(parameters, MinibatchTraining.GradientClipNorm);
            opt.step();
            schedule.step();
        }
    }

    /// <summary>Mean held-out log p(s, a) and log p(s) in nats per pair (states z-scored).</summary>
    internal static (double Joint, double State) HeldOutLogLik(RealNvpFlow jointFlow, RealNvpFlow stateFlow,
        Tensor zHeld, Tensor aHeld)
    {
        using var _ = no_grad();
        double sj = 0, ss = 0;
        var n = zHeld.shape[0];
        for (long start = 0; start < n; start += HeldOutChunkRows)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(HeldOutChunkRows, n - start);
            var zs = zHeld.narrow(0, start, len);
            var a = aHeld.narrow(0, start, len);
            sj += jointFlow.forward(cat([zs, a], 1)).sum().item<float>();
            ss += stateFlow.forward(zs).sum().item<float>();
        }
        return (sj / n, ss / n);
    }
}
