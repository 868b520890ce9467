using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>
/// The seam between the stores and a database provider: how to open a connection, how to
/// prepare the database, and the provider's migrations. The stores' own SQL is written to
/// run unchanged on SQLite and PostgreSQL (<c>@name</c> parameters, <c>RETURNING</c>,
/// <c>ON CONFLICT</c>), so a provider only supplies what really differs: types and DDL.
/// </summary>
internal abstract class PlatformDatabase(TimeProvider time)
{
    private volatile bool _ready;

    public TimeProvider Time { get; } = time;

    /// <summary>Names the database in error messages (never with credentials).</summary>
    public abstract string Description { get; }

    /// <summary>The provider's migrations, ascending by version.</summary>
    public abstract IReadOnlyList<StoreMigration> Migrations { get; }

    /// <summary>The current time as stored.</summary>
    public string Now() => StoreTime.ToText(Time.GetUtcNow());

    /// <summary>An open connection for one operation; the caller disposes it (back to the pool).</summary>
    public Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (!_ready)
            throw new InvalidOperationException($"The platform store ({Description}) is not initialized: call InitializeAsync first.");
        return OpenConnectionAsync(cancellationToken);
    }

    /// <summary>Opens a connection with the provider's session settings applied.</summary>
    public abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Database-wide settings applied once before the migrations run.</summary>
    public virtual Task PrepareAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A transaction that holds the write lock from its start, so that two nodes migrating
    /// the same database at once apply each migration once.
    /// </summary>
    public abstract Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Releases pooled connections.</summary>
    public virtual void ReleaseConnections()
    {
    }

    internal void MarkReady() => _ready = true;
}
