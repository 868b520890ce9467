using Npgsql;
using RetailStreaming.Store.Postgres;

namespace RetailStreaming.Store.Tests;

public abstract class MigrationTests : StoreTestBase
{
    [Fact]
    public async Task Initialize_creates_the_schema()
    {
        var store = Database.Open();

        var applied = await store.InitializeAsync();

        Assert.Equal(store.Migrations.Select(m => m.Version), applied);
        Assert.Subset(await Database.TablesAsync(), new HashSet<string> { "schema_migrations", "dead_letters", "workflows", "tokens" });
        Assert.Subset(await Database.IndexesAsync(), new HashSet<string> { "ix_dead_letters_workflow", "ix_workflows_client", "ix_dead_letters_row", "ix_dead_letters_created" });
        Assert.Equal((long)store.Migrations.Count, await Database.ScalarAsync("SELECT COUNT(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task Initialize_is_idempotent_across_calls_and_reopening()
    {
        var store = await Database.OpenInitializedAsync();
        await store.DeadLetters.AddAsync(DeadLetterStoreTests.Letter("wf-a"));

        Assert.Empty(await store.InitializeAsync());
        store.Dispose();
        var reopened = Database.Open();
        Assert.Empty(await reopened.InitializeAsync());

        Assert.Equal((long)reopened.Migrations.Count, await Database.ScalarAsync("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(1, await reopened.DeadLetters.CountAsync("wf-a"));
    }

    [Fact]
    public async Task Several_stores_initializing_one_database_at_once_apply_each_migration_once()
    {
        var stores = Enumerable.Range(0, 8).Select(_ => Database.Open()).ToList();

        var applied = await Task.WhenAll(stores.Select(s => Task.Run(() => s.InitializeAsync())));

        Assert.Equal(stores[0].Migrations.Select(m => m.Version), applied.SelectMany(a => a).Order());
        Assert.Equal((long)stores[0].Migrations.Count, await Database.ScalarAsync("SELECT COUNT(*) FROM schema_migrations"));
        foreach (var store in stores)
            Assert.Equal(0, await store.DeadLetters.CountAsync("wf-a"));
    }

    [Fact]
    public async Task A_database_from_a_newer_build_is_refused()
    {
        var store = await Database.OpenInitializedAsync();
        var known = store.Migrations[^1].Version;
        store.Dispose();
        await Database.ExecuteAsync($"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({known + 1}, 'from_the_future', '2030-01-01T00:00:00.0000000Z')");

        var error = await Assert.ThrowsAsync<IncompatibleStoreSchemaException>(() => Database.Open().InitializeAsync());

        Assert.Contains($"schema version {known + 1}", error.Message);
        Assert.Contains($"newest this build knows ({known})", error.Message);
        Assert.Contains("downgrade", error.Message);
    }

    [Fact]
    public async Task A_database_whose_migration_names_differ_is_refused()
    {
        (await Database.OpenInitializedAsync()).Dispose();
        await Database.ExecuteAsync("UPDATE schema_migrations SET name = 'something_else' WHERE version = 1");

        var error = await Assert.ThrowsAsync<IncompatibleStoreSchemaException>(() => Database.Open().InitializeAsync());

        Assert.Contains("something_else", error.Message);
    }

    [Fact]
    public async Task Using_a_store_before_initializing_it_is_a_clear_error()
    {
        var store = Database.Open();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.DeadLetters.CountAsync("wf-a"));

        Assert.Contains("InitializeAsync", error.Message);
    }
}

public sealed class SqliteMigrationTests : MigrationTests
{
    private SqliteTestDatabase SqliteFile => (SqliteTestDatabase)Database;

    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());

    [Fact]
    public async Task Initialize_switches_the_file_to_wal_mode()
    {
        await Database.OpenInitializedAsync();

        Assert.Equal("wal", await Database.ScalarAsync("PRAGMA journal_mode"));
    }

    [Fact]
    public async Task A_connection_string_is_accepted_and_missing_directories_are_created()
    {
        var path = Path.Combine(SqliteFile.Directory, "nested", "dir", "store.db");
        using var store = new Sqlite.SqlitePlatformStore($"Data Source={path}");

        await store.InitializeAsync();

        Assert.True(File.Exists(path));
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresMigrationTests(PostgresFixture postgres) : MigrationTests
{
    private static readonly string[] PlatformTables = ["schema_migrations", "dead_letters", "workflows", "tokens", "dead_letter_attempts"];

    private PostgresTestDatabase Postgres => (PostgresTestDatabase)Database;

    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();

    [Fact]
    public async Task The_tables_live_in_their_own_schema_created_when_missing_and_none_in_public()
    {
        Assert.Null(await Database.ScalarAsync($"SELECT nspname FROM pg_namespace WHERE nspname = '{PostgresPlatformStore.DefaultSchema}'"));

        await Database.OpenInitializedAsync();

        Assert.Equal("retailstreaming", Postgres.Schema);
        Assert.Subset(await Database.TablesAsync(), PlatformTables.ToHashSet());
        Assert.Empty(await Postgres.TablesOfAsync("public"));
    }

    [Fact]
    public async Task Two_schemas_in_one_database_are_independent_stores()
    {
        var first = await Database.OpenInitializedAsync();
        using var second = Postgres.OpenOtherSchema("platform_two");
        Assert.Equal(second.Migrations.Select(m => m.Version), await second.InitializeAsync());

        await first.DeadLetters.AddAsync(DeadLetterStoreTests.Letter("wf-a"));
        await first.Workflows.RegisterAsync("wf-a", "client-1");

        Assert.Equal(0, await second.DeadLetters.CountAsync("wf-a"));
        Assert.Empty(await second.Workflows.ListAsync());
        Assert.Subset(await Postgres.TablesOfAsync("platform_two"), PlatformTables.ToHashSet());
    }

    [Fact]
    public async Task The_search_path_of_the_connection_string_is_replaced_by_the_schema()
    {
        var withPublic = new NpgsqlConnectionStringBuilder(Postgres.ConnectionString) { SearchPath = "public" }.ToString();
        using var store = new PostgresPlatformStore(withPublic);

        await store.InitializeAsync();
        await store.Workflows.RegisterAsync("wf-a", "client-1");

        Assert.Empty(await Postgres.TablesOfAsync("public"));
        Assert.Equal(1L, await Database.ScalarAsync("SELECT COUNT(*) FROM workflows"));
    }

    [Fact]
    public async Task A_schema_created_beforehand_is_used_by_a_user_who_may_not_create_schemas()
    {
        // What a DBA does for a cluster: a login without CREATE on the database, owning its schema.
        var role = "rs_app_" + Guid.NewGuid().ToString("N")[..8];
        await Database.ExecuteAsync($"CREATE ROLE {role} LOGIN; CREATE SCHEMA retailstreaming AUTHORIZATION {role};");
        var asApp = new NpgsqlConnectionStringBuilder(Postgres.ConnectionString) { Username = role }.ToString();
        Assert.Null(await Database.ScalarAsync($"SELECT 1 WHERE has_database_privilege('{role}', current_database(), 'CREATE')"));
        using var store = new PostgresPlatformStore(asApp);

        Assert.Equal(store.Migrations.Select(m => m.Version), await store.InitializeAsync());

        await store.Tokens.IssueAsync("operator", null, "ops");
        Assert.Equal(role, await Database.ScalarAsync("SELECT tableowner FROM pg_tables WHERE schemaname = 'retailstreaming' AND tablename = 'tokens'"));
    }

    [Fact]
    public async Task Stored_times_are_timestamps_an_operator_can_query()
    {
        var clock = new ManualClock(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
        var store = await Database.OpenInitializedAsync(clock);
        await store.DeadLetters.AddAsync(DeadLetterStoreTests.Letter("wf-a"));
        clock.Now = clock.Now.AddDays(2);
        await store.DeadLetters.AddAsync(DeadLetterStoreTests.Letter("wf-a"));

        Assert.Equal(1L, await Database.ScalarAsync("SELECT COUNT(*) FROM dead_letters WHERE created_at > timestamptz '2025-06-02 00:00:00+00'"));
        Assert.Equal("timestamp with time zone", await Database.ScalarAsync(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'retailstreaming' AND table_name = 'dead_letters' AND column_name = 'created_at'"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Platform")]
    [InlineData("rs-platform")]
    [InlineData("1platform")]
    [InlineData("pg_platform")]
    [InlineData("platform; DROP SCHEMA public")]
    [InlineData("a123456789a123456789a123456789a123456789a123456789a123456789abcd")]
    public void Invalid_schema_names_are_rejected(string schema)
    {
        var error = Assert.Throws<ArgumentException>(() => new PostgresPlatformStore(Postgres.ConnectionString, schema));

        Assert.Equal("schema", error.ParamName);
    }

    [Fact]
    public void The_description_names_the_server_database_and_schema_but_no_password()
    {
        var withPassword = new NpgsqlConnectionStringBuilder(Postgres.ConnectionString) { Password = "s3cret-pw" }.ToString();
        using var store = new PostgresPlatformStore(withPassword);

        var error = Assert.Throws<InvalidOperationException>(() => store.Workflows.ListAsync().GetAwaiter().GetResult());

        Assert.Contains($"PostgreSQL 127.0.0.1:", error.Message);
        Assert.Contains("schema 'retailstreaming'", error.Message);
        Assert.DoesNotContain("s3cret-pw", error.Message);
    }
}
