using System.Text;
using O2O.Learning.Checkpoints;

namespace O2O.Learning.Tests;

/// <summary>The pickle scan before any `.pt` is unpickled: hand-written opcode streams.</summary>
public class PickleGuardTests
{
    static string? Scan(string latin1) => PickleGuard.Scan(new MemoryStream(Encoding.Latin1.GetBytes(latin1)));

    // SHORT_BINUNICODE with its one-byte length.
    static string S(string s) => "\u008c" + (char)s.Length + s;

    [Fact]
    public void Allowlisted_globals_pass_and_others_are_named()
    {
        Assert.Null(Scan("\u0080\u0002ccollections\nOrderedDict\n)R."));
        Assert.Equal("its pickle calls posix.system", Scan("\u0080\u0002cposix\nsystem\nX\u0002\u0000\u0000\u0000lsR."));
        Assert.Null(Scan("\u0080\u0004" + S("torch") + "\u0094" + S("FloatStorage") + "\u0094\u0093."));
        Assert.Equal("its pickle calls builtins.eval", Scan("\u0080\u0004" + S("builtins") + "\u0094" + S("eval") + "\u0094\u0093."));
    }

    [Fact]
    public void Stack_global_names_from_the_memo_are_followed_and_computed_ones_refused()
    {
        // "os" and "system" memoized, then fetched back with BINGET before STACK_GLOBAL.
        var viaMemo = "\u0080\u0004" + S("os") + "q\u0000" + S("system") + "q\u0001" + "0" + "h\u0000h\u0001\u0093.";
        Assert.Equal("its pickle calls os.system", Scan(viaMemo));
        // A name that is not a string pushed right before (here an int on top): refused, whatever it is.
        Assert.Equal("its pickle calls a global whose name is computed (STACK_GLOBAL)",
            Scan("\u0080\u0004" + S("torch") + "K\u0001\u0093."));
        Assert.Equal("its pickle calls os.system (INST)", Scan("(ios\nsystem\n."));
        Assert.Equal("its pickle calls a function of the extension registry (EXT)", Scan("\u0080\u0002\u0082\u0001."));
        Assert.Equal("its pickle holds an unknown opcode 0xff", Scan("\u00ff"));
        Assert.Throws<EndOfStreamException>(() => Scan("\u0080\u0002X\u00ff\u00ff\u00ff\u007f"));
    }
}
