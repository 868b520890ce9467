using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using RetailStreaming.Connectors;

namespace RetailStreaming.Workflows.Observability;

/// <summary>
/// A node's workflow metrics (<see cref="Meter"/> <c>RetailStreaming</c>) and the registry its
/// observable gauges read: each workflow actor keeps its entry up to date as things happen, so a
/// scrape reads memory and never asks an actor (an ask per workflow per scrape could hang the
/// scrape). Labels are per workflow (<c>workflow_id</c>, <c>client_id</c>), never per record.
/// No OpenTelemetry here: the node wires the SDK and its exporters.
/// </summary>
public sealed class WorkflowTelemetry : IDisposable
{
    /// <summary>The meter's name (the node's SDK listens to it).</summary>
    public const string MeterName = "RetailStreaming";

    /// <summary>The activity source of the workflows' traces (capture, transform, delivery, each delivery attempt).</summary>
    public const string ActivitySourceName = ConnectorTraces.SourceName;

    /// <summary>The traces: one per capture read, followed through its transform and delivery.</summary>
    public static ActivitySource Traces => ConnectorTraces.Source;

    /// <summary>Bucket bounds of the commit-to-2xx latency, in seconds.</summary>
    public static readonly IReadOnlyList<double> LatencyBuckets =
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

    private readonly ConcurrentDictionary<string, WorkflowGaugeEntry> _workflows = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Creates the node's meter and instruments.</summary>
    public WorkflowTelemetry(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        Meter = new Meter(MeterName);
        Captured = Meter.CreateCounter<long>("retailstreaming_captured_changes", "{change}", "Changes read from the source.");
        Transformed = Meter.CreateCounter<long>("retailstreaming_transformed_changes", "{change}", "Changes the transform ran on (dead-lettered ones included).");
        DeliveredChanges = Meter.CreateCounter<long>("retailstreaming_delivered_changes", "{change}", "Changes done: every record accepted by the endpoint, or dead-lettered.");
        DeliveredRecords = Meter.CreateCounter<long>("retailstreaming_delivered_records", "{record}", "Records the endpoint accepted (2xx).");
        DeadLettered = Meter.CreateCounter<long>("retailstreaming_dead_lettered", "{item}", "Changes (stage transform) and records (stage delivery) put in the dead-letter store.");
        Retries = Meter.CreateCounter<long>("retailstreaming_delivery_retries", "{attempt}", "Delivery attempts that failed transiently and were retried.");
        Restarts = Meter.CreateCounter<long>("retailstreaming_workflow_restarts", "{restart}", "Stream rebuilds after a failure.");
        Latency = Meter.CreateHistogram("retailstreaming_commit_to_delivery_seconds", "s",
            "From the change's commit in the source database to the endpoint's 2xx, per change.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

        Gauge("retailstreaming_source_lag_bytes", "By", "Bytes the source holds after the capture's position (PostgreSQL WAL; absent where the source cannot tell).", e => e.LagBytes);
        Gauge("retailstreaming_source_lag_seconds", "s", "Age of the oldest change the capture has not read yet.", e => e.LagSeconds);
        Gauge("retailstreaming_source_pending_changes", "{change}", "Changes the source holds after the capture's position (where the source can count them).", e => e.PendingChanges);
        Gauge("retailstreaming_checkpoint_age_seconds", "s",
            "How long delivered changes have waited for their checkpoint to be persisted (0 when the checkpoint is up to date).",
            e => e.CheckpointPendingSince is { } since ? Math.Max(0, (_time.GetUtcNow() - since).TotalSeconds) : 0);
        Gauge("retailstreaming_delivery_circuit_state", null, "The delivery endpoint's circuit breaker: 0 closed, 1 half-open, 2 open.", e => e.Circuit);
        Gauge("retailstreaming_in_flight_changes", "{change}", "Changes read but not yet delivered or dead-lettered.", e => e.InFlight);
        Meter.CreateObservableGauge("retailstreaming_workflow_running", () => Observe(e => e.Running ? 1 : 0), null,
            "1 while the workflow's stream runs on this node, 0 while it is hosted here but not running (paused, restarting, quarantined, idle).");
    }

    /// <summary>The node's meter.</summary>
    public Meter Meter { get; }

    /// <summary>Changes read from the source.</summary>
    public Counter<long> Captured { get; }
    /// <summary>Changes the transform ran on.</summary>
    public Counter<long> Transformed { get; }
    /// <summary>Changes done (delivered or dead-lettered).</summary>
    public Counter<long> DeliveredChanges { get; }
    /// <summary>Records the endpoint accepted.</summary>
    public Counter<long> DeliveredRecords { get; }
    /// <summary>Dead letters, with a <c>stage</c> label.</summary>
    public Counter<long> DeadLettered { get; }
    /// <summary>Transient delivery failures retried.</summary>
    public Counter<long> Retries { get; }
    /// <summary>Stream rebuilds after a failure.</summary>
    public Counter<long> Restarts { get; }
    /// <summary>Commit-to-2xx latency, per change.</summary>
    public Histogram<double> Latency { get; }

    /// <summary>The workflows hosted on this node now.</summary>
    public IReadOnlyCollection<string> Workflows => _workflows.Keys.ToList();

    /// <summary>The labels of a workflow's measurements.</summary>
    public static TagList Labels(string workflowId, string? clientId) => new()
    {
        { "workflow_id", workflowId },
        { "client_id", clientId ?? "" },
    };

    /// <summary>A new gauge entry for a workflow actor starting here (it replaces a stopped incarnation's); the actor updates it.</summary>
    public WorkflowGaugeEntry Track(string workflowId)
    {
        var entry = new WorkflowGaugeEntry(workflowId);
        _workflows[workflowId] = entry;
        return entry;
    }

    /// <summary>Removes the workflow's gauges when its actor stops here (hand-off, passivation, node stop), unless a newer incarnation replaced them.</summary>
    public void Untrack(WorkflowGaugeEntry entry) =>
        _workflows.TryRemove(new KeyValuePair<string, WorkflowGaugeEntry>(entry.WorkflowId, entry));

    private void Gauge(string name, string? unit, string description, Func<WorkflowGaugeValues, double?> read) =>
        Meter.CreateObservableGauge(name, () => Observe(read), unit, description);

    private IEnumerable<Measurement<double>> Observe(Func<WorkflowGaugeValues, double?> read)
    {
        foreach (var entry in _workflows.Values)
        {
            var values = entry.Values;
            if (read(values) is { } value)
                yield return new Measurement<double>(value, Labels(entry.WorkflowId, values.ClientId));
        }
    }

    /// <inheritdoc />
    public void Dispose() => Meter.Dispose();
}

/// <summary>
/// A workflow's gauge values, replaced as a whole by its actor (one writer) and read by scrapes
/// (any thread): a scrape sees one consistent set without a lock.
/// </summary>
public sealed class WorkflowGaugeEntry(string workflowId)
{
    private WorkflowGaugeValues _values = new();

    /// <summary>The workflow.</summary>
    public string WorkflowId { get; } = workflowId;

    /// <summary>The current values.</summary>
    public WorkflowGaugeValues Values
    {
        get => Volatile.Read(ref _values);
        set => Volatile.Write(ref _values, value);
    }
}

/// <summary>What the observable gauges read for one workflow; null values are not reported.</summary>
public sealed record WorkflowGaugeValues(
    string? ClientId = null,
    bool Running = false,
    double? LagBytes = null,
    double? LagSeconds = null,
    double? PendingChanges = null,
    DateTimeOffset? CheckpointPendingSince = null,
    double? Circuit = null,
    double? InFlight = null)
{
    /// <summary>The gauge value of a circuit state (closed 0, half-open 1, open 2).</summary>
    public static double? CircuitValue(string? circuit) => circuit switch
    {
        "closed" => 0,
        "half-open" => 1,
        "open" => 2,
        _ => null,
    };
}
