namespace RetailStreaming.Workflows.Protocol;

/// <summary>Where a workflow is in its life.</summary>
public static class WorkflowRunState
{
    /// <summary>No definition applied yet.</summary>
    public const string Idle = "idle";
    /// <summary>Recovering or preparing the source.</summary>
    public const string Starting = "starting";
    /// <summary>The stream runs.</summary>
    public const string Running = "running";
    /// <summary>The stream failed and will be rebuilt from the checkpoint after a backoff.</summary>
    public const string Restarting = "restarting";
    /// <summary>Draining before a hand-off, a stop or a definition switch.</summary>
    public const string Draining = "draining";
    /// <summary>The transform overran its time budget: the stream is stopped until a new definition is applied.</summary>
    public const string Quarantined = "quarantined";
    /// <summary>Draining before a pause.</summary>
    public const string Pausing = "pausing";
    /// <summary>Paused by an operator: drained and checkpointed, idle across restarts until resumed.</summary>
    public const string Paused = "paused";
    /// <summary>Draining before a deletion.</summary>
    public const string Deleting = "deleting";
    /// <summary>Deleted by an operator: stopped for good; history and dead letters stay readable.</summary>
    public const string Deleted = "deleted";
}

/// <summary>A workflow's status and figures, as its actor sees them now.</summary>
public sealed record WorkflowStatus(
    string WorkflowId,
    string? ClientId,
    int DefinitionVersion,
    string? TransformPackage,
    string? TransformVersion,
    string State,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    string Checkpoint,
    string DeliveredPosition,
    long CapturedChanges,
    long DeliveredChanges,
    long DeliveredRecords,
    long DeadLetters,
    long Retries,
    int Restarts,
    long InFlight,
    long MaxInFlight,
    long InFlightBound,
    long? SourcePendingChanges,
    double? SourceLagSeconds,
    double? LastCommitToDeliveryMs,
    DateTimeOffset? LastDeliveryAt,
    string Node,
    DeliveryEndpointStatus? Endpoint = null,
    string? ReplayUntil = null,
    DateTimeOffset? DeletedAt = null,
    WorkflowHealth? Health = null,
    IReadOnlyList<WorkflowError>? RecentErrors = null) : IWithWorkflowId, IRetailStreamingMessage
{
    /// <summary>Bytes the source retains for this workflow (PostgreSQL: the WAL its replication slot keeps), when known.</summary>
    public long? SourcePendingBytes { get; init; }
}

/// <summary>
/// The delivery endpoint as the workflow's sink sees it: its circuit breaker and adaptive rate
/// limit (shared by the workflows of one client that deliver to the same endpoint on one node).
/// </summary>
/// <param name="Url">The endpoint, without query or credentials.</param>
/// <param name="Circuit"><c>closed</c>, <c>open</c> or <c>half-open</c>.</param>
/// <param name="ConsecutiveFailures">Transient failures in a row.</param>
/// <param name="OpenUntil">When an open circuit lets one probe through.</param>
/// <param name="RateLimitPerSecond">The requests per second the sink allows itself after 429/503 answers; null when unlimited.</param>
/// <param name="PausedUntil">The end of a Retry-After the endpoint asked for.</param>
/// <param name="Since">When the circuit entered its state.</param>
public sealed record DeliveryEndpointStatus(
    string Url,
    string Circuit,
    int ConsecutiveFailures,
    DateTimeOffset? OpenUntil,
    double? RateLimitPerSecond,
    DateTimeOffset? PausedUntil,
    DateTimeOffset Since);

/// <summary>A workflow's health, as its status tells operators, clients and alert rules.</summary>
public static class WorkflowHealthState
{
    /// <summary>Delivering within its lag target, or idle with nothing pending.</summary>
    public const string Healthy = "healthy";
    /// <summary>Running, but behind its source by more than the lag threshold.</summary>
    public const string Lagging = "lagging";
    /// <summary>Failing: the stream restarts, the endpoint's circuit is open, the transform is quarantined.</summary>
    public const string Failing = "failing";
    /// <summary>No progress for the configured time while changes are pending.</summary>
    public const string Stalled = "stalled";
    /// <summary>Paused by an operator: not counted as down.</summary>
    public const string Paused = "paused";
    /// <summary>Not running by design (idle, deleted).</summary>
    public const string Stopped = "stopped";
}

/// <summary>A workflow's health classification.</summary>
/// <param name="State">One of <see cref="WorkflowHealthState"/>.</param>
/// <param name="Reason">Plain words: why it is in that state ("no delivery for 5 m while 120 changes are pending").</param>
/// <param name="Since">When it entered that state.</param>
public sealed record WorkflowHealth(string State, string Reason, DateTimeOffset Since);

/// <summary>One of a workflow's recent errors.</summary>
/// <param name="At">When it happened.</param>
/// <param name="Stage">capture, transform, delivery or workflow.</param>
/// <param name="Message">What went wrong.</param>
/// <param name="Position">The source position concerned, when known.</param>
public sealed record WorkflowError(DateTimeOffset At, string Stage, string Message, string? Position);
