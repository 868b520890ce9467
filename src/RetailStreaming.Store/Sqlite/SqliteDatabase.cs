using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace RetailStreaming.Store.Sqlite;

/// <summary>One SQLite file in WAL mode, shared by the connections of this process and of others.</summary>
internal sealed class SqliteDatabase : PlatformDatabase
{
    // busy_timeout (ms): another connection (of this node or another process) may hold the
    // write lock for the length of its transaction; wait for it rather than fail with
    // SQLITE_BUSY. https://www.sqlite.org/pragma.html#pragma_busy_timeout
    // synchronous FULL, not NORMAL: in WAL mode NORMAL syncs only at checkpoints, so a power
    // loss can roll back transactions that already reported success. A dead letter counts as
    // "durably stored" once AddAsync returns, and the checkpoint (then the source's flush
    // LSN) moves past it: losing it would lose the record (invariant 1, nothing lost).
    // https://www.sqlite.org/pragma.html#pragma_synchronous
    private const string SessionSettings = "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;";

    private readonly string _connectionString;
    private readonly SqliteConnectionStringBuilder _settings;

    public SqliteDatabase(string connectionString, TimeProvider time) : base(time)
    {
        _settings = new SqliteConnectionStringBuilder(connectionString);
        _connectionString = _settings.ToString();
    }

    public override string Description => $"SQLite '{_settings.DataSource}'";

    public override IReadOnlyList<StoreMigration> Migrations => SqliteMigrations.All;

    public override object TimeParameter(DateTimeOffset time) => SqliteTime.ToText(time);

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) => SqliteTime.Parse(reader.GetString(ordinal));

    protected override string MigrationTableSql => SqliteMigrations.MigrationTable;

    private bool InMemory =>
        _settings.Mode == SqliteOpenMode.Memory || _settings.DataSource is "" or ":memory:";

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // Per-connection settings: applied on every open, since a pooled connection may
            // come from before a setting changed and costs no I/O.
            await using var command = connection.Command(SessionSettings);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override async Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (InMemory)
            return;

        var directory = Path.GetDirectoryName(Path.GetFullPath(_settings.DataSource));
        if (!string.IsNullOrEmpty(directory))
            Directory.CreateDirectory(directory);

        // WAL lets readers (the admin API) run beside the writer and is recorded in the file,
        // so every later connection uses it. https://www.sqlite.org/wal.html
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command("PRAGMA journal_mode = WAL");
        var mode = Convert.ToString(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException(
                $"The platform store ({Description}) could not switch to WAL journal mode (it is '{mode}'); " +
                "WAL needs a local file system and a directory the node may write to.");
    }

    public override Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Not deferred: BEGIN IMMEDIATE takes the write lock at once (waiting through
        // busy_timeout), so the "is it applied?" read and the migration are one step for
        // concurrent migrators. https://www.sqlite.org/lang_transaction.html
        return Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));
    }

    public override void ReleaseConnections()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }
}
