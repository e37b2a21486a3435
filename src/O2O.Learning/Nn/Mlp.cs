using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace O2O.Learning.Nn;

/// <summary>Hidden-layer activation of an <see cref="Mlp"/>.</summary>
public enum Activation { Tanh, Relu }

/// <summary>
/// A plain multi-layer perceptron with named layers (fc0, fc1, …, out) so state-dict keys are
/// predictable in PyTorch. Orthogonal init: hidden layers gain √2, output layer a chosen gain, zero biases.
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly List<Linear> layers = new();
    readonly Activation activation;

    public Mlp(string name, int input, IReadOnlyList<int> hidden, int output, Activation activation, double outputGain)
        : base(name)
    {
        this.activation = activation;
        var sizes = new List<int> { input };
        sizes.AddRange(hidden);
        for (var i = 0; i < hidden.Count; i++) layers.Add(nn.Linear(sizes[i], sizes[i + 1]));
        layers.Add(nn.Linear(sizes[^1], output));
        using (no_grad())
        {
            for (var i = 0; i < layers.Count; i++)
            {
                nn.init.orthogonal_(layers[i].weight!, i == layers.Count - 1 ? outputGain : Math.Sqrt(2));
                nn.init.zeros_(layers[i].bias!);
            }
        }
        Input = input;
        Output = output;
        Hidden = hidden.ToArray();
        // Register with readable names: fc0, fc1, ..., out.
        for (var i = 0; i < layers.Count; i++)
            register_module(i == layers.Count - 1 ? "out" : $"fc{i}", layers[i]);
    }

    /// <summary>Input width.</summary>
    public int Input { get; }
    /// <summary>Output width.</summary>
    public int Output { get; }
    /// <summary>Hidden widths.</summary>
    public int[] Hidden { get; }
    /// <summary>Hidden activation.</summary>
    public Activation Act => activation;

    /// <summary>The linear layers in call order.</summary>
    public IReadOnlyList<Linear> Layers => layers;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        for (var i = 0; i < layers.Count - 1; i++)
            h = activation == Activation.Tanh ? layers[i].call(h).tanh() : nn.functional.relu(layers[i].call(h));
        return layers[^1].call(h).MoveToOuterDisposeScope();
    }
}
