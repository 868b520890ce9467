using System.Collections.Immutable;
using System.Text.Json.Serialization;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows;

/// <summary>One applied definition version, as the journal holds it.</summary>
public sealed record DefinitionVersion(int Version, string ClientId, string Yaml, string FileName, string AtPosition, DateTimeOffset AppliedAt);

/// <summary>
/// A workflow's persistent state: its definition history, its checkpoint and whether an operator
/// paused it (<see cref="Paused"/> is absent from snapshots written before pausing existed: false). Immutable; the actor
/// persists an event, then applies it, and recovery runs the same <see cref="Apply"/>.
/// </summary>
public sealed record WorkflowState(
    string WorkflowId,
    ImmutableList<DefinitionVersion> Definitions,
    string Checkpoint,
    long DeliveredChanges,
    long DeliveredRecords,
    long DeadLetters,
    bool Paused = false,
    DateTimeOffset? DeletedAt = null,
    bool CaptureRemoved = false,
    string? ReplayUntil = null,
    ImmutableList<WorkflowEvents.TransformRolledBack>? AutoRollbacks = null) : IRetailStreamingMessage
{
    /// <summary>True once an operator deleted the workflow.</summary>
    [JsonIgnore]
    public bool Deleted => DeletedAt is not null;

    /// <summary>The state of a workflow that has no definition yet.</summary>
    public static WorkflowState Empty(string workflowId) =>
        new(workflowId, ImmutableList<DefinitionVersion>.Empty, SourcePosition.Start.Value, 0, 0, 0);

    /// <summary>The definition in force, or null.</summary>
    [JsonIgnore]
    public DefinitionVersion? Current => Definitions.IsEmpty ? null : Definitions[^1];

    /// <summary>The checkpoint as a position.</summary>
    [JsonIgnore]
    public SourcePosition CheckpointPosition => new(Checkpoint);

    /// <summary>The state after an event.</summary>
    public WorkflowState Apply(object @event) => @event switch
    {
        WorkflowEvents.DefinitionApplied e => this with
        {
            Definitions = Definitions.Add(new DefinitionVersion(e.Version, e.ClientId, e.Yaml, e.FileName, e.AtPosition, e.AppliedAt)),
            Checkpoint = SourcePosition.Max(CheckpointPosition, new SourcePosition(e.AtPosition)).Value,
        },
        WorkflowEvents.CheckpointAdvanced e => EndReplayAt(e.Position) with
        {
            // A checkpoint never moves back, whatever order a recovery brings (only ReplayRequested moves it back).
            Checkpoint = SourcePosition.Max(CheckpointPosition, new SourcePosition(e.Position)).Value,
            DeliveredChanges = Math.Max(DeliveredChanges, e.DeliveredChanges),
            DeliveredRecords = Math.Max(DeliveredRecords, e.DeliveredRecords),
            DeadLetters = Math.Max(DeadLetters, e.DeadLetters),
        },
        WorkflowEvents.Paused e => EndReplayAt(e.AtPosition) with
        {
            Paused = true,
            Checkpoint = SourcePosition.Max(CheckpointPosition, new SourcePosition(e.AtPosition)).Value,
        },
        WorkflowEvents.Resumed => this with { Paused = false },
        WorkflowEvents.Deleted e => this with
        {
            DeletedAt = DeletedAt ?? e.At,
            Checkpoint = SourcePosition.Max(CheckpointPosition, new SourcePosition(e.AtPosition)).Value,
            ReplayUntil = null,
        },
        WorkflowEvents.CaptureRemoved => this with { CaptureRemoved = true },
        // The one event that moves the checkpoint back: an operator asked for these changes again.
        WorkflowEvents.ReplayRequested e => this with { Checkpoint = e.From, ReplayUntil = e.Until },
        WorkflowEvents.TransformRolledBack e => this with { AutoRollbacks = (AutoRollbacks ?? []).Add(e) },
        _ => this,
    };

    /// <summary>The replay is over once the checkpoint reaches where it was when the replay was asked.</summary>
    private WorkflowState EndReplayAt(string position) =>
        ReplayUntil is not null && new SourcePosition(position) >= new SourcePosition(ReplayUntil) ? this with { ReplayUntil = null } : this;
}
