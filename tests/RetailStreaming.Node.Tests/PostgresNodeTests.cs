using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using RetailStreaming.Node.Tests.Support;
using RetailStreaming.Store;
using RetailStreaming.TestSupport;

namespace RetailStreaming.Node.Tests;

/// <summary>
/// A node with its journal and its platform store on PostgreSQL (a server the test starts): what
/// it was told survives a restart on another data directory, since nothing of it lives on the node.
/// </summary>
public sealed class PostgresNodeTests : IAsyncLifetime
{
    // Variables of this class only: other test classes run at the same time in this process.
    private const string JournalVariable = "RS_NODE_TESTS_PG_JOURNAL_DB";
    private const string SecretVariable = "RS_NODE_TESTS_PG_WEBHOOK_SECRET";
    private const string WorkflowId = "pg-products";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    private readonly string _root = TestNode.NewTempDirectory("postgres");
    private readonly string _secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private PostgresServer? _server;
    private WebhookEndpoint? _endpoint;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(SecretVariable, _secret);
        _server = await PostgresServer.StartAsync(maxReplicationSlots: 4);
        _endpoint = await WebhookEndpoint.StartAsync(_secret);
    }

    [Fact]
    public async Task A_workflow_applied_on_postgres_is_found_again_by_a_new_node_with_its_version_and_checkpoint()
    {
        var journal = await _server!.CreateDatabaseAsync("journal");
        var store = await _server.CreateDatabaseAsync("store");
        // The journal through a secret reference, as staging and production configure it; the store directly.
        Environment.SetEnvironmentVariable(JournalVariable, journal);
        NodeOptions Options(string name)
        {
            var options = TestNode.Options(Path.Combine(_root, name));
            options.Persistence = new DatabaseSection { Provider = "postgres", ConnectionStringRef = $"env:{JournalVariable}" };
            options.Store = new StoreSection { Provider = "postgres", ConnectionString = store };
            return options;
        }
        var source = RetailSource.CreateDatabase(_root, WorkflowId);
        var yaml = RetailSource.Definition(WorkflowId, "pg-client", source, _endpoint!.UrlFor(WorkflowId), SecretVariable);

        string token;
        string checkpointBefore;
        await using (var first = await RunningNode.StartAsync(Options("first")))
        {
            (token, _) = await first.App.Services.GetRequiredService<ITokenStore>().IssueAsync("operator", null, "postgres node tests");
            using var http = TestNode.Client(first.AdminUrl, token);
            using (var apply = await PostAsync(http, yaml))
            {
                Assert.Equal(HttpStatusCode.OK, apply.StatusCode);
                Assert.Equal(1, (await JsonAsync(apply)).GetProperty("version").GetInt32());
            }

            await TestNode.EventuallyAsync(
                () => Task.FromResult(DeliveredSkus()), skus => skus.IsSupersetOf(["sku-1", "sku-2"]), Within, "both seed products delivered");
            var running = await TestNode.EventuallyAsync(
                () => StatusAsync(http),
                s => s is { } v && v.GetProperty("state").GetString() == "running" && v.GetProperty("checkpoint").GetString() != "0",
                Within, $"{WorkflowId} running with a checkpoint past the start");
            checkpointBefore = running!.Value.GetProperty("checkpoint").GetString()!;
        }

        // Another data directory: the workflow, its checkpoint and the token can only come from PostgreSQL.
        await using (var second = await RunningNode.StartAsync(Options("second")))
        {
            using var http = TestNode.Client(second.AdminUrl, token);
            var status = await TestNode.EventuallyAsync(
                () => StatusAsync(http),
                s => s is { } v && v.GetProperty("state").GetString() == "running",
                Within, $"{WorkflowId} listed and running on the new node");
            Assert.Equal(1, status!.Value.GetProperty("definitionVersion").GetInt32());
            var checkpointAfter = status.Value.GetProperty("checkpoint").GetString()!;
            Assert.True(string.CompareOrdinal(checkpointAfter, checkpointBefore) >= 0,
                $"the checkpoint went back: {checkpointBefore} before the restart, {checkpointAfter} after");

            // It goes on from there: a new product reaches the endpoint.
            AddProduct(source, "sku-3");
            await TestNode.EventuallyAsync(
                () => Task.FromResult(DeliveredSkus()), skus => skus.Contains("sku-3"), Within, "the product added after the restart delivered");
        }

        // Akka's tables where Akka.Persistence.Sql puts them; the platform's in their own schema, none in public.
        Assert.Subset(await TablesAsync(journal, "public"), new HashSet<string> { "journal", "tags", "snapshot" });
        Assert.Subset(await TablesAsync(store, "retailstreaming"), new HashSet<string> { "schema_migrations", "dead_letters", "workflows", "tokens" });
        Assert.Empty(await TablesAsync(store, "public"));
        Assert.True(await ScalarAsync<long>(journal, "SELECT COUNT(*) FROM journal WHERE persistence_id LIKE '%pg-products%'") > 0);
    }

    private HashSet<string> DeliveredSkus() =>
        _endpoint!.Received.Where(r => r.Path == WorkflowId)
            .SelectMany(r => Regex.Matches(r.Body, "sku-\\d+").Select(m => m.Value))
            .ToHashSet();

    private static void AddProduct(string database, string sku)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"INSERT INTO products (sku, name, price, category) VALUES ('{sku}', 'Added', 9.5, 'tests')";
        command.ExecuteNonQuery();
    }

    private static async Task<JsonElement?> StatusAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/workflows");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        foreach (var view in (await JsonAsync(response)).EnumerateArray())
        {
            if (view.GetProperty("workflowId").GetString() == WorkflowId && view.GetProperty("status").ValueKind == JsonValueKind.Object)
                return view.GetProperty("status");
        }
        return null;
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string yaml) =>
        http.PostAsync($"/api/workflows?file={WorkflowId}.yaml", new StringContent(yaml, Encoding.UTF8, "application/yaml"));

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static async Task<HashSet<string>> TablesAsync(string connectionString, string schema)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = @schema", connection);
        command.Parameters.AddWithValue("schema", schema);
        await using var reader = await command.ExecuteReaderAsync();
        var names = new HashSet<string>();
        while (await reader.ReadAsync())
            names.Add(reader.GetString(0));
        return names;
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task DisposeAsync()
    {
        Environment.SetEnvironmentVariable(JournalVariable, null);
        Environment.SetEnvironmentVariable(SecretVariable, null);
        if (_endpoint is not null) await _endpoint.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
        await TestNode.DeleteDirectoryAsync(_root);
    }

    /// <summary>A node started in-process, stopped (drained) on dispose.</summary>
    private sealed class RunningNode : IAsyncDisposable
    {
        private RunningNode(WebApplication app)
        {
            App = app;
            AdminUrl = TestNode.BoundAddress(app);
        }

        public WebApplication App { get; }

        public Uri AdminUrl { get; }

        public static async Task<RunningNode> StartAsync(NodeOptions options)
        {
            var app = await NodeHost.BuildAsync(options);
            await app.StartAsync();
            return new RunningNode(app);
        }

        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await App.StopAsync(timeout.Token);
            await App.DisposeAsync();
        }
    }
}

/// <summary>
/// The persistence and store options of a node: <c>postgres</c> needs a connection string, given
/// directly or through a secret reference, and the errors name the key to set.
/// </summary>
public sealed class PostgresOptionsTests : IDisposable
{
    private readonly string _root = TestNode.NewTempDirectory("pg-options");
    private readonly List<string> _variables = [];

    [Theory]
    [InlineData("Persistence")]
    [InlineData("Store")]
    public async Task Postgres_without_a_connection_string_is_refused_naming_the_key(string section)
    {
        var options = Options();
        Section(options, section).Provider = "postgres";

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeHost.BuildAsync(options));

        Assert.Contains($"RetailStreaming:{section}:ConnectionString is required", error.Message);
        Assert.Contains($"RetailStreaming:{section}:ConnectionStringRef", error.Message);
    }

    [Fact]
    public async Task A_reference_to_an_unset_variable_is_refused_naming_the_key_and_the_variable()
    {
        var options = Options();
        options.Store = new StoreSection { Provider = "postgres", ConnectionStringRef = "env:RS_NODE_TESTS_NO_SUCH_DB" };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeHost.BuildAsync(options));

        Assert.Contains("RetailStreaming:Store:ConnectionStringRef", error.Message);
        Assert.Contains("RS_NODE_TESTS_NO_SUCH_DB", error.Message);
    }

    [Fact]
    public void References_read_variables_and_files_and_a_value_with_a_reference_is_ambiguous()
    {
        var file = Path.Combine(_root, "store-db");
        File.WriteAllText(file, "Host=db.internal;Database=platform;Username=rs;Password=from-file\n");
        var variable = Variable("Host=db.internal;Database=journal;Username=rs;Password=from-env");
        var options = Options();
        options.Persistence = new DatabaseSection { Provider = "postgres", ConnectionStringRef = $"env:{variable}" };
        options.Store = new StoreSection { Provider = "postgres", ConnectionStringRef = $"file:{file}" };

        Assert.Equal("Host=db.internal;Database=journal;Username=rs;Password=from-env", options.JournalConnectionString);
        Assert.Equal("Host=db.internal;Database=platform;Username=rs;Password=from-file", options.StoreConnectionString);

        options.Store.ConnectionString = "Host=elsewhere";
        var error = Assert.Throws<InvalidOperationException>(() => options.StoreConnectionString);
        Assert.Contains("RetailStreaming:Store:ConnectionString and RetailStreaming:Store:ConnectionStringRef", error.Message);
    }

    [Fact]
    public async Task An_unknown_provider_is_refused_naming_the_key()
    {
        var options = Options();
        options.Persistence.Provider = "mysql";

        var error = await Assert.ThrowsAsync<NotSupportedException>(() => NodeHost.BuildAsync(options));

        Assert.Contains("RetailStreaming:Persistence:Provider 'mysql'", error.Message);
    }

    [Fact]
    public async Task A_bad_schema_name_is_refused_naming_the_key()
    {
        var options = Options();
        options.Store = new StoreSection { Provider = "postgres", ConnectionString = "Host=127.0.0.1;Database=x", Schema = "Retail-Streaming" };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeHost.BuildAsync(options));

        Assert.StartsWith("RetailStreaming:Store:Schema", error.Message);
    }

    [Theory]
    [InlineData("staging")]
    [InlineData("production")]
    public void Staging_and_production_put_both_on_postgres_through_secret_references(string environment)
    {
        var options = NodeHost.ReadOptions(["--env", environment], out _);

        Assert.Equal("postgres", options.Persistence.Provider);
        Assert.Equal("env:RS_JOURNAL_DB", options.Persistence.ConnectionStringRef);
        Assert.Equal("", options.Persistence.ConnectionString);
        Assert.Equal("postgres", options.Store.Provider);
        Assert.Equal("env:RS_STORE_DB", options.Store.ConnectionStringRef);
        Assert.Equal("", options.Store.ConnectionString);
        Assert.Equal("retailstreaming", options.Store.Schema);
    }

    [Fact]
    public void Local_stays_on_sqlite_files_in_the_data_directory()
    {
        var options = NodeHost.ReadOptions(["--env", "local"], out _);

        Assert.Equal("sqlite", options.Persistence.Provider);
        Assert.Equal("sqlite", options.Store.Provider);
        Assert.EndsWith("journal.db", options.JournalConnectionString);
        Assert.EndsWith("platform.db", options.StoreConnectionString);
    }

    private NodeOptions Options() => TestNode.Options(Path.Combine(_root, "node"));

    private static DatabaseSection Section(NodeOptions options, string name) => name == "Store" ? options.Store : options.Persistence;

    private string Variable(string value)
    {
        var name = $"RS_NODE_TESTS_PG_{_variables.Count}_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(name, value);
        _variables.Add(name);
        return name;
    }

    public void Dispose()
    {
        foreach (var name in _variables)
            Environment.SetEnvironmentVariable(name, null);
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }
}
