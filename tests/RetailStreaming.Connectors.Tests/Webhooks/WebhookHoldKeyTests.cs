using System.Text.Json.Nodes;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Webhooks;

/// <summary><see cref="WebhookOptions.HoldKeyAfterRefusal"/> (<c>onRefused: park</c>): a refused key's later records are never sent after it.</summary>
public sealed class WebhookHoldKeyTests : IAsyncLifetime
{
    private static readonly string Secret = StandardWebhooks.GenerateSecret();
    private ScriptedWebhookEndpoint _endpoint = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _endpoint = await ScriptedWebhookEndpoint.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _endpoint.DisposeAsync();
    }

    // Keys A K B K C K D: the endpoint refuses every record of key K.
    private static List<DeliveryRecord> Batch() =>
        new[] { "A", "K", "B", "K", "C", "K", "D" }.Select((key, i) =>
        {
            var position = SqliteChangeTableSource.PositionOf(i + 1);
            return new DeliveryRecord(IdempotencyKey.For("wf-1", position, 0), "wf-1", position, 0, "tickets",
                ChangeOperation.Insert, DateTimeOffset.UtcNow, new OutputRecord("sale", key, new JsonObject { ["n"] = i + 1 }));
        }).ToList();

    private WebhookDelivery Sink(bool hold) => new(new WebhookOptions(_endpoint.Url, Secret)
    {
        InitialBackoff = TimeSpan.FromMilliseconds(10),
        MaxBackoff = TimeSpan.FromMilliseconds(50),
        HoldKeyAfterRefusal = hold,
    }, _http);

    [Fact]
    public async Task Holding_keys_refuses_the_first_record_of_a_key_holds_its_later_ones_unsent_and_delivers_the_rest()
    {
        _endpoint.Script = r => r.RecordKeys.Contains("K") ? new Reply(400, "no K") : Reply.Ok;
        await using var sink = Sink(hold: true);
        var batch = Batch();

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Same(batch[1], Assert.Single(result.Refused).Record);
        Assert.Equal([batch[3], batch[5]], result.Held);
        var accepted = _endpoint.Requests.Where(r => r.Status == 200).SelectMany(r => r.RecordKeys).ToList();
        Assert.Equal(["A", "B", "C", "D"], accepted);
        // After the refusal, no request carried a K again: the held ones were never sent on their own.
        var refusedAt = _endpoint.Requests.ToList().FindLastIndex(r => r.Status == 400 && r.RecordKeys.SequenceEqual(["K"]));
        Assert.All(_endpoint.Requests.Skip(refusedAt + 1), r => Assert.DoesNotContain("K", r.RecordKeys));
    }

    [Fact]
    public async Task Without_holding_each_record_of_the_key_is_tried_and_refused_on_its_own()
    {
        _endpoint.Script = r => r.RecordKeys.Contains("K") ? new Reply(400, "no K") : Reply.Ok;
        await using var sink = Sink(hold: false);
        var batch = Batch();

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Equal([batch[1], batch[3], batch[5]], result.Refused.Select(r => r.Record));
        Assert.Empty(result.Held);
    }
}
