using Akka.Streams;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows;

/// <summary>
/// Messages between a workflow actor, its children and its stream. Local only (never persisted
/// nor sent to another node), so they need no serializer binding. Every message from a child
/// carries the generation of the stream it belongs to; the workflow ignores stale generations.
/// </summary>
internal static class StreamProtocol
{
    // capture
    /// <summary>The capture offers each read as one element (a chunk of changes in source order), so the stream moves batches, not single changes.</summary>
    public sealed record StartCapture(ISourceQueueWithComplete<IReadOnlyList<ChangeEvent>> Queue, SourcePosition From);
    public sealed record StopCapture;
    public sealed record ConfirmCheckpoint(SourcePosition Checkpoint);
    public sealed record CaptureStarted(int Generation);
    public sealed record Captured(int Generation, int Count, SourcePosition Last);
    public sealed record SourceLagReport(int Generation, long? PendingChanges, long? PendingBytes, TimeSpan? OldestPendingAge);

    // transform
    /// <summary>One ask of the transform stage: changes in source order.</summary>
    public sealed record TransformBatch(IReadOnlyList<ChangeEvent> Changes);
    /// <summary>
    /// The answer: one entry per change in the batch's order, or fewer, ending with a change that
    /// overran its time budget (the workflow is then quarantined and the rest is read again later).
    /// </summary>
    public sealed record TransformedBatch(IReadOnlyList<TransformedChange> Changes);
    /// <summary>A change overran its time budget at <paramref name="At"/> (it was dead-lettered); the changes before it were answered.</summary>
    public sealed record TransformQuarantined(int Generation, string Reason, SourcePosition At);
    /// <summary>What the transform did with one batch (for transform.autoRollback and a shadow run): how many it ran, how many of those it rejected.</summary>
    public sealed record TransformOutcomes(int Generation, int Ran, int Failed, IReadOnlyList<TransformedChange> Done);

    // delivery
    public sealed record StreamInit;
    public sealed record Ack
    {
        public static Ack Instance { get; } = new();
    }
    public sealed record StreamCompleted(int Generation);
    public sealed record StreamFailed(int Generation, Exception Cause);
    public sealed record BatchDone(
        int Generation,
        SourcePosition Last,
        int Changes,
        int Records, // accepted by the endpoint
        int DeadLettered,
        DateTimeOffset LastCommitTime);
    public sealed record DeliveryRetrying(int Generation, int Attempt, TimeSpan Delay, string Reason);
    public sealed record DeliveryDrained(int Generation);
    public sealed record DeliveryEndpointChanged(int Generation, RetailStreaming.Connectors.EndpointHealth Health);
}

/// <summary>One change after the transform: its records, or none when it was dead-lettered or dropped.</summary>
/// <param name="Change">The change.</param>
/// <param name="Outputs">The records to deliver (possibly none).</param>
/// <param name="DeadLettered">True when the transform rejected it and it is in the dead-letter store.</param>
/// <param name="TransformVersion">The transform version that ran.</param>
public sealed record TransformedChange(ChangeEvent Change, IReadOnlyList<OutputRecord> Outputs, bool DeadLettered, string TransformVersion)
{
    /// <summary>Each output's payload as UTF-8 JSON, when the transform host kept it: the delivery writes it as is.</summary>
    public IReadOnlyList<byte[]>? PayloadJson { get; init; }
}
