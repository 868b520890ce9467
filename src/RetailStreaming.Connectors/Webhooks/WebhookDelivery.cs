using System.Globalization;
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
/// <para>One instance serves one workflow; <see cref="DeliverAsync"/> is not called concurrently.</para>
/// </remarks>
public sealed class WebhookDelivery : IDeliverySink
{
    private const int ReasonBodyChars = 500;
    private const int ReasonBodyBytes = 4 * ReasonBodyChars;

    private readonly WebhookOptions _options;
    private readonly byte[] _key;
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
        _key = StandardWebhooks.DecodeSecret(options.SigningSecret);
        _http = httpClient;
        _ownsHttpClient = ownsHttpClient;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _random = random ?? Random.Shared;
    }

    /// <inheritdoc />
    public async Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) return DeliveryResult.AllAccepted(0);
        var progress = new Progress();
        await DeliverPartAsync(new ArraySegment<DeliveryRecord>(batch.ToArray()), progress, cancellationToken);
        return new DeliveryResult(progress.Refused, progress.Attempts);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (_ownsHttpClient) _http.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Progress
    {
        public int Attempts;
        public readonly List<RefusedRecord> Refused = [];
    }

    private enum OutcomeKind { Accepted, Transient, Permanent }

    private sealed record Outcome(OutcomeKind Kind, string Reason, TimeSpan? RetryAfter = null)
    {
        public static readonly Outcome Accepted = new(OutcomeKind.Accepted, "");
    }

    private async Task DeliverPartAsync(ArraySegment<DeliveryRecord> part, Progress progress, CancellationToken cancellationToken)
    {
        var outcome = await SendWithRetriesAsync(part, progress, cancellationToken);
        if (outcome.Kind == OutcomeKind.Accepted) return;
        if (outcome.Kind == OutcomeKind.Transient || part.Count == 1)
        {
            // Given up on a transient failure, or the one record the endpoint refuses.
            foreach (var record in part)
                progress.Refused.Add(new RefusedRecord(record, outcome.Reason));
            if (part.Count == 1)
                _logger.LogWarning("Webhook {Url} refused record {IdempotencyKey} of workflow {WorkflowId}: {Reason}",
                    _options.DisplayUrl, part[0].IdempotencyKey, part[0].WorkflowId, outcome.Reason);
            return;
        }

        // A permanent refusal of several records: find the ones refused by halving, in order, so
        // that the others are still delivered and in their order.
        var half = part.Count / 2;
        await DeliverPartAsync(part[..half], progress, cancellationToken);
        await DeliverPartAsync(part[half..], progress, cancellationToken);
    }

    /// <summary>Sends one batch until it is accepted, refused for good, or given up on (as a Transient outcome with the "gave up" reason).</summary>
    private async Task<Outcome> SendWithRetriesAsync(ArraySegment<DeliveryRecord> part, Progress progress, CancellationToken cancellationToken)
    {
        var messageId = WebhookPayload.MessageId(part);
        var body = WebhookPayload.Serialize(part);
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress.Attempts++;
            var outcome = await SendOnceAsync(messageId, body, part.Count, cancellationToken);
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
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private async Task<Outcome> SendOnceAsync(string messageId, byte[] body, int records, CancellationToken cancellationToken)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, _options.Url);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation(StandardWebhooks.IdHeader, messageId);
        request.Headers.TryAddWithoutValidation(StandardWebhooks.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(StandardWebhooks.SignatureHeader, StandardWebhooks.Sign(_key, messageId, timestamp, body));

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
                return new Outcome(OutcomeKind.Transient, reason, status is 429 or 503 ? RetryAfter(response) : null);
            return new Outcome(OutcomeKind.Permanent, reason);
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
        return TimeSpan.FromTicks((long)(initial + _random.NextDouble() * (ceiling - initial)));
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
