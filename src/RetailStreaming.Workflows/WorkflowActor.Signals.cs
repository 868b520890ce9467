using System.Diagnostics;
using Akka.Actor;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Observability;
using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Workflows;

/// <summary>
/// The workflow's signals: its metrics (counters, and the gauge entry the node's scrapes read),
/// the stream's spans, and its recent errors shown in its status.
/// </summary>
public sealed partial class WorkflowActor
{
    /// <summary>How many recent errors a workflow keeps (newest last).</summary>
    public const int RecentErrorLimit = 20;

    private readonly Queue<WorkflowError> _recentErrors = new();
    private WorkflowGaugeEntry? _gauges;
    private StreamSignals? _signals;

    private WorkflowTelemetry? Telemetry => _deps.Telemetry;

    private TagList MetricLabels => WorkflowTelemetry.Labels(_workflowId, _definition?.Client ?? _state.Current?.ClientId);

    private void StartSignals()
    {
        _gauges = Telemetry?.Track(_workflowId);
        Command<StageErrorReported>(m => { if (m.Generation == _generation) RememberError(m.Stage, m.Message, m.Position); });
    }

    private void StopSignals()
    {
        if (_gauges is not null) Telemetry?.Untrack(_gauges);
    }

    /// <summary>A new generation's signals (its spans start from nothing).</summary>
    private StreamSignals NewStreamSignals(WorkflowDefinition def)
    {
        // A webhook sink's circuit starts closed; the other sinks have none.
        UpdateGauges(v => v with { Circuit = def.Delivery.Kind == "webhook" ? 0 : null });
        return _signals = new StreamSignals(Telemetry, _workflowId, def.Client, def.Transform.Version);
    }

    private void UpdateGauges(Func<WorkflowGaugeValues, WorkflowGaugeValues> update)
    {
        if (_gauges is null) return;
        _gauges.Values = update(_gauges.Values) with
        {
            ClientId = _definition?.Client ?? _state.Current?.ClientId,
            Running = _runState == WorkflowRunState.Running,
            InFlight = _inFlight,
        };
    }

    private void SignalState() => UpdateGauges(v => v);

    private void SignalCaptured(int count)
    {
        Telemetry?.Captured.Add(count, MetricLabels);
        UpdateGauges(v => v);
    }

    private void SignalLag(SourceLagReport lag) => UpdateGauges(v => v with
    {
        LagBytes = lag.PendingBytes,
        LagSeconds = lag.OldestPendingAge?.TotalSeconds ?? (lag.PendingChanges == 0 ? 0 : null),
        PendingChanges = lag.PendingChanges,
    });

    /// <summary>A batch done, counted once (after the workflow's own de-duplication).</summary>
    private void SignalDelivered(BatchDone m)
    {
        var labels = MetricLabels;
        Telemetry?.DeliveredChanges.Add(m.Changes, labels);
        Telemetry?.DeliveredRecords.Add(m.Records, labels);
        _signals?.Done(m.Last);
        SignalCheckpoint();
    }

    private void SignalRetry(DeliveryRetrying m)
    {
        Telemetry?.Retries.Add(1, MetricLabels);
        RememberError("delivery", $"attempt {m.Attempt} failed, retrying in {m.Delay.TotalSeconds:0.#}s: {m.Reason}", null);
    }

    private void SignalEndpoint(string circuit) =>
        UpdateGauges(v => v with { Circuit = WorkflowGaugeValues.CircuitValue(circuit) });

    private void SignalRestart() => Telemetry?.Restarts.Add(1, MetricLabels);

    /// <summary>Since when delivered changes wait for a persisted checkpoint (none when it is up to date).</summary>
    private void SignalCheckpoint() => UpdateGauges(v => v with
    {
        CheckpointPendingSince = CheckpointDirty ? v.CheckpointPendingSince ?? DateTimeOffset.UtcNow : null,
    });

    /// <summary>Keeps an error for the status (the last <see cref="RecentErrorLimit"/>).</summary>
    private void RememberError(string stage, string message, string? position)
    {
        _recentErrors.Enqueue(new WorkflowError(DateTimeOffset.UtcNow, stage, message, position));
        while (_recentErrors.Count > RecentErrorLimit) _recentErrors.Dequeue();
    }

    /// <summary>The stage a workflow-level failure comes from ("child capture-3 stopped" → capture).</summary>
    private static string StageOf(string what, Exception cause)
    {
        foreach (var stage in new[] { "capture", "transform", "delivery" })
            if (what.Contains(stage, StringComparison.Ordinal)) return stage;
        return cause is TimeoutException or AskTimeoutException ? "transform" : "workflow";
    }

    /// <summary>The status with this part's figures: the recent errors, newest first.</summary>
    private WorkflowStatus WithSignals(WorkflowStatus status) =>
        status with { RecentErrors = _recentErrors.Reverse().ToList() };

    /// <summary>The transform of one read, as a span of the read's trace, counted once answered.</summary>
    private static async Task<TransformedBatch> TransformTraced(
        StreamSignals signals, IReadOnlyList<ChangeEvent> read, Func<Task<TransformedBatch>> ask)
    {
        using var span = signals.StartTransform(read);
        var answer = await ask();
        signals.Transformed(answer.Changes.Count);
        span?.SetTag("retailstreaming.dead_lettered", answer.Changes.Count(c => c.DeadLettered));
        return answer;
    }
}
