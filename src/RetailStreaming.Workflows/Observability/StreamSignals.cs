using System.Diagnostics;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Observability;

/// <summary>A stage's error, told to the workflow for its recent errors (local only).</summary>
internal sealed record StageErrorReported(int Generation, string Stage, string Message, string? Position);

/// <summary>
/// One stream generation's metrics and spans, shared by the workflow's stages: the capture starts
/// a read's trace, the transform and the delivery continue it (found by position in
/// <see cref="Reads"/>). Metrics go to the node's <see cref="WorkflowTelemetry"/> when it has one.
/// </summary>
internal sealed class StreamSignals(WorkflowTelemetry? telemetry, string workflowId, string clientId, string transformVersion)
{
    private readonly TagList _labels = WorkflowTelemetry.Labels(workflowId, clientId);

    /// <summary>The reads' traces of this generation.</summary>
    public ReadTraces Reads { get; } = new();

    /// <summary>The workflow's labels.</summary>
    public TagList Labels => _labels;

    private static bool Tracing => WorkflowTelemetry.Traces.HasListeners();

    /// <summary>True when someone listens to the workflows' spans: what a span needs is worth gathering only then.</summary>
    public bool IsTracing => Tracing;

    /// <summary>A read's root span (started when the read began); its context is kept for the later stages.</summary>
    public Activity? StartCapture(IReadOnlyList<ChangeEvent> read, DateTimeOffset startedAt)
    {
        if (!Tracing) return null;
        // A read starts its own trace: nothing ambient may become its parent.
        Activity.Current = null;
        var span = WorkflowTelemetry.Traces.StartActivity("capture", ActivityKind.Consumer, parentContext: default,
            startTime: startedAt);
        if (span is null) return null;
        Tag(span);
        span.SetTag("retailstreaming.changes", read.Count);
        span.SetTag("retailstreaming.position.first", read[0].Position.Value);
        span.SetTag("retailstreaming.position.last", read[^1].Position.Value);
        Reads.Add(read[0].Position, read[^1].Position, span.Context);
        return span;
    }

    /// <summary>The transform of one read, in the read's trace.</summary>
    public Activity? StartTransform(IReadOnlyList<ChangeEvent> read)
    {
        if (!Tracing || read.Count == 0) return null;
        var span = WorkflowTelemetry.Traces.StartActivity("transform", ActivityKind.Internal, Reads.Find(read[0].Position));
        if (span is null) return null;
        Tag(span);
        span.SetTag("retailstreaming.changes", read.Count);
        span.SetTag("retailstreaming.position.first", read[0].Position.Value);
        return span;
    }

    /// <summary>Counts what the transform ran on.</summary>
    public void Transformed(int changes) => telemetry?.Transformed.Add(changes, _labels);

    /// <summary>
    /// The delivery of one batch: in the trace of the read holding its first change, linked to the
    /// traces of the other reads it holds (a batch can gather several reads). The sink's attempts
    /// are its children.
    /// </summary>
    public Activity? StartDelivery(IReadOnlyList<TransformedChange> batch)
    {
        if (!Tracing || batch.Count == 0) return null;
        var reads = Reads.FindAll(batch.Select(b => b.Change.Position));
        var parent = reads.Count > 0 ? reads[0] : default;
        var links = reads.Skip(1).Select(c => new ActivityLink(c)).ToList();
        var span = WorkflowTelemetry.Traces.StartActivity("deliver", ActivityKind.Producer, parent, links: links);
        if (span is null) return null;
        Tag(span);
        span.SetTag("retailstreaming.changes", batch.Count);
        span.SetTag("retailstreaming.position.first", batch[0].Change.Position.Value);
        span.SetTag("retailstreaming.position.last", batch[^1].Change.Position.Value);
        return span;
    }

    /// <summary>
    /// After the sink answered: commit-to-2xx latency of each change whose records were all
    /// accepted, and the dead letters by stage.
    /// </summary>
    public void Delivered(IReadOnlyList<TransformedChange> batch, ISet<SourcePosition> refused, int refusedRecords)
    {
        if (telemetry is null) return;
        var now = DateTimeOffset.UtcNow;
        var transformDeadLetters = 0;
        foreach (var item in batch)
        {
            if (item.DeadLettered) transformDeadLetters++;
            else if (item.Outputs.Count > 0 && !refused.Contains(item.Change.Position))
                telemetry.Latency.Record(Math.Max(0, (now - item.Change.CommitTime).TotalSeconds), _labels);
        }
        if (transformDeadLetters > 0) telemetry.DeadLettered.Add(transformDeadLetters, WithStage("transform"));
        if (refusedRecords > 0) telemetry.DeadLettered.Add(refusedRecords, WithStage("delivery"));
    }

    /// <summary>Forgets the traces of delivered reads.</summary>
    public void Done(SourcePosition delivered) => Reads.Release(delivered);

    private TagList WithStage(string stage)
    {
        var tags = _labels;
        tags.Add("stage", stage);
        return tags;
    }

    private void Tag(Activity span)
    {
        span.SetTag("retailstreaming.workflow_id", workflowId);
        span.SetTag("retailstreaming.client_id", clientId);
        span.SetTag("retailstreaming.transform_version", transformVersion);
    }
}
