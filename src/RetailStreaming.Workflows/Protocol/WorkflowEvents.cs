namespace RetailStreaming.Workflows.Protocol;

/// <summary>
/// What a workflow's journal holds. Events are small (definitions, checkpoints, lifecycle) and
/// versioned: samples of every version live in the tests, and each build must still read them.
/// </summary>
public static class WorkflowEvents
{
    /// <summary>
    /// A definition version was applied. <paramref name="AtPosition"/> is the checkpoint at the switch:
    /// every change up to it was produced by the earlier version, every later one by this version.
    /// </summary>
    public sealed record DefinitionApplied(
        string WorkflowId,
        int Version,
        string ClientId,
        string Yaml,
        string FileName,
        string AtPosition,
        DateTimeOffset AppliedAt) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// Every change up to <paramref name="Position"/> is delivered or durably dead-lettered.
    /// Written in batches (by count and by time), never one per change.
    /// </summary>
    public sealed record CheckpointAdvanced(
        string WorkflowId,
        string Position,
        long DeliveredChanges,
        long DeliveredRecords,
        long DeadLetters,
        DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// An operator paused the workflow: its stream was drained and its checkpoint persisted (at
    /// <paramref name="AtPosition"/>); it stays idle, across restarts, until <see cref="Resumed"/>.
    /// </summary>
    public sealed record Paused(string WorkflowId, string AtPosition, DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>An operator resumed the workflow: its stream starts again from the checkpoint.</summary>
    public sealed record Resumed(string WorkflowId, DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// An operator deleted the workflow: its stream was drained and stopped at <paramref name="AtPosition"/>;
    /// it never runs again (nor after a restart), and its id cannot be applied again. Its journal
    /// (history, checkpoint) and dead letters stay readable.
    /// </summary>
    public sealed record Deleted(string WorkflowId, string AtPosition, DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>The deleted workflow's capture objects were removed from the client database (<paramref name="Detail"/> says which).</summary>
    public sealed record CaptureRemoved(string WorkflowId, string Detail, DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// An operator asked to deliver again every change after <paramref name="From"/>: the checkpoint
    /// moves back to it, and the replay is over once the checkpoint passes <paramref name="Until"/>
    /// (the delivered position when it was asked). Persisted, so that a crash mid-replay resumes it.
    /// </summary>
    public sealed record ReplayRequested(string WorkflowId, string From, string Until, DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>
    /// The transform of definition <paramref name="FromVersion"/> failed on <paramref name="Failed"/> of the
    /// <paramref name="Transformed"/> changes it ran within <paramref name="Window"/> of its apply, at or above
    /// its <c>transform.autoRollback.errorRate</c> (<paramref name="Threshold"/>): the workflow goes back to the
    /// definition of <paramref name="ToVersion"/>, applied as the next version (as <c>rsctl workflow rollback</c>
    /// does). Persisted before that apply, so that a crash in between finishes the rollback on recovery.
    /// </summary>
    public sealed record TransformRolledBack(
        string WorkflowId,
        int FromVersion,
        int ToVersion,
        long Failed,
        long Transformed,
        double Threshold,
        TimeSpan Window,
        string Reason,
        DateTimeOffset At) : IWithWorkflowId, IRetailStreamingMessage;
}
