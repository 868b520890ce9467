namespace RetailStreaming.Workflows;

/// <summary>
/// Platform-wide settings of the workflow actors (cluster-config, section <c>RetailStreaming:Workflows</c>).
/// Per-workflow bounds (source batch size, delivery batch size) come from the definition.
/// </summary>
public sealed record WorkflowSettings
{
    /// <summary>Changes between the capture and the transform stage (the Source.Queue buffer).</summary>
    public int QueueSize { get; init; } = 256;

    /// <summary>Persist the checkpoint after this many delivered changes...</summary>
    public int CheckpointEveryChanges { get; init; } = 1000;

    /// <summary>...or after this long, whichever comes first (never one write per change).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Save a snapshot every this many journal events.</summary>
    public int SnapshotEveryEvents { get; init; } = 100;

    /// <summary>First delay before a failed stream is rebuilt from the checkpoint.</summary>
    public TimeSpan RestartMinBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap of the rebuild backoff.</summary>
    public TimeSpan RestartMaxBackoff { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a hand-off or a stop waits for the stream to drain before it aborts it.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How often the capture measures the source's lag.</summary>
    public TimeSpan LagInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Slack added to the transform time budget for the ask from the stream (dead-letter write included).</summary>
    public TimeSpan TransformAskSlack { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a redrive waits for one dead letter's delivery (the sink retries transient errors
    /// meanwhile); past it the letter records a failed attempt and the redrive stops.
    /// </summary>
    public TimeSpan RedriveTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Node-wide default: a workflow whose oldest pending change is older than this is lagging (a definition's <c>health.lagThreshold</c> overrides it).</summary>
    public TimeSpan HealthLagThreshold { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Node-wide default: a workflow with changes pending and no delivery for this long is stalled (<c>health.stallAfter</c> overrides it).</summary>
    public TimeSpan HealthStallAfter { get; init; } = TimeSpan.FromMinutes(5);
}
