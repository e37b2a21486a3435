using System.Runtime.InteropServices;
using System.Text;
using O2O.Core;

namespace O2O.Sim.Interop;

/// <summary>Owns an mjModel; freed exactly once, also if the owner forgets to dispose.</summary>
internal sealed class MjModelHandle() : SafeHandle(0, ownsHandle: true)
{
    public override bool IsInvalid => handle == 0;
    public MjModelHandle(nint model) : this() => SetHandle(model);
    protected override bool ReleaseHandle() { NativeMethods.mj_deleteModel(handle); return true; }
}

/// <summary>Owns an mjData; freed exactly once, also if the owner forgets to dispose.</summary>
internal sealed class MjDataHandle() : SafeHandle(0, ownsHandle: true)
{
    public override bool IsInvalid => handle == 0;
    public MjDataHandle(nint data) : this() => SetHandle(data);
    protected override bool ReleaseHandle() { NativeMethods.mj_deleteData(handle); return true; }
}

/// <summary>
/// One compiled MJCF model with one simulation state. Exposes qpos/qvel/ctrl/time as spans over native
/// memory (MuJoCo allocates mjData's arrays once, so the pointers are stable until disposal).
/// </summary>
internal sealed unsafe class MjSimulation : IDisposable
{
    readonly MjModelHandle modelHandle;
    readonly MjDataHandle dataHandle;
    readonly nint modelPtr, dataPtr;
    readonly double* qpos, qvel, ctrl, qpos0, time, qaccWarmstart;
    bool disposed;

    /// <summary>mj_loadXML keeps the last parsed model in a process-wide slot, so loads are serialised.</summary>
    static readonly Lock LoadLock = new();

    public int Nq { get; }
    public int Nv { get; }
    public int Nu { get; }
    public int Nbody { get; }
    public double Timestep { get; }
    /// <summary>mjtIntegrator: 0 Euler, 1 RK4, 2 implicit.</summary>
    public int Integrator { get; }

    MjSimulation(nint model, nint data)
    {
        modelHandle = new MjModelHandle(model);
        dataHandle = new MjDataHandle(data);
        modelPtr = model;
        dataPtr = data;
        var mb = (byte*)model;
        var db = (byte*)data;
        Nq = *(int*)(mb + MuJoCoOffsets.ModelNq);
        Nv = *(int*)(mb + MuJoCoOffsets.ModelNv);
        Nu = *(int*)(mb + MuJoCoOffsets.ModelNu);
        Nbody = *(int*)(mb + MuJoCoOffsets.ModelNbody);
        Timestep = *(double*)(mb + MuJoCoOffsets.ModelOptTimestep);
        Integrator = *(int*)(mb + MuJoCoOffsets.ModelOptIntegrator);
        qpos0 = *(double**)(mb + MuJoCoOffsets.ModelQpos0);
        qpos = *(double**)(db + MuJoCoOffsets.DataQpos);
        qvel = *(double**)(db + MuJoCoOffsets.DataQvel);
        ctrl = *(double**)(db + MuJoCoOffsets.DataCtrl);
        time = (double*)(db + MuJoCoOffsets.DataTime);
        qaccWarmstart = *(double**)(db + MuJoCoOffsets.DataQaccWarmstart);
        BodyMass = new ReadOnlySpan<double>(*(double**)(mb + MuJoCoOffsets.ModelBodyMass), Nbody).ToArray();
    }

    /// <summary>Compile the MJCF file embedded as O2O.Sim.Assets.<paramref name="assetName"/>.</summary>
    public static MjSimulation FromEmbeddedAsset(string assetName) => FromXml(EmbeddedXml(assetName), assetName);

    /// <summary>
    /// The text of the MJCF file embedded as O2O.Sim.Assets.<paramref name="assetName"/> (e.g. "hopper.xml").
    /// </summary>
    public static string EmbeddedXml(string assetName)
    {
        using var stream = typeof(MjSimulation).Assembly.GetManifestResourceStream("O2O.Sim.Assets." + assetName)
            ?? throw new InvalidOperationException(
                $"MJCF asset '{assetName}' is not embedded in {typeof(MjSimulation).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Compile MJCF text: MuJoCo 2.2.2 loads from files, so the text goes through a private temp file.
    /// </summary>
    public static MjSimulation FromXml(string xml, string name)
    {
        MuJoCo.EnsureLoaded();
        var path = Path.Combine(Path.GetTempPath(), $"o2o-{Environment.ProcessId}-{Guid.NewGuid():N}-{name}");
        try
        {
            try
            {
                File.WriteAllText(path, xml, new UTF8Encoding(false));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UserError($"cannot write the MJCF model to the temp folder {Path.GetTempPath()} " +
                    $"({e.Message}); point TMPDIR at a writable folder", e);
            }
            const int errSize = 1000;
            var err = stackalloc byte[errSize];
            err[0] = 0;
            nint model;
            lock (LoadLock) model = NativeMethods.mj_loadXML(path, 0, err, errSize);
            if (model == 0)
            {
                var msg = Marshal.PtrToStringUTF8((nint)err)?.Trim() ?? "";
                var lines = msg.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                throw new UserError($"MuJoCo could not compile model '{name}': {string.Join(' ', lines)}");
            }
            var data = NativeMethods.mj_makeData(model);
            if (data == 0)
            {
                NativeMethods.mj_deleteModel(model);
                throw new OutOfMemoryException($"mj_makeData failed for model '{name}'");
            }
            return new MjSimulation(model, data);
        }
        finally
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Generalised positions, length <see cref="Nq"/>.</summary>
    public Span<double> QPos { get { ThrowIfDisposed(); return new(qpos, Nq); } }
    /// <summary>Generalised velocities, length <see cref="Nv"/>.</summary>
    public Span<double> QVel { get { ThrowIfDisposed(); return new(qvel, Nv); } }
    /// <summary>Actuator controls, length <see cref="Nu"/>.</summary>
    public Span<double> Ctrl { get { ThrowIfDisposed(); return new(ctrl, Nu); } }
    /// <summary>The model's default pose (qpos0), length <see cref="Nq"/>.</summary>
    public ReadOnlySpan<double> QPos0 { get { ThrowIfDisposed(); return new(qpos0, Nq); } }
    /// <summary>Simulated time in seconds.</summary>
    public double Time { get { ThrowIfDisposed(); return *time; } set { ThrowIfDisposed(); *time = value; } }
    /// <summary>
    /// The solver's warm start (qacc of the previous step): part of the state that decides the next step.
    /// </summary>
    public Span<double> QaccWarmstart { get { ThrowIfDisposed(); return new(qaccWarmstart, Nv); } }
    /// <summary>Body masses as compiled (index 0 is the world).</summary>
    public IReadOnlyList<double> BodyMass { get; }

    /// <summary>
    /// The compiled friction (slide, spin, roll) of the geom called <paramref name="geomName"/>; an unknown name is an
    /// <see cref="ArgumentException"/>.
    /// </summary>
    public (double Slide, double Spin, double Roll) GeomFriction(string geomName)
    {
        ThrowIfDisposed();
        var id = NativeMethods.mj_name2id(modelPtr, NativeMethods.ObjGeom, geomName);
        if (id < 0) throw new ArgumentException($"the model has no geom '{geomName}'", nameof(geomName));
        var f = *(double**)((byte*)modelPtr + MuJoCoOffsets.ModelGeomFriction) + 3 * id;
        return (f[0], f[1], f[2]);
    }

    public void ResetData() { ThrowIfDisposed(); NativeMethods.mj_resetData(modelPtr, dataPtr); }
    public void Forward() { ThrowIfDisposed(); NativeMethods.mj_forward(modelPtr, dataPtr); }

    /// <summary><paramref name="n"/> physics steps.</summary>
    public void Step(int n)
    {
        ThrowIfDisposed();
        for (var i = 0; i < n; i++) NativeMethods.mj_step(modelPtr, dataPtr);
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        dataHandle.Dispose();
        modelHandle.Dispose();
    }
}
