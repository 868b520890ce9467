using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Webhooks;

/// <summary>
/// The webhook sink against a real endpoint on 127.0.0.1 that fails on demand: secret rotation,
/// byte-bounded requests, gzip, the circuit breaker, Retry-After shared by the sinks of one
/// endpoint, dropped connections, and the attempts kept for every refused record.
/// </summary>
public sealed class WebhookResilienceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Commit = new(2026, 11, 26, 7, 0, 0, TimeSpan.Zero);
    private ScriptedWebhookEndpoint _endpoint = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _endpoint = await ScriptedWebhookEndpoint.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _endpoint.DisposeAsync();
    }

    private WebhookDelivery Sink(string secret, Func<WebhookOptions, WebhookOptions>? configure = null)
    {
        var options = new WebhookOptions(_endpoint.Url, secret)
        {
            Timeout = TimeSpan.FromSeconds(5),
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(50),
        };
        return new WebhookDelivery(configure?.Invoke(options) ?? options, _http);
    }

    private static List<DeliveryRecord> Batch(int count, int from = 1, int payloadChars = 20) =>
        Enumerable.Range(from, count).Select(i =>
        {
            var position = SqliteChangeTableSource.PositionOf(i);
            return new DeliveryRecord(
                IdempotencyKey.For("wf-1", position, 0), "wf-1", position, 0, "tickets", ChangeOperation.Insert, Commit,
                new OutputRecord("sale", $"T-{i}", new JsonObject { ["number"] = i, ["note"] = new string('n', payloadChars) }));
        }).ToList();

    private IReadOnlyList<string> AcceptedKeys() =>
        _endpoint.Requests.Where(r => r.Status is >= 200 and < 300).SelectMany(r => r.RecordKeys).ToList();

    [Fact]
    public async Task With_two_secrets_each_request_carries_two_signatures_and_a_receiver_holding_either_verifies()
    {
        var oldSecret = StandardWebhooks.GenerateSecret();
        var newSecret = StandardWebhooks.GenerateSecret();

        // Before the rotation: the old secret only.
        await using (var before = Sink(oldSecret))
            await before.DeliverAsync(Batch(2), CancellationToken.None);
        // During the rotation: the new secret first, the old one still active.
        await using (var during = Sink(newSecret, o => o with { AdditionalSigningSecrets = [oldSecret] }))
            await during.DeliverAsync(Batch(2, from: 3), CancellationToken.None);
        // After: the new secret only.
        await using (var after = Sink(newSecret))
            await after.DeliverAsync(Batch(2, from: 5), CancellationToken.None);

        var (r1, r2, r3) = (_endpoint.Requests[0], _endpoint.Requests[1], _endpoint.Requests[2]);
        var signatures = r2.Headers["webhook-signature"].Split(' ');
        Assert.Equal(2, signatures.Length);
        Assert.All(signatures, s => Assert.StartsWith("v1,", s));
        Assert.Single(r1.Headers["webhook-signature"].Split(' '));

        bool Verifies(string secret, ReceivedRequest r) =>
            StandardWebhooks.Verify(secret, r.Headers, r.Body, StandardWebhooks.DefaultTolerance);
        // A receiver still on the old secret and one already on the new one both accept the rotation's requests.
        Assert.True(Verifies(oldSecret, r1));
        Assert.True(Verifies(oldSecret, r2));
        Assert.True(Verifies(newSecret, r2));
        Assert.True(Verifies(newSecret, r3));
        Assert.False(Verifies(oldSecret, r3));
        Assert.False(Verifies(StandardWebhooks.GenerateSecret(), r2));
        Assert.False(Verifies(oldSecret, r2 with { Body = r2.Body.Replace("T-3", "T-9") }));
    }

    [Fact]
    public async Task A_batch_above_maxBytes_goes_as_several_requests_within_the_bound_in_order()
    {
        const int maxBytes = 4096;
        await using var sink = Sink(StandardWebhooks.GenerateSecret(), o => o with { MaxRequestBytes = maxBytes });
        var batch = Batch(60, payloadChars: 200);
        var single = WebhookPayload.Serialize(batch).Length;
        Assert.True(single > 3 * maxBytes, "the batch should need several requests");

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Empty(result.Refused);
        var requests = _endpoint.Requests;
        Assert.True(requests.Count >= 4, $"{requests.Count} requests");
        Assert.All(requests, r => Assert.InRange(r.BodyBytes, 1, maxBytes));
        // Greedy: a request ends only where the next record would not fit.
        Assert.All(requests.SkipLast(1), r => Assert.True(r.BodyBytes > maxBytes - 400, $"a request of {r.BodyBytes} bytes left room"));
        Assert.Equal(batch.Select(r => r.Record.Key), AcceptedKeys());
        Assert.Equal(requests.Count, result.Attempts);
        Assert.Equal(requests.Count, requests.Select(r => r.Headers["webhook-id"]).Distinct().Count());
    }

    [Fact]
    public async Task A_record_larger_than_maxBytes_is_sent_alone_and_dead_lettered_with_the_endpoints_answer_if_refused()
    {
        const int maxBytes = 2048;
        _endpoint.Script = r => r.BodyBytes > maxBytes ? new Reply(413, "too large") : Reply.Ok;
        await using var sink = Sink(StandardWebhooks.GenerateSecret(), o => o with { MaxRequestBytes = maxBytes });
        var batch = Batch(5, payloadChars: 100);
        batch[2] = batch[2] with { Record = batch[2].Record with { Payload = new JsonObject { ["blob"] = new string('b', 5000) } } };

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        var refused = Assert.Single(result.Refused);
        Assert.Same(batch[2], refused.Record);
        Assert.StartsWith("HTTP 413", refused.Reason);
        var alone = Assert.Single(_endpoint.Requests, r => r.Status == 413);
        Assert.Equal(["T-3"], alone.RecordKeys);
        Assert.Equal(["T-1", "T-2", "T-4", "T-5"], AcceptedKeys());
        Assert.All(_endpoint.Requests.Where(r => r.Status == 200), r => Assert.True(r.BodyBytes <= maxBytes));
    }

    [Fact]
    public async Task Gzip_bodies_carry_Content_Encoding_decode_to_the_payload_and_the_signature_covers_the_JSON()
    {
        var secret = StandardWebhooks.GenerateSecret();
        await using var sink = Sink(secret, o => o with { Compression = WebhookCompression.Gzip });
        var batch = Batch(40, payloadChars: 300);

        var result = await sink.DeliverAsync(batch, CancellationToken.None);

        Assert.Empty(result.Refused);
        var request = Assert.Single(_endpoint.Requests);
        Assert.Equal("gzip", request.Headers["Content-Encoding"]);
        Assert.Equal(WebhookPayload.Serialize(batch), System.Text.Encoding.UTF8.GetBytes(request.Body));
        Assert.True(request.RawBody.Length * 5 < request.BodyBytes, $"gzip gave {request.RawBody.Length} of {request.BodyBytes} bytes");
        Assert.True(StandardWebhooks.Verify(secret, request.Headers, request.Body, StandardWebhooks.DefaultTolerance, out var failure), failure);
    }

    [Fact]
    public async Task A_refused_record_keeps_every_request_that_carried_it_with_time_status_and_answer()
    {
        // The whole batch meets a 503 first, then the endpoint refuses T-6 for good.
        _endpoint.Script = r => r.Index == 0 ? new Reply(503, "warming up")
            : r.RecordKeys.Contains("T-6") ? new Reply(400, "T-6: unknown store " + new string('x', 400))
            : Reply.Ok;
        await using var sink = Sink(StandardWebhooks.GenerateSecret());
        var started = DateTimeOffset.UtcNow;

        var result = await sink.DeliverAsync(Batch(8), CancellationToken.None);

        var refused = Assert.Single(result.Refused);
        Assert.Equal("T-6", refused.Record.Record.Key);
        var attempts = refused.Attempts!;
        var carrying = _endpoint.Requests.Where(r => r.RecordKeys.Contains("T-6")).ToList();
        Assert.Equal(carrying.Count, attempts.Count); // [1..8] 503, [1..8] 400, [5..8], [5,6], [6]
        Assert.Equal(5, attempts.Count);
        Assert.Equal(carrying.Select(r => (int?)r.Status), attempts.Select(a => a.StatusCode));
        Assert.StartsWith("HTTP 503 Service Unavailable: warming up", attempts[0].Detail);
        Assert.StartsWith("HTTP 400 Bad Request: T-6: unknown store", attempts[^1].Detail);
        Assert.All(attempts, a => Assert.True(a.Detail.Length <= 203, $"detail of {a.Detail.Length} characters"));
        Assert.All(attempts, a => Assert.InRange(a.At, started, DateTimeOffset.UtcNow));
        Assert.Equal(attempts.OrderBy(a => a.At), attempts);
        Assert.Equal(["T-1", "T-2", "T-3", "T-4", "T-5", "T-7", "T-8"], AcceptedKeys());
    }

    [Fact]
    public async Task A_record_given_up_after_MaxAttempts_keeps_its_attempts_too()
    {
        _endpoint.Script = _ => Reply.Drop;
        await using var sink = Sink(StandardWebhooks.GenerateSecret(), o => o with { MaxAttempts = 3, CircuitBreaker = new() { FailureThreshold = 0 } });

        var result = await sink.DeliverAsync(Batch(2), CancellationToken.None);

        Assert.Equal(2, result.Refused.Count);
        Assert.All(result.Refused, r =>
        {
            Assert.StartsWith("gave up after 3 attempts: ", r.Reason);
            Assert.Equal(3, r.Attempts!.Count);
            Assert.All(r.Attempts, a => Assert.Null(a.StatusCode));
        });
    }

    [Fact]
    public async Task The_circuit_opens_after_consecutive_failures_sends_nothing_while_open_and_closes_when_a_probe_succeeds()
    {
        var healthy = false;
        _endpoint.Script = _ => Volatile.Read(ref healthy) ? Reply.Ok : new Reply(500, "down");
        var observer = new Recorder();
        var coolDown = TimeSpan.FromSeconds(1);
        await using var sink = Sink(StandardWebhooks.GenerateSecret(), o => o with
        {
            CircuitBreaker = new() { FailureThreshold = 3, CoolDown = coolDown },
            Observer = observer,
        });
        observer.OnHealth = h =>
        {
            // The endpoint recovers during the second cool-down.
            if (h.Circuit == EndpointHealth.Open && observer.Opened == 2) Volatile.Write(ref healthy, true);
        };

        var result = await sink.DeliverAsync(Batch(3), CancellationToken.None);

        Assert.Empty(result.Refused);
        Assert.Equal(["T-1", "T-2", "T-3"], AcceptedKeys());
        var requests = _endpoint.Requests;
        // 3 failures open it; the probe after the cool-down fails and reopens it; the next probe succeeds.
        Assert.Equal([500, 500, 500, 500, 200], requests.Select(r => r.Status));
        Assert.True(requests[3].ReceivedAt - requests[2].ReceivedAt >= coolDown - TimeSpan.FromMilliseconds(50),
            $"a request {(requests[3].ReceivedAt - requests[2].ReceivedAt).TotalMilliseconds} ms after the circuit opened");
        Assert.True(requests[4].ReceivedAt - requests[3].ReceivedAt >= coolDown - TimeSpan.FromMilliseconds(50));
        Assert.Equal(
            [EndpointHealth.Closed, EndpointHealth.Open, EndpointHealth.HalfOpen, EndpointHealth.Open, EndpointHealth.HalfOpen, EndpointHealth.Closed],
            observer.Circuits());
        Assert.Equal(EndpointHealth.Closed, sink.Endpoint.Health.Circuit);
    }

    [Fact]
    public async Task A_Retry_After_answered_to_one_sink_holds_back_the_other_sinks_of_the_endpoint_and_lowers_their_rate()
    {
        _endpoint.Script = r => r.Index == 0
            ? new Reply(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "1" })
            : Reply.Ok;
        var shared = new EndpointGovernor(WebhookOptions.Display(_endpoint.Url));
        var secret = StandardWebhooks.GenerateSecret();
        await using var first = Sink(secret, o => o with { Endpoint = shared });
        await using var second = Sink(secret, o => o with { Endpoint = shared });

        var throttled = first.DeliverAsync(Batch(1), CancellationToken.None);
        await WaitUntil(() => shared.Health.RateLimitPerSecond is not null);
        Assert.NotNull(shared.Health.PausedUntil);
        await second.DeliverAsync(Batch(1, from: 2), CancellationToken.None);
        await throttled;

        var requests = _endpoint.Requests;
        var other = requests.Single(r => r.RecordKeys.SequenceEqual(["T-2"]));
        Assert.True(other.ReceivedAt - requests[0].ReceivedAt >= TimeSpan.FromMilliseconds(950),
            $"the other sink sent {(other.ReceivedAt - requests[0].ReceivedAt).TotalMilliseconds} ms after the Retry-After");
    }

    [Fact]
    public async Task Under_failures_of_every_kind_nothing_is_lost_and_order_holds()
    {
        // 5xx, 429 with Retry-After, dropped connections, answers slower than the timeout, and a 400 for one key.
        var random = new Random(20261126);
        var lockObject = new object();
        _endpoint.Script = r =>
        {
            if (r.RecordKeys.Contains("T-77")) return new Reply(400, "T-77 is not for us");
            int roll;
            lock (lockObject) roll = random.Next(100);
            return roll switch
            {
                < 10 => new Reply(500, "oops"),
                < 14 => new Reply(503, "busy"),
                < 18 => new Reply(429, "", new Dictionary<string, string> { ["Retry-After"] = "0" }),
                < 23 => Reply.Drop,
                < 25 => new Reply(200, Delay: TimeSpan.FromSeconds(3)),
                _ => Reply.Ok,
            };
        };
        await using var sink = Sink(StandardWebhooks.GenerateSecret(), o => o with
        {
            Timeout = TimeSpan.FromMilliseconds(700),
            MaxRequestBytes = 2048,
            Compression = WebhookCompression.Gzip,
            CircuitBreaker = new() { FailureThreshold = 4, CoolDown = TimeSpan.FromMilliseconds(200) },
        });

        var refused = new List<RefusedRecord>();
        for (var b = 0; b < 10; b++)
            refused.AddRange((await sink.DeliverAsync(Batch(20, from: 1 + 20 * b, payloadChars: 50), CancellationToken.None)).Refused);

        Assert.Equal(["T-77"], refused.Select(r => r.Record.Record.Key));
        // Every other record arrived; in the order of first arrival, records are in source order
        // (a slow 200 counts as delivered at the endpoint and comes again: a harmless duplicate).
        var firsts = AcceptedKeys().Distinct().ToList();
        var expected = Enumerable.Range(1, 200).Where(i => i != 77).Select(i => $"T-{i}").ToList();
        Assert.Equal(expected, firsts);
        Assert.All(_endpoint.Requests, r => Assert.True(r.BodyBytes <= 2048));
        Assert.Contains(_endpoint.Requests, r => r.Status == -1);
        Assert.Contains(_endpoint.Requests, r => r.Status == 429);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(10)) throw new TimeoutException("condition not met within 10 s");
            await Task.Delay(10);
        }
    }

    private sealed class Recorder : IDeliveryObserver
    {
        private readonly List<EndpointHealth> _seen = [];

        public Action<EndpointHealth>? OnHealth { get; set; }

        public int Opened
        {
            get { lock (_seen) return Circuits().Count(c => c == EndpointHealth.Open); }
        }

        public List<string> Circuits()
        {
            lock (_seen)
            {
                var circuits = new List<string>();
                foreach (var h in _seen)
                    if (circuits.Count == 0 || circuits[^1] != h.Circuit) circuits.Add(h.Circuit);
                return circuits;
            }
        }

        public void Retrying(int attempt, TimeSpan delay, string reason) { }

        public void Accepted(int records, TimeSpan duration) { }

        public void EndpointHealthChanged(EndpointHealth health)
        {
            lock (_seen) _seen.Add(health);
            OnHealth?.Invoke(health);
        }
    }
}
