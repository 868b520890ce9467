using System.Text;

namespace RetailStreaming.Connectors.Webhooks;

/// <summary>Where and how <see cref="WebhookDelivery"/> sends a workflow's records.</summary>
/// <param name="Url">The endpoint (http or https); every batch is POSTed to it.</param>
/// <param name="SigningSecret">
/// <c>whsec_</c> followed by the base64 HMAC key (Standard Webhooks). Never printed: <see cref="object.ToString"/>
/// shows it redacted.
/// </param>
public sealed record WebhookOptions(Uri Url, string SigningSecret)
{
    /// <summary>How long one request may take, response headers included, before it counts as a transient failure.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The shortest delay before a retry (the first retry waits exactly this).</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay the exponential backoff grows to (a Retry-After may ask for longer).</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Requests per batch (or part of a batch) before its records are refused; 0 retries transient failures for ever.</summary>
    public int MaxAttempts { get; init; }

    /// <summary>Told of every retry and every accepted request.</summary>
    public IDeliveryObserver Observer { get; init; } = NullDeliveryObserver.Instance;

    /// <summary>
    /// More signing secrets, for rotation: each request carries one <c>v1,</c> signature per secret
    /// (<see cref="SigningSecret"/> first), so a receiver holding any of them verifies it. Never printed.
    /// </summary>
    public IReadOnlyList<string> AdditionalSigningSecrets { get; init; } = [];

    /// <summary>
    /// The largest request body (the JSON, before compression): a batch that would be larger is sent as
    /// several requests, in order. A single record larger than this is sent alone (the endpoint may
    /// refuse it, e.g. 413, and it is then dead-lettered with that answer). Default 1 MiB.
    /// </summary>
    public int MaxRequestBytes { get; init; } = 1024 * 1024;

    /// <summary>Compress request bodies (<c>Content-Encoding: gzip</c>); the signature covers the JSON before compression.</summary>
    public WebhookCompression Compression { get; init; } = WebhookCompression.None;

    /// <summary>The circuit breaker's settings (used when <see cref="Endpoint"/> is not given).</summary>
    public CircuitBreakerOptions CircuitBreaker { get; init; } = new();

    /// <summary>
    /// The endpoint's breaker and rate state, shared with the node's other sinks to the same endpoint
    /// (see <see cref="EndpointGovernors"/>); null: the sink keeps its own.
    /// </summary>
    public EndpointGovernor? Endpoint { get; init; }

    /// <summary>
    /// Once a record is refused, send no later record of the same key (type and key) in that batch:
    /// they come back as <see cref="DeliveryResult.Held"/>, so that they cannot overtake it
    /// (<c>delivery.onRefused: park</c>).
    /// </summary>
    public bool HoldKeyAfterRefusal { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option (never quoting the secret).</summary>
    public void Validate()
    {
        if (Url is null || !Url.IsAbsoluteUri || (Url.Scheme != Uri.UriSchemeHttp && Url.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException("The webhook URL must be an absolute http or https URL.", nameof(Url));
        StandardWebhooks.DecodeSecret(SigningSecret);
        if (AdditionalSigningSecrets is null)
            throw new ArgumentException("The additional signing secrets cannot be null (empty: none).", nameof(AdditionalSigningSecrets));
        foreach (var secret in AdditionalSigningSecrets)
            StandardWebhooks.DecodeSecret(secret);
        if (MaxRequestBytes < 1024)
            throw new ArgumentException("The webhook maximum request size must be at least 1024 bytes.", nameof(MaxRequestBytes));
        if (!Enum.IsDefined(Compression))
            throw new ArgumentException("Unknown webhook compression.", nameof(Compression));
        if (CircuitBreaker is null)
            throw new ArgumentException("The circuit breaker options cannot be null.", nameof(CircuitBreaker));
        CircuitBreaker.Validate();
        if (Timeout <= TimeSpan.Zero)
            throw new ArgumentException("The webhook timeout must be positive.", nameof(Timeout));
        if (InitialBackoff < TimeSpan.Zero)
            throw new ArgumentException("The webhook initial backoff cannot be negative.", nameof(InitialBackoff));
        if (MaxBackoff < InitialBackoff)
            throw new ArgumentException("The webhook maximum backoff cannot be shorter than the initial backoff.", nameof(MaxBackoff));
        if (MaxAttempts < 0)
            throw new ArgumentException("The webhook maximum attempts cannot be negative (0 retries for ever).", nameof(MaxAttempts));
        if (Observer is null)
            throw new ArgumentException("The webhook observer cannot be null.", nameof(Observer));
    }

    /// <summary>The URL without user info and query, which may hold credentials: what logs and messages show.</summary>
    internal string DisplayUrl => Display(Url);

    /// <summary>A URL without user info and query: what logs, messages and status show.</summary>
    public static string Display(Uri? url) =>
        url is { IsAbsoluteUri: true } ? $"{url.Scheme}://{url.Authority}{url.AbsolutePath}" : "(invalid URL)";

    // Records print every property; the secret must never reach a log line.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Url = ").Append(DisplayUrl)
            .Append(", SigningSecret = ***")
            .Append(", AdditionalSigningSecrets = ").Append(AdditionalSigningSecrets?.Count ?? 0).Append(" (***)")
            .Append(", MaxRequestBytes = ").Append(MaxRequestBytes)
            .Append(", Compression = ").Append(Compression)
            .Append(", CircuitBreaker = ").Append(CircuitBreaker)
            .Append(", Timeout = ").Append(Timeout)
            .Append(", InitialBackoff = ").Append(InitialBackoff)
            .Append(", MaxBackoff = ").Append(MaxBackoff)
            .Append(", MaxAttempts = ").Append(MaxAttempts);
        return true;
    }
}

/// <summary>How request bodies are encoded.</summary>
public enum WebhookCompression
{
    /// <summary>Plain JSON.</summary>
    None,

    /// <summary>gzip, with <c>Content-Encoding: gzip</c>.</summary>
    Gzip,
}
