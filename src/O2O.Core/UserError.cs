namespace O2O.Core;

/// <summary>
/// An error the user can fix: bad input, a missing file, a mismatch. The message is one line that
/// says what is wrong and how to fix it; the CLI prints it without a stack trace.
/// </summary>
public class UserError(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Process exit code the CLI uses for this error.</summary>
    public virtual int ExitCode => 1;
}
