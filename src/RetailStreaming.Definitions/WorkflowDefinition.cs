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
    string Text)
{
    /// <summary>The workflow's own health thresholds (<c>health:</c>); null: the node's defaults.</summary>
    public HealthDefinition? Health { get; init; }
}

/// <summary>When the workflow counts as lagging or stalled; a field left out takes the node's default.</summary>
/// <param name="LagThreshold">Lagging when the oldest change not yet read is older than this (1 s to 7 days).</param>
/// <param name="StallAfter">Stalled when nothing was delivered for this long while changes are pending (10 s to 7 days).</param>
public sealed record HealthDefinition(TimeSpan? LagThreshold, TimeSpan? StallAfter);

/// <summary>The capture part of a definition.</summary>
/// <param name="Kind">The source kind: <c>sqlite</c> (change-table capture) or <c>postgres</c> (logical replication).</param>
/// <param name="Connection">The connection string when it holds no secret (a SQLite file), else null.</param>
/// <param name="ConnectionRef">A secret reference (<c>env:NAME</c> or <c>file:PATH</c>) to the connection string, else null. Exactly one of the two is set.</param>
/// <param name="Tables">The captured tables, in the source's naming; at least one.</param>
/// <param name="BatchSize">Changes read per source read (1 to 10,000; default 500).</param>
/// <param name="PollInterval">How long to wait after a read that found nothing (default 200 ms).</param>
/// <param name="HeartbeatInterval">PostgreSQL only: how often a heartbeat is written to the WAL so the slot can advance while the tables are idle (1 s to 1 h; <see cref="TimeSpan.Zero"/> is off; null: the connector's default, 10 s).</param>
public sealed record SourceDefinition(
    string Kind,
    string? Connection,
    string? ConnectionRef,
    IReadOnlyList<string> Tables,
    int BatchSize,
    TimeSpan PollInterval,
    TimeSpan? HeartbeatInterval = null)
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
    IReadOnlyDictionary<string, string> Settings)
{
    /// <summary>Rolls a new version back by itself when it fails too often right after it is applied; null: off.</summary>
    public AutoRollbackDefinition? AutoRollback { get; init; }

    /// <summary>Where the transform runs: <see cref="InProcess"/> (the default) or <see cref="Process"/> (a worker process).</summary>
    public string Isolation { get; init; } = InProcess;

    /// <summary>The worker process's limits (<c>transform.limits</c>); only with <see cref="Process"/> isolation.</summary>
    public TransformLimitsDefinition Limits { get; init; } = TransformLimitsDefinition.Default;

    /// <summary><c>transform.isolation: inprocess</c>: in the node's process, in a collectible load context.</summary>
    public const string InProcess = "inprocess";

    /// <summary><c>transform.isolation: process</c>: in a worker process, killed and restarted when it overruns or dies.</summary>
    public const string Process = "process";

    /// <summary>The accepted <c>transform.isolation</c> values.</summary>
    public static readonly string[] Isolations = [InProcess, Process];
}

/// <summary><c>transform.limits</c>: what one transform worker process may use (process isolation only).</summary>
/// <param name="MemoryMb">The worker's GC heap limit in MiB (64 to 65,536; default 512): past it an allocation throws OutOfMemoryException.</param>
/// <param name="CpuSeconds">The CPU seconds one worker process may use (RLIMIT_CPU; 1 to 86,400), or null: no limit (the default).</param>
public sealed record TransformLimitsDefinition(int MemoryMb, int? CpuSeconds)
{
    /// <summary>512 MiB of heap, no CPU-time limit.</summary>
    public static readonly TransformLimitsDefinition Default = new(512, null);
}

/// <summary>
/// <c>transform.autoRollback</c>: within <paramref name="Window"/> after a version is applied, once
/// its transform has run at least <paramref name="MinRecords"/> changes and the share it rejected
/// (dead-lettered or overran) reaches <paramref name="ErrorRate"/>, the workflow goes back to the
/// previous definition version, as <c>rsctl workflow rollback</c> does.
/// </summary>
/// <param name="ErrorRate">The share of failed changes that triggers it, above 0 and at most 1.</param>
/// <param name="Window">How long after the apply the version is watched (1 s to 7 days).</param>
/// <param name="MinRecords">Changes the version must have run before its rate counts (1 to 1,000,000; default 20).</param>
public sealed record AutoRollbackDefinition(double ErrorRate, TimeSpan Window, int MinRecords);

/// <summary>The delivery part of a definition.</summary>
/// <param name="Kind">The sink kind: <c>webhook</c>, <c>table</c> (see <see cref="Table"/>) or <c>file</c> (see <see cref="File"/>).</param>
/// <param name="Url">The endpoint URL (http or https); empty for kinds other than webhook.</param>
/// <param name="SecretRef">A secret reference (<c>env:NAME</c>, <c>file:/path</c> or <c>file:NAME</c>) to the signing secret (<c>whsec_</c> + base64): the first of <see cref="SecretRefs"/>; empty for kinds other than webhook.</param>
/// <param name="Batching">How records are grouped into requests.</param>
/// <param name="Retry">How transient failures are retried.</param>
/// <param name="Timeout">The timeout of one request (default 30 s).</param>
public sealed partial record DeliveryDefinition(
    string Kind,
    string Url,
    string SecretRef,
    BatchingDefinition Batching,
    RetryDefinition Retry,
    TimeSpan Timeout)
{
    /// <summary>
    /// Every active signing secret (<c>secretRefs</c>, or the one <c>secretRef</c>), in order: each
    /// request carries one signature per secret, so a secret can be rotated without a gap.
    /// </summary>
    public IReadOnlyList<string> SecretRefs { get; init; } = [SecretRef];

    /// <summary>Request body compression: <c>none</c> (default) or <c>gzip</c>.</summary>
    public string Compression { get; init; } = "none";

    /// <summary>The endpoint's circuit breaker.</summary>
    public CircuitBreakerDefinition CircuitBreaker { get; init; } = new(5, TimeSpan.FromSeconds(30));
}

/// <summary>The circuit breaker of a delivery endpoint.</summary>
/// <param name="FailureThreshold">Consecutive transient failures that open it (0: no breaker; default 5).</param>
/// <param name="CoolDown">How long it stays open before one probe request (default 30 s).</param>
public sealed record CircuitBreakerDefinition(int FailureThreshold, TimeSpan CoolDown);

/// <summary>Batching of deliveries.</summary>
/// <param name="MaxRecords">Most records in one request (1 to 10,000; default 100).</param>
/// <param name="MaxWait">Longest a record waits for its batch to fill (default 200 ms).</param>
public sealed record BatchingDefinition(int MaxRecords, TimeSpan MaxWait)
{
    /// <summary>Largest request body in bytes (1 KiB to 64 MiB; default 1 MiB): a batch above it is sent as several requests.</summary>
    public int MaxBytes { get; init; } = 1024 * 1024;
}

/// <summary>Retries of transient delivery failures (5xx, 408, 409, 429, connection errors, timeouts).</summary>
/// <param name="InitialBackoff">Delay before the first retry (default 500 ms).</param>
/// <param name="MaxBackoff">Cap of the exponential backoff (default 60 s).</param>
/// <param name="MaxAttempts">Attempts before a batch is given up as transient-failing and dead-lettered; 0 retries for ever (default 0).</param>
public sealed record RetryDefinition(TimeSpan InitialBackoff, TimeSpan MaxBackoff, int MaxAttempts);
