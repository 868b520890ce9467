using System.Buffers;
using System.Globalization;
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
        ArgumentNullException.ThrowIfNull(workflowId);
        // The UTF-8 of "{workflowId}\0{position}\0{outputIndex}", on the stack when it fits (it does for
        // every id and position the platform makes): one key per delivered record, no garbage but the key.
        var value = position.Value ?? "";
        var size = Encoding.UTF8.GetMaxByteCount(workflowId.Length + value.Length) + 2 + 11;
        var rented = size <= 512 ? null : ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var input = rented is null ? stackalloc byte[size] : rented.AsSpan(0, size);
            var length = Encoding.UTF8.GetBytes(workflowId, input);
            input[length++] = 0;
            length += Encoding.UTF8.GetBytes(value, input[length..]);
            input[length++] = 0;
            if (!outputIndex.TryFormat(input[length..], out var digits, default, CultureInfo.InvariantCulture))
                throw new InvalidOperationException("The output index does not fit its buffer.");
            length += digits;
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(input[..length], hash);
            Span<char> key = stackalloc char[3 + 32];
            "rs_".CopyTo(key);
            Convert.TryToHexStringLower(hash[..16], key[3..], out _);
            return new string(key);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
