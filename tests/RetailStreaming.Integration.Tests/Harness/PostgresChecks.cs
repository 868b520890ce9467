using System.Net;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>Steps the PostgreSQL integration tests share: applying a workflow, and the reconciliation.</summary>
public static class PostgresChecks
{
    /// <summary>
    /// Applies the retail workflow through the admin API and waits until a replication connection
    /// holds its slot: changes committed from then on are all streamed (no initial snapshot is
    /// involved, so the rows of the test are all written after this).
    /// </summary>
    public static async Task ApplyAndWaitForStreamingAsync(NodeProcess node, PostgresRetailDatabase db, string workflowId, WebhookReceiver receiver, string secretVariable)
    {
        var (status, body) = await node.ApplyWorkflowAsync(PostgresWorkflowFile.Retail(workflowId, db, receiver.Url, secretVariable), $"{workflowId}.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");
        Assert.True(body.GetProperty("applied").GetBoolean(), $"the definition was not applied: {body}");
        await Eventually.UntilAsync("a replication connection holds the workflow's slot", TimeSpan.FromSeconds(60),
            async () => await db.SlotAsync(workflowId) is { Active: true },
            () => $"slot {db.SlotAsync(workflowId).GetAwaiter().GetResult()}\n{node.OutputTail()}");
    }

    /// <summary>Waits until a record of each of <paramref name="changes"/> changes has arrived (one record per change).</summary>
    public static Task WaitForAllAsync(NodeProcess node, WebhookReceiver receiver, string workflowId, long changes, TimeSpan timeout) =>
        Eventually.UntilAsync($"all {changes} changes have arrived", timeout,
            () => StreamedPositions(receiver.Records) >= changes,
            () => $"received {StreamedPositions(receiver.Records)} distinct streamed positions of {changes}; status {Status(node, workflowId)}\n{node.OutputTail()}",
            every: TimeSpan.FromMilliseconds(250));

    /// <summary>
    /// Records of streamed changes, without snapshot reads: the incremental snapshot runs while the
    /// writer writes, so it may also read rows that already streamed (DBLog keeps the newest
    /// version, so the state converges; the reads are extra records, not extra changes).
    /// </summary>
    public static IReadOnlyList<ReceivedRecord> Streamed(IReadOnlyList<ReceivedRecord> records) =>
        records.Where(r => r.Operation != "read").ToList();

    private static int StreamedPositions(IReadOnlyList<ReceivedRecord> records) =>
        records.Where(r => r.Operation != "read").Select(r => r.Position).Distinct().Count();

    /// <summary>
    /// The reconciliation: signatures, one distinct position per change, stable idempotency keys,
    /// duplicates only as exact repeats (none at all when <paramref name="crashed"/> is false), per-key
    /// positions never going backwards, and the state rebuilt at the endpoint equal to the source tables.
    /// </summary>
    public static async Task AssertReconciledAsync(WebhookReceiver receiver, PostgresRetailDatabase db, string workflowId, long changes, bool crashed, ITestOutputHelper output)
    {
        var records = receiver.Records;
        Assert.True(receiver.BadSignatures == 0,
            $"{receiver.BadSignatures} requests failed verification: {string.Join("; ", receiver.SignatureFailures)}");
        Assert.All(records, r => Assert.Equal(0, r.OutputIndex));
        Assert.All(records, r => Assert.StartsWith("pg:", r.Position, StringComparison.Ordinal));
        var streamed = Streamed(records);
        var distinct = streamed.Select(r => r.Id).Distinct().Count();
        output.WriteLine($"{changes} changes written, {records.Count} records received ({records.Count - streamed.Count} snapshot reads), " +
                         $"{distinct} distinct streamed, {streamed.Count - distinct} redelivered");
        Assert.Equal(changes, StreamedPositions(records));
        Assert.Equal(changes, distinct);

        if (!crashed)
        {
            var duplicates = records.GroupBy(r => r.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key} x{g.Count()} at {g.First().Position}").ToList();
            Assert.True(duplicates.Count == 0, "duplicate deliveries without any crash: " + DeliveryChecks.Show(duplicates));
        }
        var otherId = DeliveryChecks.DuplicatesWithAnotherId(records);
        Assert.True(otherId.Count == 0, "a redelivered record carries another id or key than its first delivery: " + DeliveryChecks.Show(otherId));
        var unstable = DeliveryChecks.UnstableKeys(workflowId, records);
        Assert.True(unstable.Count == 0, "idempotency keys differ from IdempotencyKey.For: " + DeliveryChecks.Show(unstable));
        var backwards = DeliveryChecks.KeysGoingBackwards(records);
        Assert.True(backwards.Count == 0, "per-key order broken: " + DeliveryChecks.Show(backwards));

        var source = await db.SourceStateAsync();
        var endpoint = PostgresRetailDatabase.EndpointState(records);
        var differences = PostgresRetailDatabase.Compare(source, endpoint);
        output.WriteLine($"source rows {source.Count}, endpoint rows {endpoint.Count}, differences {differences.Count}");
        Assert.True(differences.Count == 0, "the state rebuilt at the endpoint differs from the source tables: " + DeliveryChecks.Show(differences));
    }

    /// <summary>The workflow's status as text, for messages.</summary>
    public static string Status(NodeProcess node, string workflowId)
    {
        try
        {
            return node.WorkflowStatusAsync(workflowId).GetAwaiter().GetResult()?.ToString() ?? "(none)";
        }
        catch (Exception e)
        {
            return $"(unavailable: {e.Message})";
        }
    }

    /// <summary>An integer from the environment, else <paramref name="fallback"/>.</summary>
    public static int FromEnvironment(string variable, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), out var value) && value > 0 ? value : fallback;
}
