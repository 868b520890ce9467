using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.TestSupport;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Postgres;

/// <summary>One throwaway PostgreSQL server (wal_level=logical) for every test of the collection.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? _server;

    public PostgresServer Server => _server ?? throw new InvalidOperationException("The server is not started.");

    public async Task InitializeAsync() => _server = await PostgresServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    /// <summary>
    /// A new database for one test. Slots belong to the whole server: those the previous tests left
    /// (the tests of the collection run one after the other) are dropped first, so that they do not
    /// use up max_replication_slots.
    /// </summary>
    public async Task<PostgresTestDatabase> CreateDatabaseAsync()
    {
        await using (var connection = new NpgsqlConnection(Server.ConnectionString()))
        {
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active", connection);
            await drop.ExecuteNonQueryAsync();
        }
        return new PostgresTestDatabase(Server, await Server.CreateDatabaseAsync("pgcap"));
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}

/// <summary>One database of the test server, as the superuser, with helpers to write and to read capture state.</summary>
public sealed class PostgresTestDatabase(PostgresServer server, string connectionString)
{
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];

    public PostgresServer Server { get; } = server;

    public string ConnectionString { get; } = connectionString;

    public async Task ExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T?> ScalarAsync<T>(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    /// <summary>A workflow id of this database: slot names are unique in the whole server.</summary>
    public string Id(string workflowId) => workflowId + "-" + _suffix;

    public PostgresLogicalSource Source(string workflowId, IReadOnlyList<string> tables, PostgresSourceOptions? options = null, string? connectionString = null) =>
        new(Id(workflowId), connectionString ?? ConnectionString, tables, NullLogger.Instance,
            options ?? new PostgresSourceOptions { HeartbeatInterval = TimeSpan.Zero, StatusInterval = TimeSpan.FromSeconds(1) });

    /// <summary>Prepares the source and makes its first read from the start, which creates the slot.</summary>
    public static async Task<PostgresLogicalSource> StartedAsync(PostgresLogicalSource source)
    {
        await source.PrepareAsync(CancellationToken.None);
        var first = await source.ReadAsync(SourcePosition.Start, 100, CancellationToken.None);
        Assert.Empty(first);
        return source;
    }

    /// <summary>Reads until <paramref name="count"/> changes arrived (fails after the timeout), then checks nothing more comes.</summary>
    /// <remarks>
    /// With <paramref name="streamedOnly"/>, snapshot reads are passed over (their positions still
    /// checked): the initial snapshot of tables that were empty when the slot was made may, on a
    /// loaded machine, run its chunk queries after the test's writes and read their rows too.
    /// </remarks>
    public static async Task<List<ChangeEvent>> ReadAsync(PostgresLogicalSource source, SourcePosition after, int count, int page = 500, TimeSpan? timeout = null, bool streamedOnly = false)
    {
        var changes = new List<ChangeEvent>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        var position = after;
        while (changes.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Only {changes.Count} of {count} changes arrived in time.");
            var batch = await source.ReadAsync(position, page, CancellationToken.None);
            Assert.True(batch.Count <= page);
            foreach (var change in batch)
            {
                Assert.True(change.Position > position, $"{change.Position} does not follow {position}");
                position = change.Position;
                if (!streamedOnly || change.Operation != ChangeOperation.Read)
                    changes.Add(change);
            }
        }
        Assert.Equal(count, changes.Count);
        return changes;
    }

    /// <summary>The slot's confirmed_flush_lsn, or null without the slot.</summary>
    public async Task<ulong?> ConfirmedFlushAsync(string slot)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = @slot", connection);
        command.Parameters.AddWithValue("slot", slot);
        var result = await command.ExecuteScalarAsync();
        return result is NpgsqlTypes.NpgsqlLogSequenceNumber lsn ? (ulong)lsn : null;
    }

    /// <summary>Waits until the slot's confirmed_flush_lsn satisfies <paramref name="condition"/>; returns the last value seen.</summary>
    public async Task<ulong?> WaitForConfirmedFlushAsync(string slot, Func<ulong, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        ulong? value;
        do
        {
            value = await ConfirmedFlushAsync(slot);
            if (value is { } v && condition(v)) return v;
            await Task.Delay(50);
        } while (DateTime.UtcNow < deadline);
        return value;
    }

    public async Task<long> CountAsync(string sql, params (string Name, object? Value)[] parameters) =>
        await ScalarAsync<long>(sql, parameters);

    public static ulong CommitLsnOf(ChangeEvent change) => PostgresPosition.Parse(change.Position)!.Value.CommitLsn;
}
