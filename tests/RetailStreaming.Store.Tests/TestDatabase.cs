using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using RetailStreaming.Store.Postgres;
using RetailStreaming.Store.Sqlite;

namespace RetailStreaming.Store.Tests;

/// <summary>
/// The database of one test on one provider: opens stores on it (disposed with it) and reads
/// it behind the stores' backs.
/// </summary>
public abstract class TestDatabase : IAsyncDisposable
{
    private readonly List<PlatformStore> _opened = [];

    /// <summary>A store on this database; disposed with it.</summary>
    public PlatformStore Open(TimeProvider? clock = null)
    {
        var store = CreateStore(clock);
        _opened.Add(store);
        return store;
    }

    public async Task<PlatformStore> OpenInitializedAsync(TimeProvider? clock = null)
    {
        var store = Open(clock);
        await store.InitializeAsync();
        return store;
    }

    protected abstract PlatformStore CreateStore(TimeProvider? clock);

    /// <summary>An open connection outside the stores' pools, on the stores' tables.</summary>
    public abstract Task<DbConnection> ConnectAsync();

    /// <summary>The names of the platform's tables (in its schema on PostgreSQL).</summary>
    public abstract Task<HashSet<string>> TablesAsync();

    /// <summary>The names of the platform's indexes.</summary>
    public abstract Task<HashSet<string>> IndexesAsync();

    public async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = await ConnectAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await ConnectAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Every row of a table, one line each, columns separated by '|', bytes in hex.</summary>
    public async Task<string> DumpAsync(string table)
    {
        await using var connection = await ConnectAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT * FROM {table}";
        await using var reader = await command.ExecuteReaderAsync();
        var text = new StringBuilder();
        while (await reader.ReadAsync())
        {
            for (var i = 0; i < reader.FieldCount; i++)
            {
                var value = reader.GetValue(i);
                text.Append(value is byte[] bytes ? Convert.ToHexString(bytes) : Convert.ToString(value)).Append('|');
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var store in _opened)
            store.Dispose();
        await Task.CompletedTask;
    }

    protected static async Task<HashSet<string>> NamesAsync(DbCommand command)
    {
        var names = new HashSet<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            names.Add(reader.GetString(0));
        return names;
    }
}

/// <summary>A SQLite file in a temporary directory, deleted afterwards.</summary>
public sealed class SqliteTestDatabase : TestDatabase
{
    public SqliteTestDatabase()
    {
        Directory = Path.Combine(Path.GetTempPath(), "rs-store-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string DatabasePath => Path.Combine(Directory, "platform.db");

    protected override PlatformStore CreateStore(TimeProvider? clock) => new SqlitePlatformStore(DatabasePath, clock);

    public override async Task<DbConnection> ConnectAsync()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }

    public override Task<HashSet<string>> TablesAsync() => SqliteNamesAsync("table");

    public override Task<HashSet<string>> IndexesAsync() => SqliteNamesAsync("index");

    private async Task<HashSet<string>> SqliteNamesAsync(string type)
    {
        await using var connection = await ConnectAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = @type";
        command.Parameters.Add(new SqliteParameter("@type", type));
        return await NamesAsync(command);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>A database of its own on the assembly's PostgreSQL server; the stores use <see cref="Schema"/>.</summary>
public sealed class PostgresTestDatabase(string connectionString, string schema = PostgresPlatformStore.DefaultSchema) : TestDatabase
{
    /// <summary>The database, as the superuser, with no search path.</summary>
    public string ConnectionString { get; } = connectionString;

    public string Schema { get; } = schema;

    protected override PlatformStore CreateStore(TimeProvider? clock) => new PostgresPlatformStore(ConnectionString, Schema, clock);

    /// <summary>A store on another schema of the same database.</summary>
    public PlatformStore OpenOtherSchema(string schema) => new PostgresPlatformStore(ConnectionString, schema);

    public override async Task<DbConnection> ConnectAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { SearchPath = Schema, Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }

    public override Task<HashSet<string>> TablesAsync() =>
        PostgresNamesAsync("SELECT tablename FROM pg_tables WHERE schemaname = @schema");

    public override Task<HashSet<string>> IndexesAsync() =>
        PostgresNamesAsync("SELECT indexname FROM pg_indexes WHERE schemaname = @schema");

    /// <summary>The tables of another schema (<c>public</c> by default).</summary>
    public Task<HashSet<string>> TablesOfAsync(string schema) =>
        PostgresNamesAsync("SELECT tablename FROM pg_tables WHERE schemaname = @schema", schema);

    private async Task<HashSet<string>> PostgresNamesAsync(string sql, string? schema = null)
    {
        await using var connection = await ConnectAsync();
        await using var command = new NpgsqlCommand(sql, (NpgsqlConnection)connection);
        command.Parameters.AddWithValue("schema", schema ?? Schema);
        return await NamesAsync(command);
    }
}

/// <summary>The database of each test, created before it and released after it.</summary>
public abstract class StoreTestBase : IAsyncLifetime
{
    private TestDatabase? _database;

    protected TestDatabase Database => _database ?? throw new InvalidOperationException("The test database is created in InitializeAsync.");

    /// <summary>A new, empty database of the concrete class's provider.</summary>
    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        if (_database is not null)
            await _database.DisposeAsync();
    }
}

/// <summary>A clock the test moves.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}
