namespace RetailStreaming.Workflows.Protocol;

/// <summary>
/// A shadow run: a candidate transform version runs beside the live one on the workflow's live
/// changes; what it makes is compared with what the live version made and reported, never
/// delivered. Kept in memory by the workflow's entity (not journaled): it ends with a stop, a
/// restart or a move of the workflow to another node.
/// </summary>
public static class ShadowCommands
{
    /// <summary>Starts a shadow run of transform <paramref name="Version"/> (same package, type and settings as the live one). Answered with <see cref="ShadowReport"/> or <see cref="WorkflowReplies.LifecycleRefused"/>.</summary>
    public sealed record Start(string WorkflowId, string Version) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Stops the shadow run; answered with its final <see cref="ShadowReport"/>.</summary>
    public sealed record Stop(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;

    /// <summary>Asks for the shadow run's figures (the running one, else the last one); answered with <see cref="ShadowReport"/>.</summary>
    public sealed record GetReport(string WorkflowId) : IWithWorkflowId, IRetailStreamingMessage;
}

/// <summary>What a shadow run found so far.</summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="State"><c>running</c>, <c>stopped</c> or <c>none</c> (never started on this entity).</param>
/// <param name="CandidateVersion">The candidate transform version.</param>
/// <param name="LiveVersion">The live transform version it was compared with (the last one, if it changed).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="StoppedAt">When it stopped, if it did.</param>
/// <param name="StopReason">Why it stopped (an operator, the candidate overran its budget...).</param>
/// <param name="Equal">Changes on which both versions made the same records (or both rejected the change).</param>
/// <param name="Different">Changes on which the records differ.</param>
/// <param name="Failed">Changes the candidate rejected (threw, or overran its budget) and the live version did not.</param>
/// <param name="Skipped">Changes not compared because the candidate fell behind the live stream.</param>
/// <param name="Differences">The first differences (and failures), in source order.</param>
public sealed record ShadowReport(
    string WorkflowId,
    string State,
    string? CandidateVersion,
    string? LiveVersion,
    DateTimeOffset? StartedAt,
    DateTimeOffset? StoppedAt,
    string? StopReason,
    long Equal,
    long Different,
    long Failed,
    long Skipped,
    IReadOnlyList<ShadowDifference> Differences) : IWithWorkflowId, IRetailStreamingMessage
{
    /// <summary>How many differences a report keeps.</summary>
    public const int MaxDifferences = 20;
}

/// <summary>One change on which the candidate differs from the live version.</summary>
/// <param name="Position">The change's source position.</param>
/// <param name="Table">Its table.</param>
/// <param name="Key">Its key, as JSON.</param>
/// <param name="Kind"><c>different</c> or <c>failed</c>.</param>
/// <param name="Diff">What differs, field by field (<c>payload.total: live 14.97, candidate 15</c>), or the candidate's error.</param>
public sealed record ShadowDifference(string Position, string Table, string Key, string Kind, string Diff);
