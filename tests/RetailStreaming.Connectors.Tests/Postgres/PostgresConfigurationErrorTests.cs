using Npgsql;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Postgres;

/// <summary>Each configuration error gives its message, and nothing is created: no slot, no publication.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresConfigurationErrorTests(PostgresFixture fixture)
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task<SourceConfigurationException> FailsAsync(PostgresTestDatabase db, string workflowId, string[] tables, string? connectionString = null)
    {
        await using var source = db.Source(workflowId, tables, connectionString: connectionString);
        var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
        // A read prepares first, and fails the same way.
        await Assert.ThrowsAsync<SourceConfigurationException>(() => source.ReadAsync(SourcePosition.Start, 10, None));
        await AssertNothingCreatedAsync(db, source.SlotName);
        return error;
    }

    internal static async Task AssertNothingCreatedAsync(PostgresTestDatabase db, string name)
    {
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_replication_slots WHERE slot_name = @n", ("n", name)));
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_publication WHERE pubname = @n", ("n", name)));
    }

    [Fact]
    public async Task A_missing_table_is_named_with_the_tables_that_exist()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE products (id int PRIMARY KEY)");
        await db.ExecuteAsync("CREATE SCHEMA shop");
        await db.ExecuteAsync("CREATE TABLE shop.tickets (id int PRIMARY KEY)");

        var error = await FailsAsync(db, "wf-missing", ["products", "shop.tickets", "stores"]);
        Assert.Contains("Table 'public.stores' does not exist", error.Message);
        Assert.Contains("public.products, shop.tickets", error.Message);
        Assert.DoesNotContain("products' does not exist", error.Message);
    }

    [Fact]
    public async Task A_table_without_primary_key_or_replica_identity_full_is_refused()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int, amount int)");
        var error = await FailsAsync(db, "wf-nokey", ["tickets"]);
        Assert.Contains("Table 'public.tickets' has neither a primary key nor REPLICA IDENTITY FULL", error.Message);
        Assert.Contains("REPLICA IDENTITY FULL", error.Message);

        // The same table with REPLICA IDENTITY FULL is accepted, and keyed by all its columns.
        await db.ExecuteAsync("ALTER TABLE tickets REPLICA IDENTITY FULL");
        await using var source = await PostgresTestDatabase.StartedAsync(db.Source("wf-nokey", ["tickets"]));
        await db.ExecuteAsync("INSERT INTO tickets VALUES (1, 10)");
        await db.ExecuteAsync("DELETE FROM tickets");
        var changes = await PostgresTestDatabase.ReadAsync(source, SourcePosition.Start, 2);
        Assert.Equal(["id", "amount"], changes[1].Key.Keys);
        Assert.Equal(10L, changes[1].Before!["amount"]);
    }

    [Fact]
    public async Task A_table_with_replica_identity_nothing_is_refused()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await db.ExecuteAsync("ALTER TABLE tickets REPLICA IDENTITY NOTHING");
        var error = await FailsAsync(db, "wf-nothing", ["tickets"]);
        Assert.Contains("Table 'public.tickets' has REPLICA IDENTITY NOTHING", error.Message);
    }

    [Fact]
    public async Task A_user_without_replication_is_refused_and_every_problem_is_listed_at_once()
    {
        var db = await fixture.CreateDatabaseAsync();
        var role = "app_" + Guid.NewGuid().ToString("N")[..8];
        await db.ExecuteAsync($"CREATE ROLE {role} LOGIN");
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await db.ExecuteAsync($"GRANT SELECT ON tickets TO {role}");
        await db.ExecuteAsync("CREATE TABLE audit (id int)");
        var asRole = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role }.ToString();

        var error = await FailsAsync(db, "wf-role", ["tickets", "audit"], asRole);
        Assert.Contains($"User '{role}' has neither the REPLICATION attribute nor superuser", error.Message);
        Assert.Contains($"ALTER ROLE \"{role}\" REPLICATION", error.Message);
        Assert.Contains("Table 'public.audit' has neither a primary key", error.Message);
        Assert.Contains($"User '{role}' cannot SELECT from 'public.audit'", error.Message);
    }

    [Fact]
    public async Task A_user_that_may_not_create_the_publication_is_told_what_to_grant()
    {
        var db = await fixture.CreateDatabaseAsync();
        var role = "repl_" + Guid.NewGuid().ToString("N")[..8];
        await db.ExecuteAsync($"CREATE ROLE {role} LOGIN REPLICATION");
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await db.ExecuteAsync($"GRANT SELECT ON tickets TO {role}");
        var asRole = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role }.ToString();

        var error = await FailsAsync(db, "wf-grant", ["tickets"], asRole);
        Assert.Contains("cannot create or change publication 'rs_wf_grant_", error.Message);
        Assert.Contains("CREATE PUBLICATION", error.Message);
    }

    [Fact]
    public async Task An_unreadable_connection_string_is_a_configuration_error()
    {
        await using var source = new PostgresLogicalSource("wf-cs", "Host=127.0.0.1;Nonsense Key=1", ["t"],
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
        Assert.Contains("connection string is not valid", error.Message);
    }

    [Fact]
    public async Task A_missing_database_is_a_configuration_error()
    {
        var cs = new NpgsqlConnectionStringBuilder(fixture.Server.ConnectionString()) { Database = "does_not_exist" }.ToString();
        await using var source = new PostgresLogicalSource("wf-db", cs, ["t"], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
        Assert.Contains("does_not_exist", error.Message);
    }

    [Fact]
    public async Task The_publication_follows_the_configured_tables()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE a (id int PRIMARY KEY)");
        await db.ExecuteAsync("CREATE TABLE b (id int PRIMARY KEY)");
        await using (var source = db.Source("wf-pub", ["a"])) await source.PrepareAsync(None);
        await using (var source = db.Source("wf-pub", ["a", "b"])) await source.PrepareAsync(None);
        var name = PostgresCaptureNames.ObjectName(db.Id("wf-pub"));
        Assert.Equal(2L, await db.CountAsync("SELECT count(*) FROM pg_publication_tables WHERE pubname = @p", ("p", name)));
        await using (var source = db.Source("wf-pub", ["b"])) await source.PrepareAsync(None);
        Assert.Equal("b", await db.ScalarAsync<string>("SELECT tablename::text FROM pg_publication_tables WHERE pubname = @p", ("p", name)));
    }

    [Theory]
    [InlineData("orders", "rs_orders")]
    [InlineData("retail_eu_2", "rs_retail_eu_2")]
    [InlineData("Retail-EU.2", "rs_retail_eu_2_")]
    public void Names_are_lowercase_sql_identifiers_with_a_hash_when_the_id_was_changed(string workflowId, string expectedStart)
    {
        var name = PostgresCaptureNames.ObjectName(workflowId);
        Assert.StartsWith(expectedStart, name);
        Assert.Matches("^[a-z0-9_]{1,63}$", name);
        if (expectedStart.EndsWith('_')) Assert.Equal(expectedStart.Length + 8, name.Length);
        else Assert.Equal(expectedStart, name);
        var longName = PostgresCaptureNames.ObjectName(new string('w', 100));
        Assert.Equal(63, longName.Length);
        Assert.NotEqual(longName, PostgresCaptureNames.ObjectName(new string('w', 101)));
    }
}
