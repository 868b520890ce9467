using RetailStreaming.TestSupport;

namespace RetailStreaming.Store.Tests;

/// <summary>One PostgreSQL server for every PostgreSQL test of the assembly (a start costs a second); a database per test.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync(maxReplicationSlots: 4);

    /// <summary>A new, empty database for one test.</summary>
    public async Task<PostgresTestDatabase> CreateDatabaseAsync(string schema = Postgres.PostgresPlatformStore.DefaultSchema) =>
        new(await Server.CreateDatabaseAsync("store"), schema);

    public async Task DisposeAsync()
    {
        if (Server is not null)
            await Server.DisposeAsync();
    }
}

/// <summary>The PostgreSQL store tests: they share the server, so they run one class after another.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
