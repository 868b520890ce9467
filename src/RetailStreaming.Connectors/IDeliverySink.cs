using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors;

/// <summary>
/// A sink connector: sends batches of records to a client's endpoint.
/// </summary>
/// <remarks>
/// <see cref="DeliverAsync"/> retries transient failures itself (with backoff, honouring
/// Retry-After) and returns only when every record of the batch is either accepted by the
/// endpoint or refused for good; the caller dead-letters the refused ones. It throws only when
/// cancelled or when it cannot go on at all.
/// </remarks>
public interface IDeliverySink : IAsyncDisposable
{
    /// <summary>Delivers one batch, in order. A sink may be called concurrently (one call per delivery lane) when its kind allows <c>delivery.parallelism</c>.</summary>
    Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken);
}

/// <summary>One record on its way to the endpoint, with what makes it idempotent.</summary>
/// <param name="IdempotencyKey">Derived from (workflow id, source position, output index): the same across restarts and replays.</param>
/// <param name="WorkflowId">The workflow that produced it.</param>
/// <param name="Position">The source position of the change it came from.</param>
/// <param name="OutputIndex">Its index among the records its change produced.</param>
/// <param name="Table">The source table of the change.</param>
/// <param name="Operation">The operation of the change.</param>
/// <param name="CommitTime">When the source committed the change.</param>
/// <param name="Record">What the transform produced.</param>
public sealed record DeliveryRecord(
    string IdempotencyKey,
    string WorkflowId,
    SourcePosition Position,
    int OutputIndex,
    string Table,
    ChangeOperation Operation,
    DateTimeOffset CommitTime,
    OutputRecord Record)
{
    /// <summary>The transform version that produced the record (a replay across a switch names the earlier one), when known.</summary>
    public string? TransformVersion { get; init; }

    /// <summary>
    /// <see cref="OutputRecord.Payload"/> as UTF-8 JSON written with default options, when the transform
    /// host kept it (it serialized the payload already): a sink may write these bytes instead of
    /// serializing the payload again. Null: serialize <see cref="OutputRecord.Payload"/>.
    /// </summary>
    public byte[]? PayloadJson { get; init; }
}

/// <summary>What became of a batch: the records the endpoint refused for good (the rest were accepted).</summary>
/// <param name="Refused">Refused records with the reason, in batch order.</param>
/// <param name="Attempts">HTTP requests (or writes) made, retries included.</param>
public sealed record DeliveryResult(IReadOnlyList<RefusedRecord> Refused, int Attempts)
{
    /// <summary>
    /// Records not sent because an earlier record of their key (type and key) in the batch was
    /// refused, in batch order; only a sink told to hold keys after a refusal returns any
    /// (so that a parked key's later records never overtake it).
    /// </summary>
    public IReadOnlyList<DeliveryRecord> Held { get; init; } = [];

    /// <summary>Every record accepted at the first attempt.</summary>
    public static DeliveryResult AllAccepted(int attempts = 1) => new([], attempts);
}

/// <summary>A record the endpoint refused for good.</summary>
/// <param name="Record">The record.</param>
/// <param name="Reason">Why: the status code and what the endpoint said.</param>
/// <param name="Attempts">The requests that carried it, oldest first (null when the sink does not record them).</param>
public sealed record RefusedRecord(DeliveryRecord Record, string Reason, IReadOnlyList<DeliveryAttempt>? Attempts = null);

/// <summary>One request (or write) that carried a record, and its answer.</summary>
/// <param name="At">When the attempt ended.</param>
/// <param name="StatusCode">The endpoint's HTTP status, when it answered.</param>
/// <param name="Detail">A snippet of the response, or the transport error.</param>
public sealed record DeliveryAttempt(DateTimeOffset At, int? StatusCode, string Detail);

/// <summary>Something a sink wants the platform to know while it retries (for status and metrics).</summary>
public interface IDeliveryObserver
{
    /// <summary>A transient failure; the sink will retry after <paramref name="delay"/>.</summary>
    void Retrying(int attempt, TimeSpan delay, string reason);

    /// <summary>The endpoint accepted a request.</summary>
    void Accepted(int records, TimeSpan duration);

    /// <summary>
    /// The endpoint's circuit breaker or rate limit changed (and once when the sink starts, with the
    /// current state). Called from the sink's threads; it must not block.
    /// </summary>
    void EndpointHealthChanged(EndpointHealth health) { }
}

/// <summary>How a sink sees its endpoint: circuit breaker and adaptive rate limit (for status and metrics).</summary>
/// <param name="Endpoint">The endpoint, without query or credentials.</param>
/// <param name="Circuit"><c>closed</c> (requests flow), <c>open</c> (none are sent until <paramref name="OpenUntil"/>) or <c>half-open</c> (one probe).</param>
/// <param name="ConsecutiveFailures">Transient failures since the last answer that was not one.</param>
/// <param name="OpenUntil">When an open circuit lets a probe through.</param>
/// <param name="RateLimitPerSecond">Requests per second the sink allows itself after 429/503 answers; null when unlimited.</param>
/// <param name="PausedUntil">A Retry-After the endpoint asked for, while it runs.</param>
/// <param name="ChangedAt">When this state began.</param>
public sealed record EndpointHealth(
    string Endpoint,
    string Circuit,
    int ConsecutiveFailures,
    DateTimeOffset? OpenUntil,
    double? RateLimitPerSecond,
    DateTimeOffset? PausedUntil,
    DateTimeOffset ChangedAt)
{
    /// <summary>The circuit lets requests through.</summary>
    public const string Closed = "closed";

    /// <summary>The circuit lets nothing through until its cool-down ends.</summary>
    public const string Open = "open";

    /// <summary>The circuit lets one probe through; its outcome closes or reopens it.</summary>
    public const string HalfOpen = "half-open";
}

/// <summary>An observer that ignores everything.</summary>
public sealed class NullDeliveryObserver : IDeliveryObserver
{
    /// <summary>The single instance.</summary>
    public static NullDeliveryObserver Instance { get; } = new();

    /// <inheritdoc />
    public void Retrying(int attempt, TimeSpan delay, string reason) { }

    /// <inheritdoc />
    public void Accepted(int records, TimeSpan duration) { }
}
