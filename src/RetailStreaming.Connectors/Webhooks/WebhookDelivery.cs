using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RetailStreaming.Connectors.Webhooks;

/// <summary>
/// Delivers batches of records to an HTTP endpoint as signed Standard Webhooks POST requests
/// (body: <see cref="WebhookPayload"/>; headers: <see cref="StandardWebhooks"/>).
/// </summary>
/// <remarks>
/// <para><b>Accepted:</b> any 2xx. <b>Transient</b> (the same batch is retried, with the same
/// <c>webhook-id</c>): 408, 409, 429, 5xx, connection failures and timeouts. The delay grows
/// exponentially from <see cref="WebhookOptions.InitialBackoff"/> up to
/// <see cref="WebhookOptions.MaxBackoff"/>, with full jitter between the initial backoff and the
/// current ceiling; on 429 and 503 a <c>Retry-After</c> (seconds or HTTP date) is the minimum delay.
/// After <see cref="WebhookOptions.MaxAttempts"/> requests (when not 0) the records are refused with
/// "gave up after N attempts: ...". <b>Permanent</b>: every other status (400, 401, 403, 404, 413, 422,
/// and 3xx; give the sink an HttpClient with AllowAutoRedirect off, since a followed 301/302 turns
/// the POST into a GET). A permanently refused batch of several records is split in halves, delivered in
/// order (the left half fully resolved before the right), recursively, so that only the records the
/// endpoint refuses come back refused, with "HTTP &lt;code&gt; &lt;reason&gt;: &lt;first 500 characters of
/// the body&gt;". The signing secret never appears in a log line or an exception.</para>
/// <para><b>Requests</b> hold at most <see cref="WebhookOptions.MaxRequestBytes"/> of JSON: a larger
/// batch is sent as several requests, in order, each resolved before the next; a single record
/// larger than that goes alone. With <see cref="WebhookOptions.Compression"/> gzip the body is
/// compressed (<c>Content-Encoding: gzip</c>); signatures cover the JSON, one per active secret.</para>
/// <para><b>Endpoint state</b>: every request waits for the <see cref="EndpointGovernor"/> (circuit
/// breaker, adaptive rate after 429/503, Retry-After), which the node shares between the sinks of
/// one client's endpoint. <b>Refused records</b> carry every request that carried them
/// (<see cref="RefusedRecord.Attempts"/>, bounded to the first 10 and the last 40).</para>
/// <para>One instance serves one workflow; <see cref="DeliverAsync"/> may be called concurrently
/// (one call per delivery lane); each call keeps its own order.</para>
/// </remarks>
public sealed class WebhookDelivery : IDeliverySink
{
    private const int ReasonBodyChars = 500;
    private const int ReasonBodyBytes = 4 * ReasonBodyChars;

    private const int AttemptDetailChars = 200;

    private readonly WebhookOptions _options;
    private readonly byte[][] _keys;
    private readonly EndpointGovernor _endpoint;
    private readonly IDisposable _subscription;
    private readonly HttpClient _http;
    private readonly bool _ownsHttpClient;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random;

    /// <summary>Creates the sink over an HttpClient the caller owns (and disposes).</summary>
    /// <param name="options">Where and how to deliver; validated here.</param>
    /// <param name="httpClient">The client to send with. Its own <see cref="HttpClient.Timeout"/> also applies.</param>
    /// <param name="timeProvider">The clock for timestamps, timeouts and backoff delays; the system clock by default.</param>
    /// <param name="logger">Where retries and refusals are logged.</param>
    /// <param name="random">The source of backoff jitter; a shared one by default.</param>
    public WebhookDelivery(WebhookOptions options, HttpClient httpClient, TimeProvider? timeProvider = null, ILogger? logger = null, Random? random = null)
        : this(options, httpClient, ownsHttpClient: false, timeProvider, logger, random)
    {
    }

    /// <summary>Creates the sink over a message handler the caller owns; the sink's own HttpClient is disposed with it.</summary>
    public WebhookDelivery(WebhookOptions options, HttpMessageHandler handler, TimeProvider? timeProvider = null, ILogger? logger = null, Random? random = null)
        : this(options, new HttpClient(handler ?? throw new ArgumentNullException(nameof(handler)), disposeHandler: false) { Timeout = System.Threading.Timeout.InfiniteTimeSpan },
               ownsHttpClient: true, timeProvider, logger, random)
    {
    }

    private WebhookDelivery(WebhookOptions options, HttpClient httpClient, bool ownsHttpClient, TimeProvider? timeProvider, ILogger? logger, Random? random)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(httpClient);
        options.Validate();
        _options = options;
        _keys = [StandardWebhooks.DecodeSecret(options.SigningSecret), .. options.AdditionalSigningSecrets.Select(StandardWebhooks.DecodeSecret)];
        _http = httpClient;
        _ownsHttpClient = ownsHttpClient;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _random = random ?? Random.Shared;
        _endpoint = options.Endpoint ?? new EndpointGovernor(options.DisplayUrl, options.CircuitBreaker, _time);
        _subscription = _endpoint.Subscribe(options.Observer);
    }

    /// <summary>The endpoint's breaker and rate state this sink goes through.</summary>
    public EndpointGovernor Endpoint => _endpoint;

    /// <inheritdoc />
    public async Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) return DeliveryResult.AllAccepted(0);
        // Every record's JSON once, in one pooled buffer, returned when the last request is resolved.
        using var json = WebhookPayload.SerializeRecords(batch);
        var prepared = new Prepared[batch.Count];
        for (var i = 0; i < batch.Count; i++)
            prepared[i] = new Prepared(batch[i], i);

        // Requests bounded in bytes: consecutive records while the body stays within the limit; a
        // record larger than the limit on its own goes alone. Each request is resolved before the
        // next is sent, so order holds.
        var progress = new Progress(json);
        var envelope = json.EnvelopeLength;
        var from = 0;
        long size = envelope;
        for (var i = 0; i < prepared.Length; i++)
        {
            var add = json.LengthOf(i) + (i > from ? 1 : 0);
            if (i > from && size + add > _options.MaxRequestBytes)
            {
                await DeliverPartAsync(new ArraySegment<Prepared>(prepared, from, i - from), [], progress, cancellationToken);
                from = i;
                size = envelope;
                add = json.LengthOf(i);
            }
            size += add;
        }
        await DeliverPartAsync(new ArraySegment<Prepared>(prepared, from, prepared.Length - from), [], progress, cancellationToken);
        return new DeliveryResult(progress.Refused, progress.Attempts) { Held = progress.Held };
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _subscription.Dispose();
        if (_ownsHttpClient) _http.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <param name="Index">The record's place in the delivery's <see cref="WebhookPayload.SerializedRecords"/>.</param>
    private readonly record struct Prepared(DeliveryRecord Record, int Index);

    private sealed class Progress(WebhookPayload.SerializedRecords json)
    {
        public WebhookPayload.SerializedRecords Json { get; } = json;
        public int Attempts;
        public readonly List<RefusedRecord> Refused = [];
        public readonly List<DeliveryRecord> Held = [];
        public readonly HashSet<(string Type, string Key)> RefusedKeys = [];
    }

    private static (string Type, string Key) KeyOf(DeliveryRecord r) => (r.Record.Type, r.Record.Key);

    private enum OutcomeKind { Accepted, Transient, Permanent }

    private sealed record Outcome(OutcomeKind Kind, string Reason, int? Status = null, TimeSpan? RetryAfter = null)
    {
        public static readonly Outcome Accepted = new(OutcomeKind.Accepted, "", 200);
    }

    /// <param name="carried">The requests that already carried these records (those of the larger part they were split from).</param>
    private async Task DeliverPartAsync(ArraySegment<Prepared> part, IReadOnlyList<DeliveryAttempt> carried, Progress progress, CancellationToken cancellationToken)
    {
        if (_options.HoldKeyAfterRefusal && progress.RefusedKeys.Count > 0)
        {
            // Parts go in order, so whatever of a refused key is still to send comes after it.
            var kept = new List<Prepared>(part.Count);
            foreach (var item in part)
            {
                if (progress.RefusedKeys.Contains(KeyOf(item.Record))) progress.Held.Add(item.Record);
                else kept.Add(item);
            }
            if (kept.Count == 0) return;
            if (kept.Count < part.Count) part = new ArraySegment<Prepared>([.. kept]);
        }
        var attempts = new AttemptLog(carried);
        var outcome = await SendWithRetriesAsync(part, attempts, progress, cancellationToken);
        if (outcome.Kind == OutcomeKind.Accepted) return;
        if (outcome.Kind == OutcomeKind.Transient || part.Count == 1)
        {
            // Given up on a transient failure, or the one record the endpoint refuses.
            var history = attempts.ToList();
            foreach (var item in part)
            {
                progress.Refused.Add(new RefusedRecord(item.Record, outcome.Reason, history));
                progress.RefusedKeys.Add(KeyOf(item.Record));
            }
            if (part.Count == 1)
                _logger.LogWarning("Webhook {Url} refused record {IdempotencyKey} of workflow {WorkflowId}: {Reason}",
                    _options.DisplayUrl, part[0].Record.IdempotencyKey, part[0].Record.WorkflowId, outcome.Reason);
            return;
        }

        // A permanent refusal of several records: find the ones refused by halving, in order, so
        // that the others are still delivered and in their order.
        var half = part.Count / 2;
        var soFar = attempts.ToList();
        await DeliverPartAsync(part[..half], soFar, progress, cancellationToken);
        await DeliverPartAsync(part[half..], soFar, progress, cancellationToken);
    }

    /// <summary>Sends one part until it is accepted, refused for good, or given up on (as a Transient outcome with the "gave up" reason).</summary>
    private async Task<Outcome> SendWithRetriesAsync(ArraySegment<Prepared> part, AttemptLog attempts, Progress progress, CancellationToken cancellationToken)
    {
        var records = new DeliveryRecord[part.Count];
        var indices = new int[part.Count];
        for (var i = 0; i < records.Length; i++)
            (records[i], indices[i]) = (part[i].Record, part[i].Index);
        var messageId = WebhookPayload.MessageId(records);
        var json = progress.Json.Compose(indices);
        var content = _options.Compression == WebhookCompression.Gzip ? Gzip(json) : json;
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var permit = await _endpoint.AcquireAsync(cancellationToken);
            Outcome outcome;
            // One span per attempt, under the delivery's span when the workflow traces.
            using var span = ConnectorTraces.Source.StartActivity("delivery attempt", ActivityKind.Client);
            try
            {
                progress.Attempts++;
                span?.SetTag("retailstreaming.attempt", attempt);
                span?.SetTag("retailstreaming.records", part.Count);
                span?.SetTag("url.full", _options.DisplayUrl);
                outcome = await SendOnceAsync(messageId, json, content, part.Count, cancellationToken);
            }
            catch
            {
                // Cancelled by the caller: the request says nothing about the endpoint.
                _endpoint.Release(permit);
                throw;
            }
            if (outcome.Status is { } status) span?.SetTag("http.response.status_code", status);
            if (outcome.Kind != OutcomeKind.Accepted) span?.SetStatus(ActivityStatusCode.Error, Snippet(outcome.Reason));
            _endpoint.Report(permit, EndpointOutcomeOf(outcome), outcome.RetryAfter);
            attempts.Add(new DeliveryAttempt(_time.GetUtcNow(), outcome.Status,
                outcome.Kind == OutcomeKind.Accepted ? "accepted" : Snippet(outcome.Reason)));
            if (outcome.Kind != OutcomeKind.Transient) return outcome;

            if (_options.MaxAttempts > 0 && attempt >= _options.MaxAttempts)
            {
                _logger.LogWarning("Webhook {Url} gave up on message {MessageId} ({Records} records) after {Attempts} attempts: {Reason}",
                    _options.DisplayUrl, messageId, part.Count, attempt, outcome.Reason);
                return outcome with { Reason = $"gave up after {attempt} attempts: {outcome.Reason}" };
            }

            var delay = Backoff(attempt);
            if (outcome.RetryAfter is { } retryAfter && retryAfter > delay) delay = retryAfter;
            _options.Observer.Retrying(attempt, delay, outcome.Reason);
            _logger.LogInformation("Webhook {Url} attempt {Attempt} for message {MessageId} failed ({Reason}); retrying in {Delay}",
                _options.DisplayUrl, attempt, messageId, outcome.Reason, delay);
            span?.Stop(); // the backoff is not part of the attempt
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private static EndpointOutcome EndpointOutcomeOf(Outcome outcome) => outcome switch
    {
        { Kind: OutcomeKind.Accepted } => EndpointOutcome.Accepted,
        { Kind: OutcomeKind.Permanent } => EndpointOutcome.Refused,
        { Status: 429 } => EndpointOutcome.Throttled,
        { Status: 503 } => EndpointOutcome.Unavailable,
        // 409 is about the request's content, not the endpoint's health.
        { Status: 409 } => EndpointOutcome.Neutral,
        _ => EndpointOutcome.Failed,
    };

    private static string Snippet(string reason) => reason.Length <= AttemptDetailChars ? reason : reason[..AttemptDetailChars] + "...";

    private static byte[] Gzip(byte[] json)
    {
        using var output = new MemoryStream(json.Length / 4 + 64);
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(json);
        return output.ToArray();
    }

    private async Task<Outcome> SendOnceAsync(string messageId, byte[] json, byte[] content, int records, CancellationToken cancellationToken)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, _options.Url);
        request.Content = new ByteArrayContent(content);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        if (_options.Compression == WebhookCompression.Gzip)
            request.Content.Headers.ContentEncoding.Add("gzip");
        request.Headers.TryAddWithoutValidation(StandardWebhooks.IdHeader, messageId);
        request.Headers.TryAddWithoutValidation(StandardWebhooks.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        // Signed over the JSON (before compression), with every active secret.
        request.Headers.TryAddWithoutValidation(StandardWebhooks.SignatureHeader, StandardWebhooks.Sign(_keys, messageId, timestamp, json));

        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var started = _time.GetTimestamp();
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                _options.Observer.Accepted(records, _time.GetElapsedTime(started));
                return Outcome.Accepted;
            }

            var reason = $"HTTP {status} {ReasonPhrase(response)}: {await ReadStartAsync(response, linked.Token, cancellationToken)}";
            if (status is 408 or 409 or 429 or >= 500)
                return new Outcome(OutcomeKind.Transient, reason, status, status is 429 or 503 ? RetryAfter(response) : null);
            return new Outcome(OutcomeKind.Permanent, reason, status);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Our timeout (or HttpClient.Timeout), not the caller: a transient failure.
            return new Outcome(OutcomeKind.Transient, $"no response within {_options.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }
        catch (HttpRequestException e)
        {
            return new Outcome(OutcomeKind.Transient, $"request failed: {e.Message}");
        }
        catch (IOException e)
        {
            return new Outcome(OutcomeKind.Transient, $"connection failed: {e.Message}");
        }
    }

    /// <summary>Full jitter between the initial backoff and a ceiling doubling with each attempt (capped at the maximum).</summary>
    private TimeSpan Backoff(int attempt)
    {
        var initial = _options.InitialBackoff.Ticks;
        var ceiling = Math.Min(_options.MaxBackoff.Ticks, initial * Math.Pow(2, Math.Min(attempt - 1, 62)));
        double jitter;
        // A caller's Random is not thread-safe, and lanes call concurrently (Random.Shared is).
        lock (_random) jitter = _random.NextDouble();
        return TimeSpan.FromTicks((long)(initial + jitter * (ceiling - initial)));
    }

    /// <summary>The minimum delay a Retry-After asks for: delta-seconds or an HTTP date (RFC 9110 §10.2.3).</summary>
    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    private static string ReasonPhrase(HttpResponseMessage response)
    {
        if (!string.IsNullOrEmpty(response.ReasonPhrase)) return response.ReasonPhrase;
        // HTTP/2 and HTTP/3 carry no reason phrase: spell the status name ("UnprocessableEntity" -> "Unprocessable Entity").
        var name = response.StatusCode.ToString();
        if (int.TryParse(name, out _)) return "";
        var sb = new StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            if (char.IsUpper(c) && sb.Length > 0) sb.Append(' ');
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>The first characters of the response body: what the endpoint said, bounded in memory.</summary>
    private static async Task<string> ReadStartAsync(HttpResponseMessage response, CancellationToken cancellationToken, CancellationToken callerToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[ReasonBodyBytes];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
                if (n == 0) break;
                read += n;
            }
            var text = Encoding.UTF8.GetString(buffer, 0, read);
            return text.Length > ReasonBodyChars ? text[..ReasonBodyChars] : text;
        }
        catch (Exception e) when (e is HttpRequestException or IOException
                                  || (e is OperationCanceledException && !callerToken.IsCancellationRequested))
        {
            // The status decides the outcome; a body that does not arrive only makes the reason shorter.
            return "(the response body could not be read)";
        }
    }
}

/// <summary>
/// The requests that carried a record, bounded: the first few and the latest ones, with one line
/// saying how many in between were left out (a record retried for hours must not hold thousands).
/// </summary>
internal sealed class AttemptLog(IReadOnlyList<DeliveryAttempt> carried)
{
    private const int Head = 10;
    private const int Tail = 40;
    private readonly List<DeliveryAttempt> _head = [];
    private readonly Queue<DeliveryAttempt> _tail = new();
    private long _omitted;

    public void Add(DeliveryAttempt attempt)
    {
        if (carried.Count + _head.Count < Head)
        {
            _head.Add(attempt);
            return;
        }
        _tail.Enqueue(attempt);
        if (_tail.Count > Tail)
        {
            _tail.Dequeue();
            _omitted++;
        }
    }

    public IReadOnlyList<DeliveryAttempt> ToList()
    {
        var all = new List<DeliveryAttempt>(carried.Count + _head.Count + _tail.Count + 1);
        all.AddRange(carried);
        all.AddRange(_head);
        if (_omitted > 0)
            all.Add(new DeliveryAttempt(_tail.Peek().At, null, $"({_omitted} more attempts not kept)"));
        all.AddRange(_tail);
        // Parts split from a part carry its history; keep the whole bounded too.
        if (all.Count > Head + Tail + 1)
            all = [.. all.Take(Head), new DeliveryAttempt(all[^Tail].At, null, $"({all.Count - Head - Tail} more attempts not kept)"), .. all.TakeLast(Tail)];
        return all;
    }
}
