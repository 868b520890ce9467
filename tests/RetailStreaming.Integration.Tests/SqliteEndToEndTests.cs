using System.Globalization;
using System.Net;
using System.Text.Json;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>A node process, a SQLite client database and a signed webhook endpoint, end to end.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class SqliteEndToEndTests(SharedNodeFixture fixture)
{
    private const string WorkflowId = "it-e2e-sqlite";
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Snapshot_and_streamed_changes_all_arrive_once_signed_in_order_with_stable_keys_and_the_checkpoint_reaches_the_last_position()
    {
        var node = fixture.Node;
        await using var receiver = await WebhookReceiver.StartAsync(fixture.Secret);
        using var db = RetailClientDatabase.Create(Path.Combine(fixture.WorkDirectory, "e2e.db"));
        var random = new Random(20260131);
        var quantities = new Dictionary<string, long>(StringComparer.Ordinal);

        // Rows written before the workflow exists: the capture's initial snapshot.
        var snapshot = db.Write(w =>
        {
            for (var p = 1; p <= 100; p++)
                w.InsertProduct(Sku(p), $"Product {p}", 1 + p * 0.25, p % 2 == 0 ? "grocery" : "drinks");
            for (var t = 1; t <= 200; t++)
            {
                w.InsertTicket(TicketId(t), "S001", Sku(1 + t % 100), quantities[TicketId(t)] = 1 + t % 5, 2.5);
            }
        });

        var (status, body) = await node.ApplyWorkflowAsync(
            WorkflowFile.Retail(WorkflowId, db, receiver.Url, SharedNodeFixture.SecretVariable), "e2e.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");
        Assert.True(body.GetProperty("applied").GetBoolean(), $"the definition was not applied: {body}");
        await Eventually.UntilAsync("the capture is installed in the client database", TimeSpan.FromSeconds(30),
            () => db.CaptureInstalled(WorkflowId), () => node.OutputTail());

        // Streamed changes, in transactions of 1 to 40 one-row statements.
        var streamed = new List<WrittenChange>();
        var nextTicket = 201;
        while (streamed.Count < 1700)
        {
            var size = Math.Min(1700 - streamed.Count, random.Next(1, 41));
            streamed.AddRange(db.Write(w =>
            {
                for (var i = 0; i < size; i++)
                {
                    var roll = random.Next(100);
                    if (roll < 50)
                    {
                        var id = TicketId(nextTicket++);
                        w.InsertTicket(id, $"S{random.Next(1, 11):D3}", Sku(random.Next(1, 101)), quantities[id] = random.Next(1, 6), 3.75);
                    }
                    else if (roll < 75)
                    {
                        var id = TicketId(random.Next(1, nextTicket));
                        w.UpdateTicketQuantity(id, quantities[id] = random.Next(1, 10));
                    }
                    else
                    {
                        w.UpdateProductPrice(Sku(random.Next(1, 101)), Math.Round(1 + random.NextDouble() * 40, 2));
                    }
                }
            }));
        }

        var last = db.LastChangeSequence(WorkflowId);
        Assert.Equal(snapshot.Count + streamed.Count, last);
        var expected = DeliveryChecks.Positions(1, last);
        await Eventually.UntilAsync($"all {last} changes have arrived", DeliveryTimeout,
            () => receiver.MissingPositions(expected).Count == 0,
            () => $"missing {receiver.MissingPositions(expected).Count} of {last}; status {StatusText(node)}\n{node.OutputTail()}");

        var records = receiver.Records;
        Assert.True(receiver.BadSignatures == 0,
            $"{receiver.BadSignatures} requests failed verification: {string.Join("; ", receiver.SignatureFailures)}");

        // Exactly one record per change (the retail transform gives one per change), none twice in a run without crash.
        var duplicates = records.GroupBy(r => r.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key} x{g.Count()} at {g.First().Position}").ToList();
        Assert.True(duplicates.Count == 0, "duplicate deliveries without any crash: " + DeliveryChecks.Show(duplicates));
        Assert.Equal(last, records.Count);
        Assert.All(records, r => Assert.Equal(0, r.OutputIndex));

        var unstable = DeliveryChecks.UnstableKeys(WorkflowId, records);
        Assert.True(unstable.Count == 0, "idempotency keys differ from IdempotencyKey.For: " + DeliveryChecks.Show(unstable));
        var backwards = DeliveryChecks.KeysGoingBackwards(records);
        Assert.True(backwards.Count == 0, "per-key order broken: " + DeliveryChecks.Show(backwards));

        // The snapshot: one read per row that existed, at the first sequences.
        var byPosition = records.ToDictionary(r => r.Position, StringComparer.Ordinal);
        var snapshotRecords = Enumerable.Range(1, snapshot.Count).Select(s => byPosition[SqliteChangeTableSource.PositionOf(s).Value]).ToList();
        Assert.All(snapshotRecords, r => Assert.Equal("read", r.Operation));
        Assert.Equal(snapshot.Select(c => c.Key).Order(StringComparer.Ordinal), snapshotRecords.Select(r => r.Key).Order(StringComparer.Ordinal));

        // The streamed changes: the n-th write is the change at sequence snapshot + n.
        var mismatches = new List<string>();
        for (var i = 0; i < streamed.Count; i++)
        {
            var change = streamed[i];
            var r = byPosition[SqliteChangeTableSource.PositionOf(snapshot.Count + 1 + i).Value];
            var type = change.Table == "tickets" ? "sale" : "catalog-entry";
            if (r.Key != change.Key || r.Operation != change.Operation || r.Table != change.Table || r.Type != type)
                mismatches.Add($"{r.Position}: got {r.Table} {r.Operation} {r.Type} {r.Key}, wrote {change.Table} {change.Operation} {change.Key}");
        }
        Assert.True(mismatches.Count == 0, "records do not match the writes at their positions: " + DeliveryChecks.Show(mismatches));

        // The last record of every ticket carries its final quantity.
        var finalQuantities = records.Where(r => r.Type == "sale")
            .GroupBy(r => r.Key)
            .ToDictionary(g => g.Key, g => g.MaxBy(r => r.Position)!.Data.GetProperty("quantity").GetInt64());
        Assert.Equal(quantities.OrderBy(kv => kv.Key, StringComparer.Ordinal), finalQuantities.OrderBy(kv => kv.Key, StringComparer.Ordinal));

        // The persisted checkpoint catches up with the last position.
        var lastPosition = SqliteChangeTableSource.PositionOf(last).Value;
        JsonElement? lastStatus = null;
        await Eventually.UntilAsync($"the checkpoint is {lastPosition}", TimeSpan.FromSeconds(30), async () =>
        {
            lastStatus = await node.WorkflowStatusAsync(WorkflowId);
            return lastStatus is { } s && s.GetProperty("checkpoint").GetString() == lastPosition;
        }, () => $"status {lastStatus}\n{node.OutputTail()}");
        var final = lastStatus!.Value;
        Assert.Equal(lastPosition, final.GetProperty("deliveredPosition").GetString());
        Assert.Equal(last, final.GetProperty("deliveredChanges").GetInt64());
        Assert.Equal(0, final.GetProperty("deadLetters").GetInt64());
        Assert.Equal("running", final.GetProperty("state").GetString());
    }

    private static string Sku(int n) => $"SKU-{n:D5}";

    private static string TicketId(int n) => $"T-E2E-{n.ToString("D6", CultureInfo.InvariantCulture)}";

    private static string StatusText(NodeProcess node)
    {
        try
        {
            return node.WorkflowStatusAsync(WorkflowId).GetAwaiter().GetResult()?.ToString() ?? "(none)";
        }
        catch (Exception e)
        {
            return $"(unavailable: {e.Message})";
        }
    }
}
