using RetailStreaming.TestSupport;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// One throwaway PostgreSQL server (wal_level=logical) for all PostgreSQL test classes; each test
/// creates its own databases on it.
/// </summary>
public sealed class PostgresServerFixture : IAsyncLifetime
{
    /// <summary>The server.</summary>
    public PostgresServer Server { get; private set; } = null!;

    /// <summary>
    /// Environment variables that put a node's journal, snapshot store and platform store on a new
    /// database of this server, as a cluster runs.
    /// </summary>
    public async Task<Dictionary<string, string>> NodeOnPostgresAsync()
    {
        var platform = await Server.CreateDatabaseAsync("rs_node");
        return new Dictionary<string, string>
        {
            ["RetailStreaming__Persistence__Provider"] = "postgres",
            ["RetailStreaming__Persistence__ConnectionString"] = platform,
            ["RetailStreaming__Store__Provider"] = "postgres",
            ["RetailStreaming__Store__ConnectionString"] = platform,
        };
    }

    /// <inheritdoc />
    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (Server is not null) await Server.DisposeAsync();
    }
}

/// <summary>The PostgreSQL test classes: they share <see cref="PostgresServerFixture"/> and run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServerFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "postgres server";
}
