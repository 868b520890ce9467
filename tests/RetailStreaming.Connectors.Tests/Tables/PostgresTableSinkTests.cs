using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Npgsql;
using RetailStreaming.Connectors.Tables;
using RetailStreaming.Connectors.Tests.Postgres;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Tables;

/// <summary>The table sink against a real PostgreSQL: the table converges to the source's state whatever is delivered twice, late or again.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresTableSinkTests(PostgresFixture fixture)
{
    private const string WorkflowId = "table-wf";

    /// <summary>A source history: change n (1-based) upserts or deletes key k(n mod keys).</summary>
    private static List<DeliveryRecord> History(int changes, int keys, int seed)
    {
        var random = new Random(seed);
        var records = new List<DeliveryRecord>();
        for (var n = 1; n <= changes; n++)
        {
            var key = "k" + random.Next(keys).ToString(CultureInfo.InvariantCulture);
            var delete = random.Next(5) == 0;
            records.Add(Record(n, key, delete, version: n));
        }
        return records;
    }

    private static DeliveryRecord Record(long n, string key, bool delete, long version, int outputIndex = 0, string? text = null)
    {
        var position = new SourcePosition("mem:" + n.ToString("D10", CultureInfo.InvariantCulture));
        var output = delete
            ? OutputRecord.Delete("doc", key)
            : new OutputRecord("doc", key, new JsonObject { ["key"] = key, ["version"] = version, ["text"] = text ?? "v" + version });
        return new DeliveryRecord(IdempotencyKey.For(WorkflowId, position, outputIndex), WorkflowId, position, outputIndex, "docs",
            delete ? ChangeOperation.Delete : ChangeOperation.Update, DateTimeOffset.UnixEpoch.AddSeconds(n), output);
    }

    /// <summary>The state the table must reach: per key, its last record (live document or deleted).</summary>
    private static Dictionary<string, (bool Deleted, long? Version, string Position)> Expected(IEnumerable<DeliveryRecord> history)
    {
        var state = new Dictionary<string, (bool, long?, string)>();
        foreach (var r in history)
            state[r.Record.Key] = (r.Record.IsDelete, r.Record.IsDelete ? null : r.Record.Payload["version"]!.GetValue<long>(), r.Position.Value);
        return state;
    }

    private static async Task<Dictionary<string, (bool Deleted, long? Version, string Position)>> TableAsync(PostgresTestDatabase db, string table)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT key, deleted, (document->>'version')::bigint, position FROM {table}", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<string, (bool, long?, string)>();
        while (await reader.ReadAsync())
            rows[reader.GetString(0)] = (reader.GetBoolean(1), reader.IsDBNull(2) ? null : reader.GetInt64(2), reader.GetString(3));
        return rows;
    }

    private static PostgresTableSink Sink(PostgresTestDatabase db, string table, string? connectionString = null, int maxAttempts = 0) =>
        new(new PostgresTableOptions(WorkflowId, connectionString ?? db.ConnectionString, table)
        {
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(50),
            MaxAttempts = maxAttempts,
        });

    private static async Task DeliverAllAsync(PostgresTableSink sink, IEnumerable<DeliveryRecord[]> batches)
    {
        foreach (var batch in batches)
        {
            var result = await sink.DeliverAsync(batch, CancellationToken.None);
            Assert.Empty(result.Refused);
        }
    }

    [Fact]
    public async Task The_table_converges_to_the_source_state_through_duplicates_late_batches_and_replays()
    {
        var db = await fixture.CreateDatabaseAsync();
        var history = History(changes: 600, keys: 40, seed: 7);
        var expected = Expected(history);
        Assert.Contains(expected.Values, v => v.Deleted); // the history ends with deleted keys too
        await using var sink = Sink(db, "docs_mirror");

        // In order, in batches of 25 (the sink creates the table).
        await DeliverAllAsync(sink, history.Chunk(25));
        Assert.Equal(expected, await TableAsync(db, "docs_mirror"));

        // A replay from an earlier checkpoint, in other batch sizes, with every record twice in its batch.
        await DeliverAllAsync(sink, history.Skip(230).SelectMany(r => new[] { r, r }).Chunk(17));
        Assert.Equal(expected, await TableAsync(db, "docs_mirror"));

        // Batches in any order (a batch retried after later ones were applied), some of them twice.
        var random = new Random(11);
        var shuffled = history.Chunk(9).Concat(history.Chunk(13).Where(_ => random.Next(3) == 0)).OrderBy(_ => random.Next()).ToList();
        var fresh = Sink(db, "docs_shuffled");
        await using (fresh)
            await DeliverAllAsync(fresh, shuffled);
        Assert.Equal(expected, await TableAsync(db, "docs_shuffled"));
    }

    [Fact]
    public async Task A_delete_leaves_a_tombstone_so_that_an_older_upsert_arriving_later_does_not_bring_the_row_back()
    {
        var db = await fixture.CreateDatabaseAsync();
        await using var sink = Sink(db, "shop.docs_tombstones", db.ConnectionString);
        await db.ExecuteAsync("CREATE SCHEMA shop");

        await DeliverAllAsync(sink, [[Record(1, "a", false, 1)], [Record(5, "a", true, 5)]]);
        await DeliverAllAsync(sink, [[Record(3, "a", false, 3)]]); // older than the delete: ignored
        var row = Assert.Single(await TableAsync(db, "shop.docs_tombstones"));
        Assert.Equal(("a", (true, (long?)null, "mem:0000000005")), (row.Key, row.Value));
        Assert.Null(await db.ScalarAsync<string>("SELECT document::text FROM shop.docs_tombstones"));

        // A newer upsert (a re-insert at the source) brings it back.
        await DeliverAllAsync(sink, [[Record(8, "a", false, 8)]]);
        Assert.Equal((false, (long?)8, "mem:0000000008"), (await TableAsync(db, "shop.docs_tombstones"))["a"]);

        // A delete of a key never seen leaves a tombstone too.
        await DeliverAllAsync(sink, [[Record(9, "b", true, 9)], [Record(6, "b", false, 6)]]);
        Assert.True((await TableAsync(db, "shop.docs_tombstones"))["b"].Deleted);
    }

    [Fact]
    public async Task Records_of_one_change_apply_in_output_index_order()
    {
        var db = await fixture.CreateDatabaseAsync();
        await using var sink = Sink(db, "docs_outputs");
        // One change gives two records of the same key: the second one is the state.
        await DeliverAllAsync(sink, [[Record(2, "a", false, 1, outputIndex: 0), Record(2, "a", false, 2, outputIndex: 1)]]);
        await DeliverAllAsync(sink, [[Record(2, "a", false, 1, outputIndex: 0)]]); // a replay of the first alone
        Assert.Equal((false, (long?)2, "mem:0000000002"), (await TableAsync(db, "docs_outputs"))["a"]);
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT output_index FROM docs_outputs WHERE key = 'a'"));
    }

    [Fact]
    public async Task A_record_postgres_refuses_is_returned_alone_and_the_rest_of_its_batch_is_applied()
    {
        var db = await fixture.CreateDatabaseAsync();
        await using var sink = Sink(db, "docs_refused");
        var bad = Record(2, "b", false, 2, text: "nul \u0000 inside");
        var batch = new[] { Record(1, "a", false, 1), bad, Record(3, "c", false, 3), Record(4, "a", false, 4) };

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        var refused = Assert.Single(result.Refused);
        Assert.Same(bad, refused.Record);
        Assert.Contains("22P05", refused.Reason);
        var table = await TableAsync(db, "docs_refused");
        Assert.Equal(["a", "c"], table.Keys.Order());
        Assert.Equal(4, table["a"].Version);
    }

    [Fact]
    public async Task An_existing_table_of_another_layout_is_refused_with_what_differs_and_nothing_is_written()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("""
            CREATE TABLE docs_other (key text PRIMARY KEY, type text NOT NULL, position text NOT NULL, output_index int NOT NULL,
                                     document text, idempotency_key text NOT NULL, source_table text NOT NULL, operation text NOT NULL,
                                     commit_time timestamptz NOT NULL, updated_at timestamptz NOT NULL, owner text NOT NULL)
            """);
        await using var sink = Sink(db, "docs_other");

        var error = await Assert.ThrowsAsync<SinkConfigurationException>(() => sink.DeliverAsync([Record(1, "a", false, 1)], CancellationToken.None));

        Assert.Contains("table docs_other", error.Message);
        Assert.Contains("column deleted (boolean) is missing", error.Message);
        Assert.Contains("column document is text, expected jsonb", error.Message);
        Assert.Contains("column position has collation \"default\", expected \"C\"", error.Message);
        Assert.Contains("column owner is NOT NULL without a default", error.Message);
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM docs_other"));
    }

    [Fact]
    public async Task A_table_the_sink_created_is_accepted_again_and_a_missing_schema_is_a_configuration_error()
    {
        var db = await fixture.CreateDatabaseAsync();
        await using (var first = Sink(db, "docs_again"))
            await DeliverAllAsync(first, [[Record(1, "a", false, 1)]]);
        await using (var second = Sink(db, "docs_again"))
            await DeliverAllAsync(second, [[Record(2, "a", false, 2)]]);
        Assert.Equal(2, (await TableAsync(db, "docs_again"))["a"].Version);

        await using var nowhere = Sink(db, "missing_schema.docs");
        var error = await Assert.ThrowsAsync<SinkConfigurationException>(() => nowhere.DeliverAsync([Record(1, "a", false, 1)], CancellationToken.None));
        Assert.Contains("the schema does not exist", error.Message);
    }

    [Fact]
    public async Task An_unreachable_server_is_retried_and_given_up_after_max_attempts()
    {
        var db = await fixture.CreateDatabaseAsync();
        var closed = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Port = FreePort(), Timeout = 2 }.ToString();
        var observer = new CountingObserver();
        await using var sink = new PostgresTableSink(new PostgresTableOptions(WorkflowId, closed, "docs")
        {
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(20),
            MaxAttempts = 3,
            Observer = observer,
        });
        var batch = new[] { Record(1, "a", false, 1), Record(2, "b", false, 2) };

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Equal(3, result.Attempts);
        Assert.Equal(2, observer.Retries);
        Assert.Equal(batch, result.Refused.Select(r => r.Record));
        Assert.All(result.Refused, r => Assert.StartsWith("gave up after 3 attempts: ", r.Reason));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class CountingObserver : IDeliveryObserver
    {
        public int Retries;

        public void Retrying(int attempt, TimeSpan delay, string reason) => Interlocked.Increment(ref Retries);

        public void Accepted(int records, TimeSpan duration) { }
    }
}
