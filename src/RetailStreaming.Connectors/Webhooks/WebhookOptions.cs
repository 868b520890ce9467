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

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option (never quoting the secret).</summary>
    public void Validate()
    {
        if (Url is null || !Url.IsAbsoluteUri || (Url.Scheme != Uri.UriSchemeHttp && Url.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException("The webhook URL must be an absolute http or https URL.", nameof(Url));
        StandardWebhooks.DecodeSecret(SigningSecret);
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
    internal string DisplayUrl => Url is { IsAbsoluteUri: true } ? $"{Url.Scheme}://{Url.Authority}{Url.AbsolutePath}" : "(invalid URL)";

    // Records print every property; the secret must never reach a log line.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Url = ").Append(DisplayUrl)
            .Append(", SigningSecret = ***")
            .Append(", Timeout = ").Append(Timeout)
            .Append(", InitialBackoff = ").Append(InitialBackoff)
            .Append(", MaxBackoff = ").Append(MaxBackoff)
            .Append(", MaxAttempts = ").Append(MaxAttempts);
        return true;
    }
}
