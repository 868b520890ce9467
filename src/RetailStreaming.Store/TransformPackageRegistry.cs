using System.Data.Common;
using System.Text.Json;

namespace RetailStreaming.Store;

/// <summary>A transform package version published to the cluster.</summary>
/// <param name="PackageId">The package id, as its .nuspec spells it.</param>
/// <param name="Version">The normalized version (<c>1.0.0</c>).</param>
/// <param name="Sha256">The SHA-256 of the .nupkg's bytes, lowercase hex.</param>
/// <param name="Size">The .nupkg's size in bytes.</param>
/// <param name="Types">The transform classes it holds (what a workflow may name as <c>transform.type</c>).</param>
/// <param name="PublishedAt">When it was published.</param>
/// <param name="PublishedBy">Who published it (the admin token's id).</param>
public sealed record PublishedTransform(
    string PackageId,
    string Version,
    string Sha256,
    long Size,
    IReadOnlyList<string> Types,
    DateTimeOffset PublishedAt,
    string PublishedBy);

/// <summary>What publishing did.</summary>
public enum PublishOutcome
{
    /// <summary>The version is now published.</summary>
    Created = 1,

    /// <summary>The version was already published with the same bytes: nothing changed.</summary>
    AlreadyPublished = 2,

    /// <summary>The version was already published with other bytes: refused (a version is immutable).</summary>
    Conflict = 3,
}

/// <summary>Transform packages published to the cluster, kept in the platform store so every node can load them.</summary>
public interface ITransformPackageRegistry
{
    /// <summary>
    /// Publishes a version once: the first call stores it; a later call with the same bytes is a
    /// no-op, with other bytes a <see cref="PublishOutcome.Conflict"/>. Returns the stored version.
    /// </summary>
    Task<(PublishOutcome Outcome, PublishedTransform Stored)> PublishAsync(PublishedTransform package, byte[] content, CancellationToken cancellationToken = default);

    /// <summary>Every published version (of one package when <paramref name="packageId"/> is set), by id then publication.</summary>
    Task<IReadOnlyList<PublishedTransform>> ListAsync(string? packageId = null, CancellationToken cancellationToken = default);

    /// <summary>One published version (id case-insensitive, normalized version), or null.</summary>
    Task<PublishedTransform?> FindAsync(string packageId, string version, CancellationToken cancellationToken = default);

    /// <summary>The .nupkg's bytes of a published version, or null.</summary>
    Task<byte[]?> ReadContentAsync(string packageId, string version, CancellationToken cancellationToken = default);
}

/// <summary>The <c>transform_packages</c> table: one row per published version, with the .nupkg's bytes.</summary>
public sealed class TransformPackageRegistry : ITransformPackageRegistry
{
    private const string Columns = "package_id, version, sha256, size, types, published_at, published_by";

    private readonly PlatformDatabase _database;

    internal TransformPackageRegistry(PlatformDatabase database) => _database = database;

    /// <inheritdoc />
    public async Task<(PublishOutcome Outcome, PublishedTransform Stored)> PublishAsync(PublishedTransform package, byte[] content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(content);
        DeadLetterStore.RequireText(package.PackageId, nameof(package.PackageId));
        DeadLetterStore.RequireText(package.Version, nameof(package.Version));
        DeadLetterStore.RequireText(package.Sha256, nameof(package.Sha256));
        var stored = package with { PublishedAt = _database.Now(), Size = content.LongLength };
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // The primary key decides between two publishers racing on one version: one row wins, the
        // other reads it back and is told whether its bytes were the same.
        await using (var insert = connection.Command($"""
            INSERT INTO transform_packages (package_key, version_key, {Columns}, content)
            VALUES (@package_key, @version_key, @package_id, @version, @sha256, @size, @types, @published_at, @published_by, @content)
            ON CONFLICT (package_key, version_key) DO NOTHING
            """)
            .With("@package_key", package.PackageId.ToLowerInvariant())
            .With("@version_key", package.Version.ToLowerInvariant())
            .With("@package_id", package.PackageId)
            .With("@version", package.Version)
            .With("@sha256", package.Sha256)
            .With("@size", stored.Size)
            .With("@types", JsonSerializer.Serialize(package.Types))
            .With("@published_at", _database.TimeParameter(stored.PublishedAt))
            .With("@published_by", package.PublishedBy)
            .With("@content", content))
        {
            if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
                return (PublishOutcome.Created, stored);
        }
        var existing = await FindAsync(connection, package.PackageId, package.Version, cancellationToken).ConfigureAwait(false)
                       ?? throw new InvalidOperationException($"{package.PackageId} {package.Version} was neither inserted nor found.");
        return (existing.Sha256 == package.Sha256 ? PublishOutcome.AlreadyPublished : PublishOutcome.Conflict, existing);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<PublishedTransform>> ListAsync(string? packageId = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var filter = packageId is null ? "" : " WHERE package_key = @package_key";
        await using var command = connection.Command($"SELECT {Columns} FROM transform_packages{filter} ORDER BY package_key, published_at, version_key");
        if (packageId is not null) command.With("@package_key", packageId.ToLowerInvariant());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<PublishedTransform>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            result.Add(Read(reader));
        return result;
    }

    /// <inheritdoc />
    public async Task<PublishedTransform?> FindAsync(string packageId, string version, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await FindAsync(connection, packageId, version, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<byte[]?> ReadContentAsync(string packageId, string version, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command(
                "SELECT content FROM transform_packages WHERE package_key = @package_key AND version_key = @version_key")
            .With("@package_key", packageId.ToLowerInvariant())
            .With("@version_key", version.ToLowerInvariant());
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
    }

    private async Task<PublishedTransform?> FindAsync(DbConnection connection, string packageId, string version, CancellationToken cancellationToken)
    {
        await using var command = connection.Command(
                $"SELECT {Columns} FROM transform_packages WHERE package_key = @package_key AND version_key = @version_key")
            .With("@package_key", packageId.ToLowerInvariant())
            .With("@version_key", version.ToLowerInvariant());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
    }

    private PublishedTransform Read(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetInt64(3),
        JsonSerializer.Deserialize<List<string>>(reader.GetString(4)) ?? [],
        _database.ReadTime(reader, 5),
        reader.GetString(6));
}
