using System.Runtime.InteropServices;

namespace O2O.Sim.Interop;

/// <summary>The libmujoco entry points O2O uses. Every call into MuJoCo goes through this class.</summary>
/// <remarks>
/// Bound to the versioned soname so the plain "mujoco" -dev symlink is not needed at run time.
/// mjModel and mjData are opaque here: fields are read through <see cref="MuJoCoOffsets"/>, which is
/// generated from the headers of the same version (checked at start-up by <see cref="MuJoCo.EnsureLoaded"/>).
/// </remarks>
internal static unsafe partial class NativeMethods
{
    /// <summary>Debian's libmujoco2.2.2 ships exactly this file name.</summary>
    public const string Lib = "libmujoco.so.2.2.2";

    /// <summary>mj_version(): 222 for MuJoCo 2.2.2.</summary>
    [LibraryImport(Lib, EntryPoint = "mj_version")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial int mj_version();

    /// <summary>
    /// Parse an MJCF file and compile it; null with a message in <paramref name="error"/> on failure.
    /// </summary>
    [LibraryImport(Lib, EntryPoint = "mj_loadXML", StringMarshalling = StringMarshalling.Utf8)]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial nint mj_loadXML(string filename, nint vfs, byte* error, int errorSize);

    [LibraryImport(Lib, EntryPoint = "mj_deleteModel")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial void mj_deleteModel(nint model);

    [LibraryImport(Lib, EntryPoint = "mj_makeData")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial nint mj_makeData(nint model);

    [LibraryImport(Lib, EntryPoint = "mj_deleteData")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial void mj_deleteData(nint data);

    /// <summary>Reset data to the model's defaults (qpos0, zero velocity, time 0, cleared warm-start).</summary>
    [LibraryImport(Lib, EntryPoint = "mj_resetData")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial void mj_resetData(nint model, nint data);

    /// <summary>One physics step with the model's integrator.</summary>
    [LibraryImport(Lib, EntryPoint = "mj_step")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial void mj_step(nint model, nint data);

    /// <summary>Forward dynamics without integration: recompute derived quantities after setting the state.</summary>
    [LibraryImport(Lib, EntryPoint = "mj_forward")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial void mj_forward(nint model, nint data);

    /// <summary>mjtObj's mjOBJ_GEOM, for <see cref="mj_name2id"/>.</summary>
    public const int ObjGeom = 5;

    /// <summary>Id of the named object of type <paramref name="type"/> (mjtObj), or -1.</summary>
    [LibraryImport(Lib, EntryPoint = "mj_name2id", StringMarshalling = StringMarshalling.Utf8)]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    public static partial int mj_name2id(nint model, int type, string name);
}
