namespace RetailStreaming.Definitions;

/// <summary>
/// A validated workflow definition: what to capture, how to transform it, where to deliver it.
/// Built only by <see cref="WorkflowDefinitionReader"/>, so every instance has passed validation.
/// </summary>
/// <param name="Id">The workflow id: lowercase letters, digits and '-', 3 to 63 characters, starting with a letter.</param>
/// <param name="Client">The client owning the workflow (same rules as the id).</param>
/// <param name="Source">The capture.</param>
/// <param name="Transform">The transform.</param>
/// <param name="Delivery">The delivery.</param>
/// <param name="Text">The YAML text the definition was read from, as the journal keeps it.</param>
public sealed record WorkflowDefinition(
    string Id,
    string Client,
    SourceDefinition Source,
    TransformDefinition Transform,
    DeliveryDefinition Delivery,
    string Text);

/// <summary>The capture part of a definition.</summary>
/// <param name="Kind">The source kind: <c>sqlite</c> (change-table capture) or <c>postgres</c> (logical replication).</param>
/// <param name="Connection">The connection string when it holds no secret (a SQLite file), else null.</param>
/// <param name="ConnectionRef">A secret reference (<c>env:NAME</c> or <c>file:PATH</c>) to the connection string, else null. Exactly one of the two is set.</param>
/// <param name="Tables">The captured tables, in the source's naming; at least one.</param>
/// <param name="BatchSize">Changes read per source read (1 to 10,000; default 500).</param>
/// <param name="PollInterval">How long to wait after a read that found nothing (default 200 ms).</param>
public sealed record SourceDefinition(
    string Kind,
    string? Connection,
    string? ConnectionRef,
    IReadOnlyList<string> Tables,
    int BatchSize,
    TimeSpan PollInterval)
{
    /// <summary>The default of <see cref="Retention"/>.</summary>
    public const int DefaultRetention = 1000;

    /// <summary>
    /// SQLite only: how many changes at or below the checkpoint the change table keeps, so that
    /// <c>rsctl workflow replay</c> can reach back that far (0 to 10,000,000; default 1,000).
    /// </summary>
    public int Retention { get; init; } = DefaultRetention;
}

/// <summary>The transform part of a definition.</summary>
/// <param name="Package">The NuGet package id holding the transform.</param>
/// <param name="Version">The package version (semantic version).</param>
/// <param name="Type">The full name of the class implementing <c>ITransform</c>.</param>
/// <param name="TimeBudget">The most time one change may take (default 5 s); an overrun dead-letters the change.</param>
/// <param name="Settings">Settings handed to the transform.</param>
public sealed record TransformDefinition(
    string Package,
    string Version,
    string Type,
    TimeSpan TimeBudget,
    IReadOnlyDictionary<string, string> Settings);

/// <summary>The delivery part of a definition.</summary>
/// <param name="Kind">The sink kind: <c>webhook</c>.</param>
/// <param name="Url">The endpoint URL (http or https).</param>
/// <param name="SecretRef">A secret reference (<c>env:NAME</c> or <c>file:PATH</c>) to the signing secret (<c>whsec_</c> + base64).</param>
/// <param name="Batching">How records are grouped into requests.</param>
/// <param name="Retry">How transient failures are retried.</param>
/// <param name="Timeout">The timeout of one request (default 30 s).</param>
public sealed record DeliveryDefinition(
    string Kind,
    string Url,
    string SecretRef,
    BatchingDefinition Batching,
    RetryDefinition Retry,
    TimeSpan Timeout);

/// <summary>Batching of deliveries.</summary>
/// <param name="MaxRecords">Most records in one request (1 to 10,000; default 100).</param>
/// <param name="MaxWait">Longest a record waits for its batch to fill (default 200 ms).</param>
public sealed record BatchingDefinition(int MaxRecords, TimeSpan MaxWait);

/// <summary>Retries of transient delivery failures (5xx, 408, 409, 429, connection errors, timeouts).</summary>
/// <param name="InitialBackoff">Delay before the first retry (default 500 ms).</param>
/// <param name="MaxBackoff">Cap of the exponential backoff (default 60 s).</param>
/// <param name="MaxAttempts">Attempts before a batch is given up as transient-failing and dead-lettered; 0 retries for ever (default 0).</param>
public sealed record RetryDefinition(TimeSpan InitialBackoff, TimeSpan MaxBackoff, int MaxAttempts);
