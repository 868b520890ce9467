using System.Diagnostics;
using System.Diagnostics.Metrics;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Workflows.Tests;

/// <summary>The per-node gauge registry the scrapes read, and the read-to-trace index of a stream.</summary>
public sealed class WorkflowTelemetryTests
{
    [Fact]
    public void Gauges_report_each_hosted_workflow_with_its_labels_and_skip_unknown_values()
    {
        using var telemetry = new WorkflowTelemetry();
        var a = telemetry.Track("wf-a");
        a.Values = new WorkflowGaugeValues(ClientId: "acme", Running: true, LagSeconds: 2.5, Circuit: WorkflowGaugeValues.CircuitValue("open"));
        telemetry.Track("wf-b").Values = new WorkflowGaugeValues(ClientId: "other");

        var seen = Observe(telemetry);

        Assert.Equal(2.5, seen[("retailstreaming_source_lag_seconds", "wf-a", "acme")]);
        Assert.Equal(2, seen[("retailstreaming_delivery_circuit_state", "wf-a", "acme")]);
        Assert.Equal(1, seen[("retailstreaming_workflow_running", "wf-a", "acme")]);
        Assert.Equal(0, seen[("retailstreaming_workflow_running", "wf-b", "other")]);
        Assert.Equal(0, seen[("retailstreaming_checkpoint_age_seconds", "wf-b", "other")]);
        // Unknown values are not reported (no lag measured yet, no circuit).
        Assert.False(seen.ContainsKey(("retailstreaming_source_lag_seconds", "wf-b", "other")));
        Assert.False(seen.ContainsKey(("retailstreaming_delivery_circuit_state", "wf-b", "other")));
    }

    [Fact]
    public void A_stopped_incarnation_leaves_the_gauges_of_the_next_one_in_place()
    {
        using var telemetry = new WorkflowTelemetry();
        var old = telemetry.Track("wf");
        var next = telemetry.Track("wf");
        next.Values = new WorkflowGaugeValues(ClientId: "acme", Running: true);

        telemetry.Untrack(old);
        Assert.Equal(new[] { "wf" }, telemetry.Workflows);
        Assert.Equal(1, Observe(telemetry)[("retailstreaming_workflow_running", "wf", "acme")]);

        telemetry.Untrack(next);
        Assert.Empty(telemetry.Workflows);
        Assert.DoesNotContain(Observe(telemetry).Keys, k => k.Workflow == "wf");
    }

    [Fact]
    public void Reads_are_found_by_any_of_their_positions_and_forgotten_once_delivered()
    {
        var traces = new ReadTraces();
        var first = Context();
        var second = Context();
        traces.Add(Position(1), Position(3), first);
        traces.Add(Position(4), Position(6), second);

        Assert.Equal(first, traces.Find(Position(2)));
        Assert.Equal(second, traces.Find(Position(6)));
        Assert.Equal(default, traces.Find(Position(7)));
        Assert.Equal(new[] { first, second }, traces.FindAll([Position(3), Position(4), Position(5)]));

        traces.Release(Position(3));
        Assert.Equal(default, traces.Find(Position(2)));
        Assert.Equal(new[] { second }, traces.FindAll([Position(3), Position(4)]));
    }

    private static SourcePosition Position(long n) => new($"sqlite:{n:D19}");

    private static ActivityContext Context() => new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);

    /// <summary>One collection of the telemetry's observable gauges: (instrument, workflow, client) → value.</summary>
    private static Dictionary<(string Instrument, string Workflow, string Client), double> Observe(WorkflowTelemetry telemetry)
    {
        var seen = new Dictionary<(string, string, string), double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, telemetry.Meter)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            string workflow = "", client = "";
            foreach (var t in tags)
            {
                if (t.Key == "workflow_id") workflow = t.Value as string ?? "";
                else if (t.Key == "client_id") client = t.Value as string ?? "";
            }
            seen[(instrument.Name, workflow, client)] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }
}
