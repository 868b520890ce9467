using System.Buffers.Text;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;

namespace RetailStreaming.Store;

/// <summary>
/// Admin API tokens, in the platform store's <c>tokens</c> table. A secret is
/// <c>rst_</c> followed by 32 random bytes in base64url; its first 8 characters after the
/// prefix are the token's public id, which finds the row; only the SHA-256 of the secret
/// is stored.
/// </summary>
public sealed class TokenStore : ITokenStore
{
    /// <summary>The role that may do everything.</summary>
    public const string OperatorRole = "operator";

    /// <summary>The role that may read one client's workflows.</summary>
    public const string ClientRole = "client";

    /// <summary>The prefix of every secret, so that a leaked one is recognisable (secret scanners).</summary>
    public const string SecretPrefix = "rst_";

    private const int SecretBytes = 32;
    private const int IdLength = 8;
    private static readonly int SecretLength = SecretPrefix.Length + Base64Url.GetEncodedLength(SecretBytes);

    private const string Columns = "id, role, client_id, description, created_at, revoked_at";

    private readonly PlatformDatabase _database;

    internal TokenStore(PlatformDatabase database) => _database = database;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The role is not <c>operator</c> or <c>client</c>, a client token has no client id, or an operator token has one.</exception>
    public async Task<(string Secret, TokenInfo Info)> IssueAsync(string role, string? clientId, string description, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(description);
        switch (role)
        {
            case OperatorRole when clientId is not null:
                throw new ArgumentException("An operator token sees every client: it takes no client id.", nameof(clientId));
            case OperatorRole:
                break;
            case ClientRole:
                DeadLetterStore.RequireText(clientId, nameof(clientId));
                break;
            default:
                throw new ArgumentException($"Role must be '{OperatorRole}' or '{ClientRole}'; got '{role}'.", nameof(role));
        }

        var createdAt = _database.Now();
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // The id is 48 random bits: a collision is unlikely but possible, so draw again.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var secret = SecretPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));
            var info = new TokenInfo(IdOf(secret), role, clientId, description, createdAt, null);
            await using var command = connection.Command("""
                INSERT INTO tokens (id, secret_hash, role, client_id, description, created_at, revoked_at)
                VALUES (@id, @secret_hash, @role, @client_id, @description, @created_at, NULL)
                ON CONFLICT (id) DO NOTHING
                """)
                .With("@id", info.Id)
                .With("@secret_hash", Hash(secret))
                .With("@role", role)
                .With("@client_id", clientId)
                .With("@description", description)
                .With("@created_at", _database.TimeParameter(createdAt));
            if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
                return (secret, info);
        }

        throw new InvalidOperationException("Could not draw an unused token id.");
    }

    /// <inheritdoc />
    public async Task<TokenInfo?> AuthenticateAsync(string secret, CancellationToken cancellationToken = default)
    {
        if (secret is null || secret.Length != SecretLength || !secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
            return null;

        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"SELECT {Columns}, secret_hash FROM tokens WHERE id = @id")
            .With("@id", IdOf(secret));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;

        var stored = (byte[])reader.GetValue(6);
        // Constant time: how long the comparison takes says nothing of how much of the secret matched.
        if (!CryptographicOperations.FixedTimeEquals(Hash(secret), stored))
            return null;
        var info = Read(reader);
        return info.RevokedAt is null ? info : null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<TokenInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"SELECT {Columns} FROM tokens ORDER BY created_at, id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var tokens = new List<TokenInfo>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            tokens.Add(Read(reader));
        return tokens;
    }

    /// <inheritdoc />
    /// <remarks>Revoking a revoked token returns true and keeps its first revocation time.</remarks>
    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(id, nameof(id));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id")
            .With("@id", id)
            .With("@now", _database.NowParameter());
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    private static string IdOf(string secret) => secret.Substring(SecretPrefix.Length, IdLength);

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private TokenInfo Read(DbDataReader reader) => new(
        Id: reader.GetString(0),
        Role: reader.GetString(1),
        ClientId: reader.GetNullableString(2),
        Description: reader.GetString(3),
        CreatedAt: _database.ReadTime(reader, 4),
        RevokedAt: reader.IsDBNull(5) ? null : _database.ReadTime(reader, 5));
}
