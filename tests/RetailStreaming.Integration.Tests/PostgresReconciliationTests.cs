using System.Diagnostics;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// Reconciliation over PostgreSQL logical replication: thousands of mixed changes across the retail
/// tables, written by concurrent writers in transactions of 1 to 50 rows while the workflow streams;
/// the state rebuilt at the endpoint equals the source tables, also across a re-snapshot of one table
/// requested mid-stream. The node runs entirely on PostgreSQL (journal, snapshot store, platform
/// store and source), as a cluster does.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresReconciliationTests(PostgresServerFixture pg, ITestOutputHelper output)
{
    private const string WorkflowId = "it-pg-reconcile";
    private const string SecretVariable = "RS_IT_PG_RECONCILE_SECRET";

    /// <summary>Changes written by the test; RS_IT_PG_CHANGES overrides (about a minute on 2 cores).</summary>
    private static readonly int Changes = PostgresChecks.FromEnvironment("RS_IT_PG_CHANGES", 100_000);

    [Fact]
    public async Task Mixed_changes_in_transactions_of_1_to_50_rows_rebuild_the_source_tables_at_the_endpoint_without_duplicates()
    {
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        // Tables in their own schema: the workflow configures them as retail.<table>.
        var db = await PostgresRetailDatabase.CreateAsync(await pg.Server.CreateDatabaseAsync("client"), schema: "retail");
        var environment = await pg.NodeOnPostgresAsync();
        environment[SecretVariable] = secret;
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(environment, name: "pg-reconcile-node");
        await PostgresChecks.ApplyAndWaitForStreamingAsync(node, db, WorkflowId, receiver, SecretVariable);
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] streaming");

        // Two writers: their transactions interleave in the WAL, so commit order differs from record order.
        var writers = new[] { new PostgresRetailWriter(db, 1, seed: 101), new PostgresRetailWriter(db, 2, seed: 202) };
        var writing = Task.WhenAll(writers.Select(w => w.RunAsync(Changes / writers.Length, CancellationToken.None)));

        // Mid-stream, an operator re-snapshots one table while the writers go on: its rows arrive
        // again as reads (extra records, not extra changes), and the state still converges.
        await Eventually.UntilAsync("a third of the changes written", TimeSpan.FromSeconds(120),
            () => writers.Sum(w => w.Written) >= Changes / 3 || writing.IsCompleted, () => $"written {writers.Sum(w => w.Written)}");
        using (var snapshot = await node.Admin.PostAsync($"/api/workflows/{WorkflowId}/snapshot?table=retail.products", null))
            Assert.True(snapshot.StatusCode == System.Net.HttpStatusCode.Accepted,
                $"POST snapshot answered {(int)snapshot.StatusCode}: {await snapshot.Content.ReadAsStringAsync()}");
        var readsBefore = receiver.Records.Count(r => r.Operation == "read");
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] re-snapshot of retail.products requested at {writers.Sum(w => w.Written)} changes written");

        await writing;
        var written = writers.Sum(w => w.Written);
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] {written} changes written in {writers.Sum(w => w.Transactions)} transactions; received {receiver.DistinctPositions} so far");

        await PostgresChecks.WaitForAllAsync(node, receiver, WorkflowId, written, TimeSpan.FromSeconds(180));
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] all arrived");
        // The re-snapshot read the products table again (the rows it holds now, or those it held
        // while the snapshot went through it): reads of products arrived after the request. They may
        // come after the last streamed change: the re-snapshot waits its turn behind a snapshot still
        // running (the initial one, when the writers outran it), chunk by chunk between the changes.
        int ProductReads() => receiver.Records.Count(r => r.Operation == "read" && r.Table.EndsWith("products", StringComparison.Ordinal));
        await Eventually.UntilAsync("product rows are read again after the re-snapshot request", TimeSpan.FromSeconds(60),
            () => receiver.Records.Count(r => r.Operation == "read") > readsBefore && ProductReads() > 0,
            () => $"{readsBefore} reads before the request, {receiver.Records.Count(r => r.Operation == "read")} now, {ProductReads()} of products; status {PostgresChecks.Status(node, WorkflowId)}",
            every: TimeSpan.FromMilliseconds(250));
        // The last snapshot reads may come after the last streamed change: wait for the state.
        var source = await db.SourceStateAsync();
        await Eventually.UntilAsync("the endpoint state equals the source (the re-snapshot finished)", TimeSpan.FromSeconds(60),
            () => PostgresRetailDatabase.Compare(source, PostgresRetailDatabase.EndpointState(receiver.Records)).Count == 0,
            () => $"{PostgresRetailDatabase.Compare(source, PostgresRetailDatabase.EndpointState(receiver.Records)).Count} differences",
            every: TimeSpan.FromMilliseconds(500));
        // Nothing more may come (a duplicate would be a bug): give a straggler a moment to show.
        await Task.Delay(500);
        await PostgresChecks.AssertReconciledAsync(receiver, db, WorkflowId, written, crashed: false, output);

        // The persisted checkpoint reaches the last position.
        var lastPosition = receiver.Records.Max(r => r.Position)!;
        string? checkpoint = null;
        // (Positions are fixed-width and order as strings; a later heartbeat may move it further.)
        await Eventually.UntilAsync($"the checkpoint reaches {lastPosition}", TimeSpan.FromSeconds(30), async () =>
        {
            checkpoint = JsonText.Of(await node.WorkflowStatusAsync(WorkflowId), "checkpoint");
            return string.CompareOrdinal(checkpoint, lastPosition) >= 0;
        }, () => $"checkpoint {checkpoint}\n{node.OutputTail()}");
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] done; checkpoint {checkpoint}");
    }
}
