namespace RetailStreaming.Workflows.Protocol;

/// <summary>Commands a workflow accepts.</summary>
public static class WorkflowCommands
{
    /// <summary>Applies a definition (YAML text). Answered with <see cref="WorkflowReplies.DefinitionApplied"/>,
    /// <see cref="WorkflowReplies.DefinitionUnchanged"/> or <see cref="WorkflowReplies.DefinitionRejected"/>.</summary>
    public sealed record ApplyDefinition(string WorkflowId, string Yaml, string FileName) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Asks for the workflow's status; answered with <see cref="WorkflowStatus"/>.</summary>
    public sealed record GetStatus(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Sent by the shard to its entity on hand-off (rebalance, node leaving): drain, checkpoint, stop.
    /// Also used to stop a workflow's entity gracefully.
    /// </summary>
    public sealed record HandOff(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage
    {
        /// <summary>The message the shard region is configured with (the entity knows its own id).</summary>
        public static HandOff Instance { get; } = new("");
    }

    /// <summary>
    /// Stops capturing, drains what is in flight and persists the checkpoint, then stays idle in
    /// state <c>paused</c>, across restarts, until <see cref="Resume"/>. Answered with
    /// <see cref="WorkflowReplies.Paused"/> once drained, or <see cref="WorkflowReplies.LifecycleRefused"/>.
    /// </summary>
    public sealed record Pause(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Starts a paused workflow from its checkpoint. Answered with <see cref="WorkflowReplies.Resumed"/> or <see cref="WorkflowReplies.LifecycleRefused"/>.</summary>
    public sealed record Resume(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Tears the stream down and rebuilds it from the checkpoint at once: no backoff, and a
    /// quarantine is lifted. Answered with <see cref="WorkflowReplies.Restarted"/> or <see cref="WorkflowReplies.LifecycleRefused"/>.
    /// </summary>
    public sealed record Restart(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Applies the YAML of an earlier version again, as a new version (recorded like any apply).
    /// Answered like <see cref="ApplyDefinition"/>; a version that does not exist is rejected.
    /// </summary>
    public sealed record Rollback(string WorkflowId, int ToVersion) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Asks for the definition versions and the lifecycle; answered with <see cref="WorkflowReplies.History"/>.</summary>
    public sealed record GetHistory(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Redrives dead letters of the workflow, in the order given: delivery dead letters are sent
    /// again through the workflow's sink with their original idempotency keys, transform dead
    /// letters run through the current transform first. A letter superseded by a later delivery of
    /// its row (or already redriven with success) is skipped unless <paramref name="Force"/>.
    /// One redrive at a time per workflow. Answered with <see cref="WorkflowReplies.Redriven"/>
    /// or <see cref="WorkflowReplies.LifecycleRefused"/>.
    /// </summary>
    /// <param name="WorkflowId">The workflow.</param>
    /// <param name="EntryIds">The dead letters, in the order to redrive them.</param>
    /// <param name="Force">Redrive superseded (or already redriven) letters too.</param>
    /// <param name="RequestedBy">Who asked (a token id), for the log.</param>
    public sealed record Redrive(string WorkflowId, IReadOnlyList<long> EntryIds, bool Force, string RequestedBy) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Drains and checkpoints, records the deletion, then removes the capture objects from the client
    /// database. Idempotent: deleting a deleted workflow retries a removal that failed. Answered with
    /// <see cref="WorkflowReplies.Deleted"/> or <see cref="WorkflowReplies.LifecycleRefused"/>.
    /// </summary>
    public sealed record Delete(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Delivers again every change after <paramref name="From"/> (a position, or <c>earliest</c>),
    /// with the same idempotency keys, if the source still holds them and the transform that
    /// produced them is the one that runs now. Answered with <see cref="WorkflowReplies.ReplayStarted"/>,
    /// <see cref="WorkflowReplies.ReplayRefused"/> or <see cref="WorkflowReplies.LifecycleRefused"/>.
    /// </summary>
    public sealed record Replay(string WorkflowId, string From) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Reads captured tables again, whole (re-snapshot), in order with the changes: one table, or
    /// every captured table when <paramref name="Table"/> is null. Answered with
    /// <see cref="WorkflowReplies.SnapshotRequested"/>, <see cref="WorkflowReplies.ReplayRefused"/> or
    /// <see cref="WorkflowReplies.LifecycleRefused"/>.
    /// </summary>
    public sealed record RequestSnapshot(string WorkflowId, string? Table) : IWithWorkflowId, IRetailStreamingMessage;
}

/// <summary>Replies of a workflow.</summary>
public static class WorkflowReplies
{
    /// <summary>The definition was validated and recorded as a new version.</summary>
    public sealed record DefinitionApplied(string WorkflowId, int Version) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The definition is the same as the current version: nothing recorded.</summary>
    public sealed record DefinitionUnchanged(string WorkflowId, int Version) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The definition was rejected; nothing was applied.</summary>
    public sealed record DefinitionRejected(string WorkflowId, IReadOnlyList<string> Errors) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The workflow is paused: drained, checkpointed at <paramref name="Checkpoint"/>. <paramref name="Changed"/> is false when it already was.</summary>
    public sealed record Paused(string WorkflowId, string Checkpoint, bool Changed) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The workflow runs again from its checkpoint. <paramref name="Changed"/> is false when it was not paused.</summary>
    public sealed record Resumed(string WorkflowId, string Checkpoint, bool Changed) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The stream was torn down and is being rebuilt from <paramref name="Checkpoint"/>.</summary>
    public sealed record Restarted(string WorkflowId, string Checkpoint) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>A pause, resume or restart that cannot be done now, and why (what to do instead).</summary>
    public sealed record LifecycleRefused(string WorkflowId, string Reason) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>What a redrive did with each dead letter, in order.</summary>
    public sealed record Redriven(string WorkflowId, IReadOnlyList<RedriveResult> Results) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// The workflow is deleted (<paramref name="Changed"/> is false when it already was). When its
    /// capture could not be removed, <paramref name="CaptureError"/> says why and what to run.
    /// </summary>
    public sealed record Deleted(string WorkflowId, bool Changed, string Checkpoint, bool CaptureRemoved, string? CaptureDetail, string? CaptureError)
        : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The replay runs: every change after <paramref name="From"/> up to <paramref name="Until"/> is delivered again.</summary>
    public sealed record ReplayStarted(string WorkflowId, string From, string Until, string Earliest) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>A replay or a snapshot the source cannot serve, and why; <paramref name="Earliest"/> is how far back a replay can start, when known.</summary>
    public sealed record ReplayRefused(string WorkflowId, string Reason, string? Earliest) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Snapshots of these tables were requested (one id per table); the rows follow as snapshot reads.</summary>
    public sealed record SnapshotRequested(string WorkflowId, IReadOnlyList<string> Tables, IReadOnlyList<string> SnapshotIds) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Every definition version, oldest first, whether the workflow is paused, and its automatic rollbacks, oldest first.</summary>
    public sealed record History(string WorkflowId, IReadOnlyList<DefinitionVersion> Versions, bool Paused,
        IReadOnlyList<WorkflowEvents.TransformRolledBack>? AutoRollbacks = null) : IWithWorkflowId, IRetailStreamingMessage;
}

/// <summary>What a redrive did with one dead letter.</summary>
/// <param name="EntryId">The dead letter.</param>
/// <param name="Outcome"><c>delivered</c>, <c>failed</c> (a new attempt is recorded) or <c>skipped</c> (nothing sent; see the detail).</param>
/// <param name="Detail">Why, in words.</param>
/// <param name="TransformVersion">For transform dead letters: the transform version that ran.</param>
/// <param name="IdempotencyKeys">The keys of the records sent (the original ones).</param>
public sealed record RedriveResult(long EntryId, string Outcome, string Detail, string? TransformVersion, IReadOnlyList<string> IdempotencyKeys)
{
    /// <summary>The endpoint accepted every record.</summary>
    public const string Delivered = "delivered";

    /// <summary>Refused again, rejected again by the transform, or no answer: recorded as a new attempt.</summary>
    public const string Failed = "failed";

    /// <summary>Not sent: superseded, already redriven, not found, or the redrive stopped before it.</summary>
    public const string Skipped = "skipped";
}
