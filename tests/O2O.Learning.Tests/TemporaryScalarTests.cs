using System.Reflection;
using Xunit.Abstractions;

namespace O2O.Learning.Tests;

/// <summary>
/// TorchSharp frees a Scalar in its finalizer. A Scalar made on the fly — by an implicit double → Scalar
/// conversion inside a TorchSharp method such as <c>Tensor.add(Tensor)</c> (its alpha = 1), <c>add_(Scalar)</c>,
/// <c>square()</c> or <c>tensor * 0.5</c> — is unreachable once its handle is read, so a GC during the native call
/// can free it while libtorch reads it: "Expected false to be true … toFloat" or "Unknown scalar type", after
/// minutes to hours of training (seen in PPO and in DSR training). Our code calls the explicit-Scalar overloads
/// with scalars that outlive the call. This test finds, by reading IL, every TorchSharp method that converts
/// to Scalar inside, and fails if our training and scoring code calls any of them.
/// </summary>
public class TemporaryScalarTests(ITestOutputHelper output)
{
    static readonly Assembly Torch = typeof(TorchSharp.Scalar).Assembly;

    /// <summary>Every method and constructor declared by <paramref name="t"/>, whatever its visibility.</summary>
    static IEnumerable<MethodBase> MethodsOf(Type t)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
            | BindingFlags.Static | BindingFlags.DeclaredOnly;
        return t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all));
    }

    static IEnumerable<(MethodBase Caller, MethodBase Callee)> Calls(Type t)
    {
        foreach (var m in MethodsOf(t))
        {
            byte[]? il;
            try { il = m.GetMethodBody()?.GetILAsByteArray(); }
            catch (Exception e) when (e is BadImageFormatException or InvalidOperationException) { continue; }
            if (il is null) continue;
            for (var i = 0; i + 4 < il.Length; i++)
            {
                if (il[i] is not (0x28 or 0x6F or 0x73)) continue; // call, callvirt, newobj
                MethodBase? callee = null;
                var typeArguments = t.IsGenericType ? t.GetGenericArguments() : null;
                var methodArguments = m.IsGenericMethod ? m.GetGenericArguments() : null;
                var token = BitConverter.ToInt32(il, i + 1);
                try { callee = m.Module.ResolveMethod(token, typeArguments, methodArguments); }
                catch (Exception e) when (IsResolveFailure(e)) { }
                if (callee is not null) yield return (m, callee);
            }
        }
    }

    static bool IsResolveFailure(Exception e) =>
        e is ArgumentException or BadImageFormatException or TypeLoadException or MissingMethodException;

    /// <summary>call Scalar.op_Implicit not followed by a store (stloc*, stfld, stsfld).</summary>
    static IEnumerable<(MethodBase Method, int Offset)> ImplicitScalarTemporaries(
        Type t, HashSet<MethodInfo> implicitScalar)
    {
        foreach (var m in MethodsOf(t))
        {
            var il = m.GetMethodBody()?.GetILAsByteArray();
            if (il is null) continue;
            for (var i = 0; i + 5 < il.Length; i++)
            {
                if (il[i] != 0x28) continue;
                MethodBase? callee = null;
                try { callee = m.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1)); }
                catch (Exception e) when (IsResolveFailure(e)) { }
                if (callee is not MethodInfo mi || !implicitScalar.Contains(mi)) continue;
                var next = il[i + 5];
                var stored = next is >= 0x0A and <= 0x0D or 0x13 or 0x7D or 0x80
                    || (next == 0xFE && i + 6 < il.Length && il[i + 6] == 0x0E);
                if (!stored) yield return (m, i);
            }
        }
    }

    static Type[] TypesOf(Assembly a)
    {
        try { return a.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.Where(t => t is not null).ToArray()!; }
    }

    [Fact]
    public void Training_and_scoring_code_never_calls_a_TorchSharp_method_that_makes_a_temporary_scalar()
    {
        var implicitScalar = typeof(TorchSharp.Scalar).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name == "op_Implicit").ToHashSet();
        // Tensor methods and operators (and torch.* functions) that build a Scalar internally.
        var hazardous = new HashSet<MethodBase>();
        var scalarMakers = TypesOf(Torch)
            .Where(t => t.FullName is "TorchSharp.torch+Tensor" or "TorchSharp.torch"
                or "TorchSharp.torch+nn+functional");
        foreach (var t in scalarMakers)
            foreach (var (caller, callee) in Calls(t))
                if (callee is MethodInfo mi && implicitScalar.Contains(mi)) hazardous.Add(caller);
        // …and those that reach such a method in one more step (e.g. operator + → add(Tensor) → alpha = 1).
        foreach (var t in TypesOf(Torch).Where(t => t.FullName is "TorchSharp.torch+Tensor"))
            foreach (var (caller, callee) in Calls(t))
                if (hazardous.Contains(callee)) hazardous.Add(caller);
        Assert.Contains(hazardous, m => m.Name == "add" && m.GetParameters().Length == 1); // the scan works

        var ours = typeof(O2O.Learning.Dsr.SupportModel).Assembly;
        var found = new List<string>();
        foreach (var t in TypesOf(ours))
            foreach (var (caller, callee) in Calls(t))
                if (hazardous.Contains(callee))
                {
                    var parameters = string.Join(", ", callee.GetParameters().Select(p => p.ParameterType.Name));
                    found.Add(
                        $"{t.FullName}.{caller.Name} calls {callee.DeclaringType?.Name}.{callee.Name}({parameters})");
                }
        // Our own implicit conversions: a Scalar made by op_Implicit and passed straight on (not stored in a
        // local or field that outlives the call) has the same hazard.
        foreach (var t in TypesOf(ours))
            foreach (var (m, offset) in ImplicitScalarTemporaries(t, implicitScalar))
                found.Add($"{t.FullName}.{m.Name} passes a temporary Scalar (IL offset {offset})");
        foreach (var f in found.Distinct()) output.WriteLine(f);
        Assert.True(found.Count == 0, $"{found.Distinct().Count()} calls make temporary " +
            $"scalars:\n{string.Join("\n", found.Distinct())}");
    }
}
