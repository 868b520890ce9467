using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>
/// The seam between the stores and a database provider: how to open a connection, how to
/// prepare the database, how times are stored, and the provider's migrations. The stores' own
/// SQL is written to run unchanged on SQLite and PostgreSQL (<c>@name</c> parameters,
/// <c>RETURNING</c>, <c>ON CONFLICT</c>), so a provider only supplies what really differs:
/// types, DDL and locking.
/// </summary>
internal abstract class PlatformDatabase(TimeProvider time)
{
    private volatile bool _ready;

    public TimeProvider Time { get; } = time;

    /// <summary>Names the database in error messages (never with credentials).</summary>
    public abstract string Description { get; }

    /// <summary>The provider's migrations, ascending by version.</summary>
    public abstract IReadOnlyList<StoreMigration> Migrations { get; }

    /// <summary>The finest time the provider stores; <see cref="Now"/> is truncated to it.</summary>
    protected virtual TimeSpan TimeResolution => TimeSpan.FromTicks(1);

    /// <summary>
    /// The current time (UTC) as the database will hand it back: truncated to the provider's
    /// resolution, so that a time returned to a caller equals the one read back later.
    /// </summary>
    public DateTimeOffset Now()
    {
        var ticks = Time.GetUtcNow().UtcTicks;
        return new DateTimeOffset(ticks - ticks % TimeResolution.Ticks, TimeSpan.Zero);
    }

    /// <summary>A time as a command parameter value of the provider's time columns.</summary>
    public abstract object TimeParameter(DateTimeOffset time);

    /// <summary>The current time as a command parameter value.</summary>
    public object NowParameter() => TimeParameter(Now());

    /// <summary>Reads a time column (UTC, offset zero).</summary>
    public abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);

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
    /// The <c>schema_migrations</c> table in the provider's types (<c>version</c>, <c>name</c>,
    /// <c>applied_at</c>), as <c>CREATE TABLE IF NOT EXISTS</c>.
    /// </summary>
    protected abstract string MigrationTableSql { get; }

    /// <summary>
    /// Creates <c>schema_migrations</c> when it is missing. A plain statement by default; a
    /// provider on which two nodes creating it at once can collide overrides this.
    /// </summary>
    public virtual async Task CreateMigrationTableAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var create = connection.Command(MigrationTableSql);
        await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A transaction that holds the migration lock from its start, so that two nodes migrating
    /// the same database at once apply each migration once.
    /// </summary>
    public abstract Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Releases pooled connections.</summary>
    public virtual void ReleaseConnections()
    {
    }

    internal void MarkReady() => _ready = true;
}
