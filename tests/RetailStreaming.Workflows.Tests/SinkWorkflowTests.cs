using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Npgsql;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.TestSupport;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// The in-memory source and a small transform, with the node's real sink for the definition's
/// <c>delivery.kind</c> (<see cref="DefaultWorkflowConnectors.CreateSink"/>).
/// </summary>
public sealed class RealSinkConnectors(FakeConnectors fakes, string root) : IWorkflowConnectors, IDisposable
{
    private readonly DefaultWorkflowConnectors _node = new(Path.Combine(root, "packages"), Path.Combine(root, "package-cache"));

    public IChangeSource CreateSource(WorkflowDefinition definition) => fakes.CreateSource(definition);

    public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer) => _node.CreateSink(definition, observer);

    public IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger) => new TicketTransform(definition.Transform.Version);

    public void Dispose() => _node.Dispose();

    /// <summary>A ticket document per change, or a delete marker for a deleted ticket.</summary>
    private sealed class TicketTransform(string version) : IWorkflowTransform
    {
        public string Version => version;

        public Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken)
        {
            var id = change.Key.GetString("id")!;
            var record = change.Operation == ChangeOperation.Delete
                ? OutputRecord.Delete("ticket", id)
                : new OutputRecord("ticket", id, new JsonObject { ["id"] = id, ["total"] = change.Row.GetDecimal("total") });
            return Task.FromResult(TransformOutcome.Ok([record]));
        }

        public void Dispose() { }
    }
}

/// <summary>A workflow delivering into a PostgreSQL table: the table ends as the source's rows, through stream rebuilds and a full replay.</summary>
public sealed class TableSinkWorkflowTests(ITestOutputHelper output) : WorkflowTestKit(output), IAsyncLifetime
{
    private const string Id = "tickets-table";
    private PostgresServer? _server;

    public async Task InitializeAsync() => _server = await PostgresServer.StartAsync(maxReplicationSlots: 1);

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    private static string Yaml(string connection) => $$"""
        id: {{Id}}
        client: acme
        source:
          kind: sqlite
          connection: "Data Source=/nonexistent/{{Id}}.db"
          tables: [tickets]
          pollInterval: 50ms
        transform:
          package: Acme.Transforms
          version: 1.0.0
          type: Acme.Transforms.TicketTransform
        delivery:
          kind: table
          connection: "{{connection}}"
          table: mirror.tickets
          batching: { maxRecords: 20, maxWait: 30ms }
          retry: { initialBackoff: 50ms, maxBackoff: 500ms }

        """;

    [Fact]
    public async Task The_table_holds_the_source_rows_after_deletes_stream_rebuilds_and_a_full_replay()
    {
        var connection = await _server!.CreateDatabaseAsync("tablesink");
        await Execute(connection, "CREATE SCHEMA mirror");
        var log = Connectors.Source(Id);
        var source = new Dictionary<long, decimal>();
        var random = new Random(5);
        void Write(int changes)
        {
            for (var i = 0; i < changes; i++)
            {
                var id = random.Next(1, 30);
                if (source.ContainsKey(id) && random.Next(4) == 0)
                {
                    source.Remove(id);
                    log.AppendChange(ChangeOperation.Delete, id, 0);
                }
                else
                {
                    var total = random.Next(1, 10_000) / 100m;
                    log.AppendChange(source.ContainsKey(id) ? ChangeOperation.Update : ChangeOperation.Insert, id, total);
                    source[id] = total;
                }
            }
        }

        using var connectors = new RealSinkConnectors(Connectors, Directory.Path);
        var deps = Deps with { Connectors = connectors };
        var node = StartNode(deps: deps);
        await ApplyAsync(node, Id, Yaml(connection));

        Write(150);
        await AwaitTableAsync(connection, source, "the first 150 changes");
        // Lost source connections rebuild the stream from the checkpoint; more changes meanwhile.
        log.FailNextReads(2);
        Write(150);
        await AwaitTableAsync(connection, source, "300 changes through stream rebuilds");
        var last = MemoryChangeLog.PositionOf(300).Value;
        await AwaitStatusAsync(node, Id, s => s.Checkpoint == last, "checkpoint at the last change");
        Assert.True(await Scalar<long>(connection, "SELECT count(*) FROM mirror.tickets WHERE deleted") > 0, "no delete was exercised");

        // A node on an empty journal replays the whole history into the same table: nothing changes.
        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        var replayDirectory = new TestDirectory();
        var replay = ActorSystem.Create("workflows-replay", SystemConfig(replayDirectory));
        try
        {
            var updatedBefore = await Scalar<DateTime>(connection, "SELECT max(updated_at) FROM mirror.tickets");
            var node2 = StartNode(replay, deps);
            var reply = await node2.Ask<object>(new Protocol.WorkflowCommands.ApplyDefinition(Id, Yaml(connection), Id + ".yaml"), TimeSpan.FromSeconds(15));
            Assert.IsType<Protocol.WorkflowReplies.DefinitionApplied>(reply);
            await AwaitAssertAsync(async () =>
            {
                var status = await node2.Ask<Protocol.WorkflowStatus>(new Protocol.WorkflowCommands.GetStatus(Id), TimeSpan.FromSeconds(5));
                Assert.Equal(300, status.DeliveredChanges);
            }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));
            await AwaitTableAsync(connection, source, "the replayed history");
            Assert.Equal(updatedBefore, await Scalar<DateTime>(connection, "SELECT max(updated_at) FROM mirror.tickets"));
        }
        finally
        {
            await replay.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
            replayDirectory.Dispose();
        }
    }

    /// <summary>Polls until the live rows of the table are exactly the source's rows.</summary>
    private async Task AwaitTableAsync(string connection, Dictionary<long, decimal> source, string what)
    {
        var expected = source.ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => p.Value);
        Dictionary<string, decimal>? rows = null;
        await AwaitAssertAsync(async () =>
        {
            rows = await LiveRowsAsync(connection);
            Assert.Equal(expected, rows);
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));
        _output.WriteLine($"{what}: {rows!.Count} live rows");
    }

    private readonly ITestOutputHelper _output = output;

    private static async Task<Dictionary<string, decimal>> LiveRowsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT key, (document->>'total')::numeric FROM mirror.tickets WHERE NOT deleted", connection);
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new Dictionary<string, decimal>();
            while (await reader.ReadAsync()) rows[reader.GetString(0)] = reader.GetDecimal(1);
            return rows;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return [];
        }
    }

    private static async Task Execute(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> Scalar<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}

/// <summary>A workflow delivering into NDJSON files: every change once, in order, in completed files.</summary>
public sealed class FileSinkWorkflowTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private const string Id = "tickets-files";

    [Fact]
    public async Task Every_change_lands_in_completed_files_in_source_order_through_a_stream_rebuild()
    {
        var outDirectory = System.IO.Path.Combine(Directory.Path, "out");
        var yaml = $$"""
            id: {{Id}}
            client: acme
            source:
              kind: sqlite
              connection: "Data Source=/nonexistent/{{Id}}.db"
              tables: [tickets]
              pollInterval: 50ms
            transform:
              package: Acme.Transforms
              version: 1.0.0
              type: Acme.Transforms.TicketTransform
            delivery:
              kind: file
              directory: {{outDirectory}}
              rollSize: 2KB
              rollInterval: 300ms
              batching: { maxRecords: 10, maxWait: 30ms }

            """;
        var log = Connectors.Source(Id);
        using var connectors = new RealSinkConnectors(Connectors, Directory.Path);
        var node = StartNode(deps: Deps with { Connectors = connectors });
        await ApplyAsync(node, Id, yaml);

        for (var i = 1; i <= 100; i++) log.AppendChange(ChangeOperation.Insert, i, i);
        await AwaitStatusAsync(node, Id, s => s.DeliveredChanges >= 100, "100 changes delivered");
        log.FailNextReads(2);
        for (var i = 101; i <= 200; i++) log.AppendChange(i % 10 == 0 ? ChangeOperation.Delete : ChangeOperation.Update, i - 100, i);
        await AwaitStatusAsync(node, Id, s => s.Checkpoint == MemoryChangeLog.PositionOf(200).Value, "checkpoint at change 200");

        // Completed by the roll interval: every line in a completed file, none left in a temporary one.
        List<JsonElement> lines = [];
        await AwaitAssertAsync(() =>
        {
            Assert.Empty(System.IO.Directory.GetFiles(outDirectory, "*.tmp"));
            lines = ReadCompleted(outDirectory);
            Assert.Equal(200, lines.Select(l => l.GetProperty("position").GetString()).Distinct().Count());
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        Assert.True(System.IO.Directory.GetFiles(outDirectory, "*.ndjson").Length > 2, "the files were not rolled by size");
        var positions = lines.Select(l => new SourcePosition(l.GetProperty("position").GetString()!)).ToList();
        // In source order; a record written again after the rebuild is the same record (same id).
        Assert.Equal(Enumerable.Range(1, 200).Select(n => MemoryChangeLog.PositionOf(n)), positions.Distinct());
        foreach (var line in lines)
        {
            var position = new SourcePosition(line.GetProperty("position").GetString()!);
            Assert.Equal(IdempotencyKey.For(Id, position, 0), line.GetProperty("id").GetString());
        }
        var deletes = lines.Where(l => l.GetProperty("deleted").GetBoolean()).ToList();
        Assert.Equal(10, deletes.Select(l => l.GetProperty("position").GetString()).Distinct().Count());
        Assert.All(deletes, l => Assert.Equal("delete", l.GetProperty("operation").GetString()));
    }

    private static List<JsonElement> ReadCompleted(string directory)
    {
        var lines = new List<JsonElement>();
        foreach (var file in System.IO.Directory.GetFiles(directory, Id + "-*.ndjson").Order(StringComparer.Ordinal))
        {
            foreach (var line in File.ReadAllLines(file))
                lines.Add(JsonDocument.Parse(line).RootElement.Clone());
        }
        return lines;
    }
}
