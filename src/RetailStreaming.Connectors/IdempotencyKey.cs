using System.Security.Cryptography;
using System.Text;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors;

/// <summary>
/// The idempotency key of a delivered record (DESIGN.md invariant 2): a function of
/// (workflow id, source position, output index) only, so that a replay after a restart
/// sends the same key for the same output.
/// </summary>
public static class IdempotencyKey
{
    /// <summary>
    /// <c>rs_</c> followed by 32 hex digits of SHA-256 over the three parts, separated by a byte
    /// that none of them contains, so that no two different triples give the same input.
    /// </summary>
    public static string For(string workflowId, SourcePosition position, int outputIndex)
    {
        var input = Encoding.UTF8.GetBytes($"{workflowId}\u0000{position.Value}\u0000{outputIndex}");
        var hash = SHA256.HashData(input);
        return "rs_" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }
}
