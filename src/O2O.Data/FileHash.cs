using System.Security.Cryptography;
using O2O.Core;

namespace O2O.Data;

/// <summary>Checksums of files, as `sha256sum` prints them, so users can compare a file with a published one.</summary>
public static class FileHash
{
    /// <summary>The SHA-256 of the file's bytes, 64 lower-case hexadecimal digits.</summary>
    /// <exception cref="UserError">The file cannot be read.</exception>
    public static string Sha256(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            return Convert.ToHexStringLower(SHA256.HashData(fs));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"cannot read '{path}' ({e.Message}); check the path and its permissions");
        }
    }
}
