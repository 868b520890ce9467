using System.Net;
using System.Text.Json;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>A record the transform always rejects and a record the endpoint always refuses: dead-lettered, and the rest flows on.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class DeadLetterTests(SharedNodeFixture fixture)
{
    private const string WorkflowId = "it-dead-letters";
    private const string PoisonTicket = "T-POISON";
    private const string RefusedTicket = "T-REFUSE";

    [Fact]
    public async Task A_poison_record_and_a_record_refused_with_400_are_dead_lettered_with_reason_and_input_and_every_other_change_is_delivered()
    {
        var node = fixture.Node;
        await using var receiver = await WebhookReceiver.StartAsync(fixture.Secret, refuse: r => r.DataString("ticketId") == RefusedTicket);
        using var db = RetailClientDatabase.Create(Path.Combine(fixture.WorkDirectory, "dead-letters.db"));
        var snapshot = db.Write(w =>
        {
            for (var p = 1; p <= 20; p++) w.InsertProduct($"SKU-{p:D5}", $"Product {p}", p, "grocery");
            for (var t = 1; t <= 30; t++) w.InsertTicket($"T-DLQ-{t:D4}", "S001", "SKU-00001", 1, 2.0);
        });

        var (status, body) = await node.ApplyWorkflowAsync(
            WorkflowFile.Retail(WorkflowId, db, receiver.Url, SharedNodeFixture.SecretVariable), "dead-letters.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");
        await Eventually.UntilAsync("the capture is installed in the client database", TimeSpan.FromSeconds(30),
            () => db.CaptureInstalled(WorkflowId), () => node.OutputTail());

        // The two bad tickets sit in the middle of ordinary changes, in the same transactions.
        var streamed = new List<WrittenChange>();
        for (var batch = 0; batch < 10; batch++)
        {
            streamed.AddRange(db.Write(w =>
            {
                for (var i = 0; i < 20; i++)
                {
                    var n = batch * 20 + i + 31;
                    if (batch == 3 && i == 7) w.InsertTicket(PoisonTicket, "S002", "SKU-00002", 0, 4.0);
                    if (batch == 6 && i == 11) w.InsertTicket(RefusedTicket, "S003", "SKU-00003", 2, 5.0);
                    if (i % 4 == 3) w.UpdateProductPrice($"SKU-{1 + n % 20:D5}", 1 + n % 7);
                    else w.InsertTicket($"T-DLQ-{n:D4}", "S001", "SKU-00001", 1 + n % 3, 2.0);
                }
            }));
        }

        var last = db.LastChangeSequence(WorkflowId);
        Assert.Equal(snapshot.Count + streamed.Count, last);
        var poisonPosition = SqliteChangeTableSource.PositionOf(snapshot.Count + 1 + streamed.FindIndex(c => c.Key == PoisonTicket)).Value;
        var refusedPosition = SqliteChangeTableSource.PositionOf(snapshot.Count + 1 + streamed.FindIndex(c => c.Key == RefusedTicket)).Value;
        var expected = DeliveryChecks.Positions(1, last).Where(p => p != poisonPosition && p != refusedPosition).ToList();

        await Eventually.UntilAsync("every other change has arrived", TimeSpan.FromSeconds(90),
            () => receiver.MissingPositions(expected).Count == 0,
            () => $"missing {receiver.MissingPositions(expected).Count} of {expected.Count}\n{node.OutputTail()}");

        JsonElement letters = default;
        await Eventually.UntilAsync("both dead letters are stored", TimeSpan.FromSeconds(60), async () =>
        {
            letters = await node.GetJsonAsync($"/api/workflows/{WorkflowId}/dead-letters");
            return letters.GetArrayLength() >= 2;
        }, () => $"dead letters: {letters}\n{node.OutputTail()}");
        Assert.True(letters.GetArrayLength() == 2, $"expected exactly 2 dead letters, got {letters}");

        var poison = letters.EnumerateArray().Single(l => l.GetProperty("stage").GetString() == "transform");
        Assert.Equal(poisonPosition, poison.GetProperty("position").GetString());
        Assert.Equal("1.0.0", poison.GetProperty("transformVersion").GetString());
        Assert.Contains("quantity 0", poison.GetProperty("reason").GetString());
        Assert.Contains(PoisonTicket, poison.GetProperty("inputJson").GetString());
        Assert.Equal(WorkflowFile.ClientId, poison.GetProperty("clientId").GetString());

        var refused = letters.EnumerateArray().Single(l => l.GetProperty("stage").GetString() == "delivery");
        Assert.Equal(refusedPosition, refused.GetProperty("position").GetString());
        Assert.StartsWith("HTTP 400", refused.GetProperty("reason").GetString());
        Assert.Contains("refused by the test endpoint", refused.GetProperty("reason").GetString());
        Assert.Contains(RefusedTicket, refused.GetProperty("inputJson").GetString());
        Assert.Contains(RefusedTicket, refused.GetProperty("outputJson").GetString());
        Assert.Equal(0, refused.GetProperty("outputIndex").GetInt32());

        // Neither bad record was accepted; the endpoint saw the refused one alone in the end (the sink split the batch).
        var records = receiver.Records;
        Assert.DoesNotContain(records, r => r.Position == poisonPosition || r.Position == refusedPosition);
        Assert.Contains(receiver.RefusedBatches, b => b.Count == 1 && b[0].Key == RefusedTicket);
        Assert.Equal(0, receiver.BadSignatures);
        var unstable = DeliveryChecks.UnstableKeys(WorkflowId, records);
        Assert.True(unstable.Count == 0, DeliveryChecks.Show(unstable));

        // Dead-lettered changes count as done: the checkpoint passes them.
        var lastPosition = SqliteChangeTableSource.PositionOf(last).Value;
        JsonElement? workflow = null;
        await Eventually.UntilAsync($"the checkpoint is {lastPosition} with 2 dead letters", TimeSpan.FromSeconds(30), async () =>
        {
            workflow = await node.WorkflowStatusAsync(WorkflowId);
            return workflow is { } s && s.GetProperty("checkpoint").GetString() == lastPosition && s.GetProperty("deadLetters").GetInt64() == 2;
        }, () => $"status {workflow}\n{node.OutputTail()}");
        Assert.Equal("running", workflow!.Value.GetProperty("state").GetString());
    }
}
