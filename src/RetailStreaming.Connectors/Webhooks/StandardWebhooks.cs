using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace RetailStreaming.Connectors.Webhooks;

/// <summary>
/// Signing and verification after the Standard Webhooks specification
/// (https://www.standardwebhooks.com/, https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
/// the signature is <c>v1,</c> + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), where
/// the key is the base64 part of a <c>whsec_</c> secret.
/// </summary>
/// <remarks>No message of this class contains the secret or the key.</remarks>
public static class StandardWebhooks
{
    /// <summary>The header holding the message id, the same on every retry of a message.</summary>
    public const string IdHeader = "webhook-id";

    /// <summary>The header holding the time of the attempt, in Unix seconds.</summary>
    public const string TimestampHeader = "webhook-timestamp";

    /// <summary>The header holding space-separated signatures, each <c>v1,&lt;base64&gt;</c>.</summary>
    public const string SignatureHeader = "webhook-signature";

    /// <summary>The prefix of a signing secret.</summary>
    public const string SecretPrefix = "whsec_";

    /// <summary>The tolerance the specification suggests between the timestamp and the receiver's clock.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    private const string SignatureVersion = "v1";

    /// <summary>A new random secret (<c>whsec_</c> + base64 of <paramref name="keyBytes"/> random bytes).</summary>
    public static string GenerateSecret(int keyBytes = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keyBytes, 24);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keyBytes, 64);
        return SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(keyBytes));
    }

    /// <summary>
    /// The HMAC key of a secret: the base64 after <c>whsec_</c>. Throws <see cref="ArgumentException"/>
    /// (without quoting the secret) when it is malformed.
    /// </summary>
    public static byte[] DecodeSecret(string secret)
    {
        if (string.IsNullOrEmpty(secret))
            throw new ArgumentException("The webhook signing secret is empty; expected 'whsec_' followed by base64.", nameof(secret));
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
            throw new ArgumentException("The webhook signing secret does not start with 'whsec_'; expected 'whsec_' followed by base64.", nameof(secret));
        var encoded = secret.AsSpan(SecretPrefix.Length);
        var key = new byte[encoded.Length];
        if (encoded.IsEmpty || !Convert.TryFromBase64Chars(encoded, key, out var length))
            throw new ArgumentException("The part of the webhook signing secret after 'whsec_' is not valid base64.", nameof(secret));
        if (length == 0)
            throw new ArgumentException("The webhook signing secret holds an empty key.", nameof(secret));
        return key.AsSpan(0, length).ToArray();
    }

    /// <summary>The <c>webhook-signature</c> value for a message: <c>v1,</c> and the base64 HMAC.</summary>
    public static string Sign(string secret, string messageId, long timestamp, string body) =>
        Sign(DecodeSecret(secret), messageId, timestamp, Encoding.UTF8.GetBytes(body));

    /// <summary>The <c>webhook-signature</c> value for a message whose body is the given UTF-8 bytes.</summary>
    public static string Sign(ReadOnlySpan<byte> key, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        return SignatureVersion + "," + Convert.ToBase64String(Mac(key, messageId, timestamp, body));
    }

    /// <summary>
    /// The <c>webhook-signature</c> value signed with several keys (secret rotation): one
    /// <c>v1,&lt;base64&gt;</c> per key, in order, separated by spaces. A receiver holding any of the
    /// secrets verifies it.
    /// </summary>
    public static string Sign(IReadOnlyList<byte[]> keys, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0) throw new ArgumentException("At least one signing key is needed.", nameof(keys));
        if (keys.Count == 1) return Sign(keys[0], messageId, timestamp, body);
        var signatures = new string[keys.Count];
        for (var i = 0; i < keys.Count; i++)
            signatures[i] = Sign(keys[i], messageId, timestamp, body);
        return string.Join(' ', signatures);
    }

    /// <summary>
    /// True when the headers carry a valid signature of <paramref name="body"/> by <paramref name="secret"/>
    /// and a timestamp within <paramref name="tolerance"/> of now. Header names are matched
    /// case-insensitively.
    /// </summary>
    public static bool Verify(string secret, IEnumerable<KeyValuePair<string, string>> headers, string body, TimeSpan tolerance, TimeProvider? timeProvider = null) =>
        Verify(secret, headers, body, tolerance, out _, timeProvider);

    /// <summary>As <see cref="Verify(string, IEnumerable{KeyValuePair{string, string}}, string, TimeSpan, TimeProvider?)"/>, saying why verification failed.</summary>
    public static bool Verify(string secret, IEnumerable<KeyValuePair<string, string>> headers, string body, TimeSpan tolerance,
        out string? failure, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(headers);
        string? Header(string name) =>
            headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
        return Verify(secret, Header(IdHeader), Header(TimestampHeader), Header(SignatureHeader), body, tolerance, out failure, timeProvider);
    }

    /// <summary>Verifies the three header values of a message; <paramref name="failure"/> says why it failed.</summary>
    public static bool Verify(string secret, string? messageId, string? timestamp, string? signatures, string body, TimeSpan tolerance,
        out string? failure, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        var key = DecodeSecret(secret);
        if (string.IsNullOrEmpty(messageId) || string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signatures))
        {
            failure = $"missing {IdHeader}, {TimestampHeader} or {SignatureHeader} header";
            return false;
        }
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            failure = $"{TimestampHeader} is not a number of seconds";
            return false;
        }
        var now = (timeProvider ?? TimeProvider.System).GetUtcNow().ToUnixTimeSeconds();
        if (Math.Abs(now - seconds) > tolerance.TotalSeconds)
        {
            failure = $"{TimestampHeader} is {now - seconds} s away from now, beyond the tolerance of {tolerance.TotalSeconds} s";
            return false;
        }

        var expected = Mac(key, messageId, seconds, Encoding.UTF8.GetBytes(body));
        Span<byte> candidate = stackalloc byte[64];
        foreach (var entry in signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var comma = entry.IndexOf(',');
            if (comma < 0 || entry.AsSpan(0, comma) is not SignatureVersion) continue;
            if (!Convert.TryFromBase64String(entry[(comma + 1)..], candidate, out var length)) continue;
            if (CryptographicOperations.FixedTimeEquals(candidate[..length], expected))
            {
                failure = null;
                return true;
            }
        }
        failure = "no signature matches";
        return false;
    }

    /// <summary>HMAC-SHA256 over "{id}.{timestamp}.{body}", fed piece by piece (the body, often large, is not copied).</summary>
    private static byte[] Mac(ReadOnlySpan<byte> key, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(Encoding.UTF8.GetBytes($"{messageId}.{timestamp.ToString(CultureInfo.InvariantCulture)}."));
        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }
}
