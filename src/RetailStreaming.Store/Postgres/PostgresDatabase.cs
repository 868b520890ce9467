using System.Data;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace RetailStreaming.Store.Postgres;

/// <summary>
/// The platform store's tables in one schema of a PostgreSQL database, shared by every node of
/// a cluster. The schema is the connections' only <c>search_path</c> entry, so the stores'
/// unqualified table names resolve to it and nothing lands in <c>public</c>.
/// </summary>
internal sealed partial class PostgresDatabase : PlatformDatabase
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;
    private readonly long _migrationLockKey;

    public PostgresDatabase(string connectionString, string schema, TimeProvider time) : base(time)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new ArgumentException("A PostgreSQL connection string is required.", nameof(connectionString));
        if (schema is null || !SchemaName().IsMatch(schema) || schema.StartsWith("pg_", StringComparison.Ordinal))
            throw new ArgumentException(
                $"The schema name must be lower-case letters, digits and underscores, start with a letter or underscore, " +
                $"be at most 63 characters and not start with 'pg_'; got '{schema}'.", nameof(schema));

        var settings = new NpgsqlConnectionStringBuilder(connectionString)
        {
            // Replaces any search path of the connection string: the stores' tables must resolve to
            // this schema and nowhere else.
            SearchPath = schema,
        };
        if (string.IsNullOrEmpty(settings.ApplicationName))
            settings.ApplicationName = "RetailStreaming platform store";
        _schema = schema;
        _dataSource = NpgsqlDataSource.Create(settings);
        Description = $"PostgreSQL {settings.Host}:{settings.Port}/{settings.Database}, schema '{schema}'";
        // Advisory locks are per database; a key per schema lets two platforms (or a test and
        // its neighbour) share a database without waiting for each other.
        _migrationLockKey = BitConverter.ToInt64(
            SHA256.HashData(Encoding.UTF8.GetBytes($"RetailStreaming.Store migrations/{schema}")), 0);
    }

    public override string Description { get; }

    public override IReadOnlyList<StoreMigration> Migrations => PostgresMigrations.All;

    // timestamptz keeps microseconds. https://www.postgresql.org/docs/current/datatype-datetime.html
    protected override TimeSpan TimeResolution => TimeSpan.FromMicroseconds(1);

    // A UTC DateTime is sent as timestamptz (Npgsql refuses other kinds for timestamptz).
    public override object TimeParameter(DateTimeOffset time) => time.UtcDateTime;

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) => reader.GetFieldValue<DateTimeOffset>(ordinal);

    protected override string MigrationTableSql => PostgresMigrations.MigrationTable;

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    public override async Task CreateMigrationTableAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // An up-to-date database is started without waiting for the migration lock.
        await using (var probe = connection.Command("SELECT to_regclass('schema_migrations') IS NOT NULL"))
        {
            if (await probe.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
                return;
        }

        // CREATE SCHEMA / CREATE TABLE IF NOT EXISTS are not safe against a concurrent creator:
        // both pass the existence check and one fails on a catalog unique index. Under the
        // migration lock the nodes take turns, and the second finds what the first created.
        await using var transaction = await BeginMigrationAsync(connection, cancellationToken).ConfigureAwait(false);
        await using (var exists = connection.Command("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = @schema)", transaction)
                         .With("@schema", _schema))
        {
            // Checked first rather than CREATE SCHEMA IF NOT EXISTS, which needs the CREATE
            // privilege on the database even when the schema is there (a DBA may have created it).
            if (await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                await using var createSchema = connection.Command($"CREATE SCHEMA \"{_schema}\"", transaction);
                await createSchema.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await using (var createTable = connection.Command(MigrationTableSql, transaction))
            await createTable.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // READ COMMITTED, whatever the server's default: each statement after the lock sees
        // what the previous holder committed (under REPEATABLE READ the snapshot would date
        // from before the wait). The lock is released by the commit or rollback.
        // https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
        var transaction = await ((NpgsqlConnection)connection)
            .BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = connection.Command("SELECT pg_advisory_xact_lock(@key)", transaction)
                .With("@key", _migrationLockKey);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override void ReleaseConnections() => _dataSource.Clear();

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();
}
