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
}
