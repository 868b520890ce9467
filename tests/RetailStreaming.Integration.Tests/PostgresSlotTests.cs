using System.Diagnostics;
using Npgsql;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>The workflow's replication slot on the client's server: heartbeats move it, a stop releases it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresSlotTests(PostgresServerFixture pg, ITestOutputHelper output)
{
    private const string SecretVariable = "RS_IT_PG_SLOT_SECRET";

    /// <summary>
    /// The heartbeat interval is PostgresSourceOptions.HeartbeatInterval, 10 s by default; a workflow
    /// definition cannot change it (the node builds the source with the defaults), so the test
    /// waits for a few heartbeats.
    /// </summary>
    [Fact]
    public async Task While_the_configured_tables_are_idle_and_other_tables_are_written_the_slot_confirmed_flush_LSN_advances()
    {
        const string workflowId = "it-pg-heartbeat";
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        var db = await PostgresRetailDatabase.CreateAsync(await pg.Server.CreateDatabaseAsync("client"));
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = secret }, name: "pg-heartbeat-node");
        await PostgresChecks.ApplyAndWaitForStreamingAsync(node, db, workflowId, receiver, SecretVariable);

        // Some captured changes first, delivered; then the captured tables stay idle.
        var writer = new PostgresRetailWriter(db, 1, seed: 505);
        await writer.RunAsync(200, CancellationToken.None);
        await PostgresChecks.WaitForAllAsync(node, receiver, workflowId, writer.Written, TimeSpan.FromSeconds(60));
        var delivered = receiver.Count;

        // Only audit_log (not in the publication) is written from now on.
        using var stop = new CancellationTokenSource();
        var auditing = Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(db.ConnectionString);
            await connection.OpenAsync();
            while (!stop.IsCancellationRequested)
            {
                await using var cmd = new NpgsqlCommand("INSERT INTO audit_log (note) SELECT repeat('x', 200) FROM generate_series(1, 50)", connection);
                await cmd.ExecuteNonQueryAsync();
                await Task.Delay(100);
            }
        });
        try
        {
            await Task.Delay(500);
            var target = await db.CurrentLsnAsync();
            var initial = (await db.SlotAsync(workflowId))?.ConfirmedFlush;
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] slot confirmed {initial}; WAL after the first audit writes {target}");
            string? confirmed = initial;
            await Eventually.UntilAsync($"the slot's confirmed_flush_lsn passes {target}", TimeSpan.FromSeconds(60), async () =>
            {
                confirmed = (await db.SlotAsync(workflowId))?.ConfirmedFlush;
                return confirmed is not null && await db.LsnAfterAsync(confirmed, target);
            }, () => $"confirmed_flush_lsn {confirmed} (was {initial}), target {target}; status {PostgresChecks.Status(node, workflowId)}\n{node.OutputTail()}", every: TimeSpan.FromSeconds(1));
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] slot confirmed {confirmed}");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAny(auditing);
        }
        await auditing;
        // The unconfigured table gave no record (snapshot reads of the captured tables may arrive late).
        Assert.DoesNotContain(receiver.Records, r => r.Table.EndsWith("audit_log", StringComparison.Ordinal));
        Assert.True(receiver.Count >= delivered);
    }

    [Fact]
    public async Task After_a_graceful_stop_of_the_node_pg_stat_replication_shows_no_connection_for_the_workflow_slot()
    {
        const string workflowId = "it-pg-stop";
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        var db = await PostgresRetailDatabase.CreateAsync(await pg.Server.CreateDatabaseAsync("client"));
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = secret }, name: "pg-stop-node");
        await PostgresChecks.ApplyAndWaitForStreamingAsync(node, db, workflowId, receiver, SecretVariable);
        var writer = new PostgresRetailWriter(db, 1, seed: 606);
        await writer.RunAsync(300, CancellationToken.None);
        await PostgresChecks.WaitForAllAsync(node, receiver, workflowId, writer.Written, TimeSpan.FromSeconds(60));

        var slot = PostgresCaptureNames.ObjectName(workflowId);
        var pid = (await db.SlotAsync(workflowId))?.ActivePid;
        Assert.NotNull(pid);
        Assert.Equal(1L, await Connections(db, slot));

        var exitCode = await node.StopAsync(TimeSpan.FromSeconds(45));
        Assert.True(exitCode == 0, $"the node exited with {exitCode} after SIGTERM\n{node.OutputTail()}");
        var stopped = clock.Elapsed;
        // The server notices a closed connection at once; a few hundred ms for its WAL sender to end.
        await Eventually.UntilAsync("pg_stat_replication has no connection for the slot", TimeSpan.FromSeconds(5),
            async () => await Connections(db, slot) == 0 && await db.SlotAsync(workflowId) is { Active: false },
            () => $"slot {db.SlotAsync(workflowId).GetAwaiter().GetResult()}\n{node.OutputTail()}", every: TimeSpan.FromMilliseconds(50));
        output.WriteLine($"walsender gone {(clock.Elapsed - stopped).TotalMilliseconds:0} ms after the node exited; slot {slot} inactive");
    }

    // WAL senders of the slot: the slot's active pid, or a sender named after the workflow.
    private static async Task<long> Connections(PostgresRetailDatabase db, string slot) =>
        await db.ScalarAsync<long>("""
            SELECT count(*) FROM pg_stat_replication r
            WHERE r.pid IN (SELECT active_pid FROM pg_replication_slots WHERE slot_name = @slot AND active_pid IS NOT NULL)
               OR r.application_name LIKE 'retailstreaming %'
            """, ("slot", slot));
}
