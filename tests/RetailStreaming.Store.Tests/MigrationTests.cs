using Microsoft.Data.Sqlite;

namespace RetailStreaming.Store.Tests;

public sealed class MigrationTests : IDisposable
{
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Initialize_creates_the_schema_in_wal_mode()
    {
        var store = _temp.Open();

        var applied = await store.InitializeAsync();

        Assert.Equal(store.Migrations.Select(m => m.Version), applied);
        Assert.Subset(Tables(), new HashSet<string> { "schema_migrations", "dead_letters", "workflows", "tokens" });
        Assert.Contains("ix_dead_letters_workflow", Indexes());
        Assert.Equal("wal", Scalar("PRAGMA journal_mode"));
        Assert.Equal((long)store.Migrations.Count, Scalar("SELECT COUNT(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task Initialize_is_idempotent_across_calls_and_reopening()
    {
        var store = await _temp.OpenInitializedAsync();
        await store.DeadLetters.AddAsync(DeadLetterStoreTests.Letter("wf-a"));

        Assert.Empty(await store.InitializeAsync());
        store.Dispose();
        var reopened = _temp.Open();
        Assert.Empty(await reopened.InitializeAsync());

        Assert.Equal((long)reopened.Migrations.Count, Scalar("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(1, await reopened.DeadLetters.CountAsync("wf-a"));
    }

    [Fact]
    public async Task Concurrent_initializers_apply_each_migration_once()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => _temp.Open()).ToList();

        var applied = await Task.WhenAll(stores.Select(s => Task.Run(() => s.InitializeAsync())));

        Assert.Equal(stores[0].Migrations.Select(m => m.Version), applied.SelectMany(a => a).Order());
    }

    [Fact]
    public async Task A_database_from_a_newer_build_is_refused()
    {
        var store = await _temp.OpenInitializedAsync();
        var known = store.Migrations[^1].Version;
        store.Dispose();
        Execute($"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({known + 1}, 'from_the_future', '2030-01-01T00:00:00.0000000Z')");

        var error = await Assert.ThrowsAsync<IncompatibleStoreSchemaException>(() => _temp.Open().InitializeAsync());

        Assert.Contains($"schema version {known + 1}", error.Message);
        Assert.Contains($"newest this build knows ({known})", error.Message);
        Assert.Contains("downgrade", error.Message);
    }

    [Fact]
    public async Task A_database_whose_migration_names_differ_is_refused()
    {
        (await _temp.OpenInitializedAsync()).Dispose();
        Execute("UPDATE schema_migrations SET name = 'something_else' WHERE version = 1");

        var error = await Assert.ThrowsAsync<IncompatibleStoreSchemaException>(() => _temp.Open().InitializeAsync());

        Assert.Contains("something_else", error.Message);
    }

    [Fact]
    public async Task Using_a_store_before_initializing_it_is_a_clear_error()
    {
        var store = _temp.Open();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.DeadLetters.CountAsync("wf-a"));

        Assert.Contains("InitializeAsync", error.Message);
    }

    [Fact]
    public async Task A_connection_string_is_accepted_and_missing_directories_are_created()
    {
        var path = Path.Combine(_temp.Directory, "nested", "dir", "store.db");
        using var store = new Sqlite.SqlitePlatformStore($"Data Source={path}");

        await store.InitializeAsync();

        Assert.True(File.Exists(path));
    }

    private HashSet<string> Tables() => Names("table");

    private HashSet<string> Indexes() => Names("index");

    private HashSet<string> Names(string type)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = $type";
        command.Parameters.AddWithValue("$type", type);
        using var reader = command.ExecuteReader();
        var names = new HashSet<string>();
        while (reader.Read())
            names.Add(reader.GetString(0));
        return names;
    }

    private object? Scalar(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private void Execute(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _temp.DatabasePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }
}
