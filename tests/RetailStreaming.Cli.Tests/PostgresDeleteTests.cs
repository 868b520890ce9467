using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using RetailStreaming.Cli.Tests.Support;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Node;
using RetailStreaming.Store;
using RetailStreaming.TestSupport;

namespace RetailStreaming.Cli.Tests;

/// <summary>
/// rsctl workflow delete of a PostgreSQL workflow against a real node and a real PostgreSQL: no
/// replication slot, no publication and no snapshot progress schema are left behind, and the
/// workflow does not come back when the node restarts (its entity recovers deleted and captures nothing).
/// </summary>
public sealed class PostgresDeleteTests : IAsyncLifetime
{
    private const string SecretVariable = "RS_CLI_TESTS_PG_DELETE_SECRET";
    private const string WorkflowId = "pg-delete-orders";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(45);

    private readonly string _root = TestNode.NewTempDirectory("pg-delete");
    private readonly string _secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private PostgresServer? _server;
    private WebhookEndpoint? _endpoint;
    private WebApplication? _app;
    private Uri? _adminUrl;
    private string _token = "";

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(SecretVariable, _secret);
        _server = await PostgresServer.StartAsync(maxReplicationSlots: 4);
        _endpoint = await WebhookEndpoint.StartAsync(_secret);
    }

    [Fact]
    public async Task A_deleted_postgres_workflow_leaves_no_slot_and_no_publication_and_does_not_come_back_after_a_restart()
    {
        var database = await _server!.CreateDatabaseAsync("pgdelete");
        await ExecuteAsync(database, """
            CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, price numeric(12,2) NOT NULL, category text NOT NULL);
            INSERT INTO products VALUES ('sku-1', 'Product 1', 1.50, 'tests'), ('sku-2', 'Product 2', 2.50, 'tests');
            """);
        var objectName = PostgresCaptureNames.ObjectName(WorkflowId);
        var file = Path.Combine(_root, WorkflowId + ".yaml");
        await File.WriteAllTextAsync(file, $"""
            id: {WorkflowId}
            client: pgclient
            source:
              kind: postgres
              connection: "{database}"
              tables: [products]
            transform:
              package: RetailStreaming.Samples.Retail
              version: 1.0.0
              type: RetailStreaming.Samples.Retail.RetailTransform
            delivery:
              kind: webhook
              url: {_endpoint!.UrlFor(WorkflowId)}
              secretRef: env:{SecretVariable}
              timeout: 5s
              batching:
                maxWait: 50ms

            """);

        await StartNodeAsync();
        var apply = await RsctlAsync("workflow", "apply", "-f", file);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        await TestNode.EventuallyAsync(() => Task.FromResult(_endpoint.ReceivedBy(WorkflowId).Count), n => n >= 2, Within, "the 2 products snapshotted and delivered");
        await ExecuteAsync(database, "INSERT INTO products VALUES ('sku-3', 'Product 3', 3.50, 'tests')");
        await TestNode.EventuallyAsync(() => Task.FromResult(_endpoint.ReceivedBy(WorkflowId).Select(r => r.Key).ToHashSet()),
            keys => keys.Contains("sku-3"), Within, "the streamed insert delivered");
        Assert.Equal((1L, 1L, 1L), await CaptureObjectsAsync(database, objectName));

        var deleted = await RsctlAsync("workflow", "delete", WorkflowId);

        Assert.True(deleted.ExitCode == 0, deleted.ToString());
        Assert.Contains($"PostgreSQL replication slot {objectName} dropped, publication {objectName} dropped", deleted.Out);
        Assert.Equal((0L, 0L, 0L), await CaptureObjectsAsync(database, objectName));
        Assert.Equal("deleted", await StateAsync());
        var again = await RsctlAsync("workflow", "delete", WorkflowId);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("already deleted", again.Out);
        var history = await RsctlAsync("workflow", "history", WorkflowId);
        Assert.True(history.ExitCode == 0, history.ToString());

        // A new node on the same journal: remember-entities or a query may start the entity; it stays deleted.
        await StopNodeAsync();
        var received = _endpoint.ReceivedBy(WorkflowId).Count;
        await StartNodeAsync();
        await ExecuteAsync(database, "INSERT INTO products VALUES ('sku-4', 'Product 4', 4.50, 'tests')");
        Assert.Equal("deleted", await StateAsync());
        var show = await RsctlAsync("workflow", "show", WorkflowId);
        Assert.Contains("State:", show.Out);
        Assert.Contains("deleted", show.Out);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal((0L, 0L, 0L), await CaptureObjectsAsync(database, objectName));
        Assert.Equal(received, _endpoint.ReceivedBy(WorkflowId).Count);
        Assert.DoesNotContain(WorkflowId, (await RsctlAsync("workflow", "list")).Out);
    }

    private async Task<string?> StateAsync()
    {
        var show = await RsctlAsync("workflow", "show", WorkflowId, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        return JsonDocument.Parse(show.Out).RootElement.GetProperty("status").GetProperty("state").GetString();
    }

    /// <summary>The workflow's replication slots, publications and snapshot progress schemas in the client database.</summary>
    private static async Task<(long Slots, long Publications, long Schemas)> CaptureObjectsAsync(string database, string objectName)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = @name),
                   (SELECT count(*) FROM pg_publication WHERE pubname = @name),
                   (SELECT count(*) FROM pg_namespace WHERE nspname = @name)
            """, connection);
        command.Parameters.AddWithValue("name", objectName);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    private static async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private Task<CliRun> RsctlAsync(params string[] args) =>
        CliNode.RunRsctlAsync([.. args, "--node", _adminUrl!.ToString(), "--token", _token], Path.Combine(_root, "rsctl.json"), _root);

    private async Task StartNodeAsync()
    {
        _app = await NodeHost.BuildAsync(TestNode.Options(Path.Combine(_root, "node")));
        await _app.StartAsync();
        _adminUrl = TestNode.BoundAddress(_app);
        if (_token.Length == 0)
            (_token, _) = await _app.Services.GetRequiredService<ITokenStore>().IssueAsync("operator", null, "postgres delete tests");
        using var http = TestNode.Client(_adminUrl);
        await TestNode.EventuallyAsync(async () => (await http.GetAsync("/health/ready")).IsSuccessStatusCode, ok => ok, Within, "the node ready");
    }

    private async Task StopNodeAsync()
    {
        if (_app is null) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync();
        _app = null;
    }

    public async Task DisposeAsync()
    {
        try
        {
            await StopNodeAsync();
            if (_endpoint is not null) await _endpoint.DisposeAsync();
            if (_server is not null) await _server.DisposeAsync();
        }
        finally
        {
            await TestNode.DeleteDirectoryAsync(_root);
        }
    }
}
