using System.Diagnostics;
using Npgsql;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// A node killed with SIGKILL in the middle of the initial snapshot of a table that already holds
/// rows, while the client keeps inserting new rows and updating the existing ones: after the
/// restart the snapshot resumes from its recorded progress, and the state rebuilt at the endpoint
/// equals the source tables.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresSnapshotCrashTests(PostgresServerFixture pg, ITestOutputHelper output)
{
    private const string WorkflowId = "it-pg-snap-crash";
    private const string SecretVariable = "RS_IT_PG_SNAP_CRASH_SECRET";
    private const int ExistingTickets = 40_000;
    private const int ExistingProducts = 5_000;

    [Fact]
    public async Task A_SIGKILL_during_the_initial_snapshot_resumes_it_and_the_endpoint_state_equals_the_source()
    {
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        var db = await PostgresRetailDatabase.CreateAsync(await pg.Server.CreateDatabaseAsync("client"));
        // Rows that exist before the workflow: they reach the endpoint only through the snapshot.
        await db.ExecuteAsync($"""
            INSERT INTO products SELECT 'SKU-OLD-' || g, 'Old product ' || g, 9.99, 'old' FROM generate_series(0, {ExistingProducts - 1}) g;
            INSERT INTO tickets SELECT 'T-OLD-' || lpad(g::text, 6, '0'), 'S-OLD', 'SKU-OLD-' || (g % {ExistingProducts}), 1 + g % 9, 10.50,
                '2026-01-01T00:00:00Z' FROM generate_series(1, {ExistingTickets}) g;
            """);
        const int existing = ExistingTickets + ExistingProducts;

        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = secret }, name: "pg-snap-crash-node");
        await PostgresChecks.ApplyAndWaitForStreamingAsync(node, db, WorkflowId, receiver, SecretVariable);

        // New rows from a writer, and updates of the existing rows (which the snapshot reads too):
        // every statement touches one row, so each is one change the endpoint must receive.
        using var stopWriting = new CancellationTokenSource();
        var writer = new PostgresRetailWriter(db, 1, seed: 505, changesPerSecond: 600);
        var updates = 0L;
        var writing = Task.WhenAll(
            writer.RunAsync(long.MaxValue, stopWriting.Token),
            UpdateExistingTicketsAsync(db, () => Interlocked.Increment(ref updates), stopWriting.Token));
        long Written() => writer.Written + Interlocked.Read(ref updates);
        int Reads() => receiver.Records.Count(r => r.Operation == "read");

        try
        {
            await Eventually.UntilAsync("the snapshot is under way", TimeSpan.FromSeconds(90), () => Reads() >= 2_000,
                () => $"{Reads()} snapshot reads received; status {PostgresChecks.Status(node, WorkflowId)}\n{node.OutputTail()}",
                every: TimeSpan.FromMilliseconds(20));
            node.Kill();
            var readsAtKill = Reads();
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] SIGKILL with {readsAtKill} of {existing} rows read, {Written()} changes written");
            Assert.True(readsAtKill < existing * 3 / 4,
                $"the snapshot was nearly over ({readsAtKill} of {existing} rows read) when the node was killed: the test did not test a kill during it");

            await Task.Delay(750); // the client keeps writing while the node is down
            await node.StartAsync();
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] restarted");
            var afterRestart = receiver.DistinctPositions;
            await Eventually.UntilAsync("new records arrive after the restart", TimeSpan.FromSeconds(60),
                () => receiver.DistinctPositions >= afterRestart + 1_000,
                () => $"received {receiver.DistinctPositions}, written {Written()}\n{node.OutputTail()}");
        }
        finally
        {
            await stopWriting.CancelAsync();
            await Task.WhenAny(writing);
        }
        await writing;

        var written = Written();
        await PostgresChecks.WaitForAllAsync(node, receiver, WorkflowId, written, TimeSpan.FromSeconds(120));
        // The snapshot ends after the last streamed change may have arrived: wait for the state.
        var source = await db.SourceStateAsync();
        await Eventually.UntilAsync("the endpoint state equals the source (the snapshot finished)", TimeSpan.FromSeconds(120),
            () => PostgresRetailDatabase.Compare(source, PostgresRetailDatabase.EndpointState(receiver.Records)).Count == 0,
            () => $"{PostgresRetailDatabase.Compare(source, PostgresRetailDatabase.EndpointState(receiver.Records)).Count} differences; " +
                  $"{Reads()} reads; status {PostgresChecks.Status(node, WorkflowId)}\n{node.OutputTail()}",
            every: TimeSpan.FromMilliseconds(500));
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] {written} changes and {existing} existing rows arrived ({Reads()} reads in all)");
        await PostgresChecks.AssertReconciledAsync(receiver, db, WorkflowId, written, crashed: true, output);
    }

    /// <summary>Updates random existing tickets, one row per transaction, until stopped.</summary>
    private static async Task UpdateExistingTicketsAsync(PostgresRetailDatabase db, Action updated, CancellationToken stop)
    {
        var random = new Random(606);
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync(stop);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await using var command = new NpgsqlCommand("UPDATE tickets SET quantity = @q WHERE ticket_id = @id", connection);
                command.Parameters.AddWithValue("q", random.Next(10, 99));
                command.Parameters.AddWithValue("id", $"T-OLD-{random.Next(1, ExistingTickets + 1):D6}");
                // Not cancelled half-way: an update is committed (and counted) whole.
                if (await command.ExecuteNonQueryAsync(CancellationToken.None) != 1)
                    throw new InvalidOperationException("an update of an existing ticket touched no row");
                updated();
                await Task.Delay(5, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
