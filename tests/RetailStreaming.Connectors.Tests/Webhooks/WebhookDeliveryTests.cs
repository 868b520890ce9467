using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Webhooks;

public sealed class WebhookDeliveryTests : IAsyncLifetime
{
    private static readonly string Secret = StandardWebhooks.GenerateSecret();
    private static readonly DateTimeOffset Commit = new(2026, 1, 31, 9, 15, 0, 123, TimeSpan.FromHours(1));
    private ScriptedWebhookEndpoint _endpoint = null!;
    private readonly HttpClient _http = new();
    private readonly RecordingObserver _observer = new();

    public async Task InitializeAsync() => _endpoint = await ScriptedWebhookEndpoint.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _endpoint.DisposeAsync();
    }

    private WebhookDelivery Sink(Func<WebhookOptions, WebhookOptions>? configure = null, Uri? url = null)
    {
        var options = new WebhookOptions(url ?? _endpoint.Url, Secret)
        {
            Timeout = TimeSpan.FromSeconds(5),
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(50),
            Observer = _observer,
        };
        return new WebhookDelivery(configure?.Invoke(options) ?? options, _http);
    }

    private static List<DeliveryRecord> Batch(int count) =>
        Enumerable.Range(1, count).Select(i =>
        {
            var position = SqliteChangeTableSource.PositionOf(i);
            return new DeliveryRecord(
                IdempotencyKey.For("wf-1", position, 0), "wf-1", position, 0, "tickets",
                i % 2 == 0 ? ChangeOperation.Update : ChangeOperation.Insert, Commit,
                new OutputRecord("sale", $"T-{i}", new JsonObject { ["number"] = i, ["total"] = 12.5m }));
        }).ToList();

    [Fact]
    public void A_record_marked_as_a_delete_says_so_and_the_others_carry_no_deleted_field()
    {
        var batch = Batch(2);
        batch[1] = batch[1] with { Operation = ChangeOperation.Delete, Record = OutputRecord.Delete("sale", "T-2") };

        var records = JsonNode.Parse(WebhookPayload.Serialize(batch))!["records"]!.AsArray();

        Assert.Null(records[0]!["deleted"]);
        Assert.True(records[1]!["deleted"]!.GetValue<bool>());
        Assert.Equal("T-2", records[1]!["key"]!.GetValue<string>());
    }

    [Fact]
    public void A_payload_the_transform_host_wrote_already_is_sent_as_is_and_the_body_is_the_same_byte_for_byte()
    {
        var batch = Batch(3);
        var kept = batch.Select(r => r with { PayloadJson = JsonBytes(r.Record.Payload) }).ToList();

        Assert.Equal(WebhookPayload.Serialize(batch), WebhookPayload.Serialize(kept));
        // The kept bytes are what is written (not a second serialization of the payload).
        kept[1] = kept[1] with { PayloadJson = "{\"kept\":true}"u8.ToArray() };
        var records = JsonNode.Parse(WebhookPayload.Serialize(kept))!["records"]!.AsArray();
        Assert.True(records[1]!["data"]!["kept"]!.GetValue<bool>());
        Assert.Equal(3, records[2]!["data"]!["number"]!.GetValue<int>());
    }

    private static byte[] JsonBytes(JsonNode node)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer)) node.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public async Task The_request_is_signed_after_Standard_Webhooks_and_carries_the_records()
    {
        await using var sink = Sink();
        var batch = Batch(2);
        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Empty(result.Refused);
        Assert.Equal(1, result.Attempts);
        var request = Assert.Single(_endpoint.Requests);
        Assert.True(StandardWebhooks.Verify(Secret, request.Headers, request.Body, StandardWebhooks.DefaultTolerance, out var failure), failure);
        Assert.False(StandardWebhooks.Verify(StandardWebhooks.GenerateSecret(), request.Headers, request.Body, StandardWebhooks.DefaultTolerance));
        Assert.False(StandardWebhooks.Verify(Secret, request.Headers, request.Body.Replace("T-1", "T-9"), StandardWebhooks.DefaultTolerance));
        Assert.Equal(WebhookPayload.MessageId(batch), request.Headers["webhook-id"]);
        Assert.StartsWith("msg_", request.Headers["webhook-id"]);
        Assert.InRange(long.Parse(request.Headers["webhook-timestamp"], CultureInfo.InvariantCulture),
            DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.StartsWith("application/json", request.Headers["Content-Type"]);

        var body = JsonNode.Parse(request.Body)!;
        Assert.Equal("wf-1", body["workflowId"]!.GetValue<string>());
        var records = body["records"]!.AsArray();
        Assert.Equal(2, records.Count);
        var first = records[0]!;
        Assert.Equal(batch[0].IdempotencyKey, first["id"]!.GetValue<string>());
        Assert.Equal("sale", first["type"]!.GetValue<string>());
        Assert.Equal("T-1", first["key"]!.GetValue<string>());
        Assert.Equal(batch[0].Position.Value, first["position"]!.GetValue<string>());
        Assert.Equal(0, first["outputIndex"]!.GetValue<int>());
        Assert.Equal("tickets", first["table"]!.GetValue<string>());
        Assert.Equal("insert", first["operation"]!.GetValue<string>());
        Assert.Equal("update", records[1]!["operation"]!.GetValue<string>());
        Assert.Equal(Commit, DateTimeOffset.Parse(first["commitTime"]!.GetValue<string>(), CultureInfo.InvariantCulture));
        Assert.Equal(1, first["data"]!["number"]!.GetValue<int>());
        Assert.Single(_observer.Accepted);
    }

    [Fact]
    public async Task A_server_error_then_success_delivers_in_two_attempts_with_the_same_message_id()
    {
        _endpoint.Script = r => r.Index == 0 ? new Reply(500, "database down") : Reply.Ok;
        await using var sink = Sink();
        var result = await sink.DeliverAsync(Batch(3), CancellationToken.None);

        Assert.Empty(result.Refused);
        Assert.Equal(2, result.Attempts);
        var requests = _endpoint.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal(requests[0].Headers["webhook-id"], requests[1].Headers["webhook-id"]);
        Assert.Equal(requests[0].Body, requests[1].Body);
        var retry = Assert.Single(_observer.Retries);
        Assert.Equal(1, retry.Attempt);
        Assert.Equal("HTTP 500 Internal Server Error: database down", retry.Reason);
    }

    [Fact]
    public async Task Request_timeouts_conflicts_and_throttling_are_transient()
    {
        var statuses = new[] { 408, 409, 429, 502, 503, 504 };
        _endpoint.Script = r => r.Index < statuses.Length ? new Reply(statuses[r.Index]) : Reply.Ok;
        await using var sink = Sink();
        var result = await sink.DeliverAsync(Batch(2), CancellationToken.None);

        Assert.Empty(result.Refused);
        Assert.Equal(statuses.Length + 1, result.Attempts);
        Assert.Equal(statuses.Length, _observer.Retries.Count);
    }

    [Fact]
    public async Task Too_many_requests_with_Retry_After_waits_at_least_that_long()
    {
        _endpoint.Script = r => r.Index == 0
            ? new Reply(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "1" })
            : Reply.Ok;
        await using var sink = Sink();
        var result = await sink.DeliverAsync(Batch(1), CancellationToken.None);

        Assert.Empty(result.Refused);
        Assert.Equal(2, result.Attempts);
        var requests = _endpoint.Requests;
        Assert.True(requests[1].ReceivedAt - requests[0].ReceivedAt >= TimeSpan.FromMilliseconds(950),
            $"retried after {(requests[1].ReceivedAt - requests[0].ReceivedAt).TotalMilliseconds} ms");
        Assert.True(Assert.Single(_observer.Retries).Delay >= TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Service_unavailable_with_an_HTTP_date_Retry_After_waits_until_then()
    {
        var until = DateTimeOffset.UtcNow.AddSeconds(2);
        _endpoint.Script = r => r.Index == 0
            ? new Reply(503, "", new Dictionary<string, string> { ["Retry-After"] = until.ToString("R", CultureInfo.InvariantCulture) })
            : Reply.Ok;
        await using var sink = Sink();
        var result = await sink.DeliverAsync(Batch(1), CancellationToken.None);

        Assert.Equal(2, result.Attempts);
        // HTTP dates have whole seconds: the wait is at least until - 1 s.
        Assert.True(_endpoint.Requests[1].ReceivedAt >= until.AddSeconds(-1), $"retried at {_endpoint.Requests[1].ReceivedAt:O}, asked {until:O}");
    }

    [Fact]
    public async Task A_bad_request_for_one_record_of_eight_refuses_only_that_record()
    {
        _endpoint.Script = r => r.RecordKeys.Contains("T-6")
            ? new Reply(400, "record T-6: " + new string('x', 600))
            : Reply.Ok;
        await using var sink = Sink();
        var batch = Batch(8);
        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        var refused = Assert.Single(result.Refused);
        Assert.Same(batch[5], refused.Record);
        Assert.StartsWith("HTTP 400 Bad Request: record T-6: xxx", refused.Reason);
        Assert.Equal("HTTP 400 Bad Request: ".Length + 500, refused.Reason.Length);

        var accepted = _endpoint.Requests.Where(r => r.Status == 200).SelectMany(r => r.RecordKeys).ToList();
        Assert.Equal(["T-1", "T-2", "T-3", "T-4", "T-5", "T-7", "T-8"], accepted);
        Assert.Equal(_endpoint.Requests.Count, result.Attempts);
        Assert.Empty(_observer.Retries);
    }

    [Fact]
    public async Task A_refusal_of_every_record_refuses_each_in_order()
    {
        _endpoint.Script = _ => new Reply(422, "{\"error\":\"schema\"}");
        await using var sink = Sink();
        var batch = Batch(3);
        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Equal(batch, result.Refused.Select(r => r.Record));
        Assert.All(result.Refused, r => Assert.Equal("HTTP 422 Unprocessable Entity: {\"error\":\"schema\"}", r.Reason));
        Assert.Equal(5, result.Attempts); // [1,2,3] -> [1] + [2,3] -> [2] + [3]
    }

    [Fact]
    public async Task A_refused_connection_is_retried_then_given_up_after_MaxAttempts()
    {
        var closed = new Uri($"http://127.0.0.1:{ScriptedWebhookEndpoint.ClosedPort()}/hooks");
        await using var sink = Sink(o => o with { MaxAttempts = 3 }, closed);
        var batch = Batch(2);
        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Equal(3, result.Attempts);
        Assert.Equal(batch, result.Refused.Select(r => r.Record));
        Assert.All(result.Refused, r => Assert.StartsWith("gave up after 3 attempts: request failed: ", r.Reason));
        Assert.Equal([1, 2], _observer.Retries.Select(r => r.Attempt));
    }

    [Fact]
    public async Task Server_errors_beyond_MaxAttempts_refuse_the_batch_with_the_last_error()
    {
        _endpoint.Script = _ => new Reply(503, "maintenance");
        await using var sink = Sink(o => o with { MaxAttempts = 3 });
        var result = await sink.DeliverAsync(Batch(4), CancellationToken.None);

        Assert.Equal(3, result.Attempts);
        Assert.Equal(3, _endpoint.Requests.Count);
        Assert.Equal(4, result.Refused.Count);
        Assert.All(result.Refused, r => Assert.Equal("gave up after 3 attempts: HTTP 503 Service Unavailable: maintenance", r.Reason));
    }

    [Fact]
    public async Task A_request_without_response_within_the_timeout_is_retried()
    {
        _endpoint.Script = r => r.Index == 0 ? new Reply(200, Delay: TimeSpan.FromSeconds(30)) : Reply.Ok;
        // Generous for a loaded machine, far below the server's delay.
        await using var sink = Sink(o => o with { Timeout = TimeSpan.FromSeconds(2) });
        var watch = Stopwatch.StartNew();
        var result = await sink.DeliverAsync(Batch(1), CancellationToken.None);

        Assert.Empty(result.Refused);
        Assert.Equal(2, result.Attempts);
        Assert.StartsWith("no response within 2 s", Assert.Single(_observer.Retries).Reason);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancellation_during_a_backoff_returns_promptly()
    {
        _endpoint.Script = _ => new Reply(500);
        using var cancellation = new CancellationTokenSource();
        _observer.OnRetrying = () => cancellation.CancelAfter(TimeSpan.FromMilliseconds(100));
        await using var sink = Sink(o => o with { InitialBackoff = TimeSpan.FromMinutes(1), MaxBackoff = TimeSpan.FromMinutes(1) });
        var watch = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sink.DeliverAsync(Batch(2), cancellation.Token));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Single(_endpoint.Requests);
        Assert.Equal(TimeSpan.FromMinutes(1), Assert.Single(_observer.Retries).Delay);
    }

    [Fact]
    public async Task An_empty_batch_sends_nothing()
    {
        await using var sink = Sink();
        var result = await sink.DeliverAsync([], CancellationToken.None);
        Assert.Empty(result.Refused);
        Assert.Equal(0, result.Attempts);
        Assert.Empty(_endpoint.Requests);
    }

    [Fact]
    public void Invalid_options_are_refused_without_revealing_the_secret()
    {
        foreach (var bad in new[] { "whsec_!!not-base64!!", "sk_live_c2VjcmV0c2VjcmV0", "whsec_", "" })
        {
            var e = Assert.Throws<ArgumentException>(() => new WebhookDelivery(new WebhookOptions(_endpoint.Url, bad), _http));
            Assert.Contains("whsec_", e.Message);
            if (bad.Length > "whsec_".Length)
                Assert.DoesNotContain(bad, e.Message);
        }
        Assert.Throws<ArgumentException>(() => new WebhookDelivery(new WebhookOptions(new Uri("ftp://example.org/"), Secret), _http));
        Assert.Throws<ArgumentException>(() => new WebhookDelivery(new WebhookOptions(_endpoint.Url, Secret) { MaxAttempts = -1 }, _http));

        var printed = new WebhookOptions(_endpoint.Url, Secret).ToString();
        Assert.DoesNotContain(Secret["whsec_".Length..], printed);
        Assert.DoesNotContain("not-for-logs", printed);
        Assert.Contains("SigningSecret = ***", printed);
    }

    private sealed class RecordingObserver : IDeliveryObserver
    {
        private readonly List<(int Attempt, TimeSpan Delay, string Reason)> _retries = [];
        private readonly List<(int Records, TimeSpan Duration)> _accepted = [];

        public Action? OnRetrying { get; set; }

        public IReadOnlyList<(int Attempt, TimeSpan Delay, string Reason)> Retries
        {
            get { lock (_retries) return _retries.ToList(); }
        }

        public IReadOnlyList<(int Records, TimeSpan Duration)> Accepted
        {
            get { lock (_accepted) return _accepted.ToList(); }
        }

        public void Retrying(int attempt, TimeSpan delay, string reason)
        {
            lock (_retries) _retries.Add((attempt, delay, reason));
            OnRetrying?.Invoke();
        }

        void IDeliveryObserver.Accepted(int records, TimeSpan duration)
        {
            lock (_accepted) _accepted.Add((records, duration));
        }
    }
}
