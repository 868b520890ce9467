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
}
