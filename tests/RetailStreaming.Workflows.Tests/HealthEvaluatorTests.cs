using RetailStreaming.Workflows.Health;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Tests;

/// <summary>The health classification: pure, from status figures, thresholds and the time.</summary>
public sealed class HealthEvaluatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly HealthThresholds Thresholds = new(TimeSpan.FromSeconds(60), TimeSpan.FromMinutes(5));

    private static WorkflowStatus Status(string state = WorkflowRunState.Running, long? pending = 0, double? lagSeconds = null,
        DateTimeOffset? lastDelivery = null, long inFlight = 0, DeliveryEndpointStatus? endpoint = null, int restarts = 0) =>
        new("wf-a", "acme", 1, "Pkg", "1.0.0", state, null, null, "sqlite:1", "sqlite:1", 10, 10, 10, 0, 0, restarts,
            inFlight, 0, 100, pending, lagSeconds, 12.5, lastDelivery, "127.0.0.1:4053", endpoint);

    [Fact]
    public void A_stalled_workflow_turns_red_and_back_while_its_run_state_stays_running()
    {
        // Changes wait from T0; the last delivery was before that.
        var pendingSince = T0;
        var before = T0.AddMinutes(-30);

        var h1 = WorkflowHealthEvaluator.Evaluate(Status(pending: 120, lagSeconds: 10, lastDelivery: before), pendingSince, Thresholds, T0.AddMinutes(1), null);
        Assert.Equal(WorkflowHealthState.Healthy, h1.State);

        var h2 = WorkflowHealthEvaluator.Evaluate(Status(pending: 120, lagSeconds: 10, lastDelivery: before), pendingSince, Thresholds, T0.AddMinutes(5), h1);
        Assert.Equal(WorkflowHealthState.Stalled, h2.State);
        Assert.Equal(T0.AddMinutes(5), h2.Since);
        Assert.Contains("120 change(s) are pending", h2.Reason);
        Assert.Contains("no delivery for 35m", h2.Reason);

        // Still stalled later: the time it became stalled is kept.
        var h3 = WorkflowHealthEvaluator.Evaluate(Status(pending: 150, lagSeconds: 400, lastDelivery: before), pendingSince, Thresholds, T0.AddMinutes(9), h2);
        Assert.Equal(WorkflowHealthState.Stalled, h3.State);
        Assert.Equal(T0.AddMinutes(5), h3.Since);

        // A delivery: progress again, so healthy (the lag of 10 s is within the threshold), since now.
        var h4 = WorkflowHealthEvaluator.Evaluate(Status(pending: 3, lagSeconds: 10, lastDelivery: T0.AddMinutes(10)), pendingSince, Thresholds, T0.AddMinutes(10), h3);
        Assert.Equal(WorkflowHealthState.Healthy, h4.State);
        Assert.Equal(T0.AddMinutes(10), h4.Since);
    }

    [Fact]
    public void Nothing_pending_is_never_stalled_however_old_the_last_delivery()
    {
        var h = WorkflowHealthEvaluator.Evaluate(Status(pending: 0, lastDelivery: T0.AddDays(-3)), null, Thresholds, T0, null);
        Assert.Equal(WorkflowHealthState.Healthy, h.State);
        Assert.Equal("nothing pending", h.Reason);
    }

    [Fact]
    public void Changes_in_flight_without_progress_stall_too_and_a_recent_delivery_before_they_waited_does_not_count()
    {
        var h = WorkflowHealthEvaluator.Evaluate(Status(pending: null, inFlight: 40, lastDelivery: T0.AddSeconds(-1)), T0, Thresholds, T0.AddMinutes(6), null);
        Assert.Equal(WorkflowHealthState.Stalled, h.State);
        Assert.Contains("40 change(s) are in flight", h.Reason);
    }

    [Fact]
    public void Paused_and_stopped_are_neither_failing_nor_stalled()
    {
        Assert.Equal(WorkflowHealthState.Paused,
            WorkflowHealthEvaluator.Evaluate(Status(WorkflowRunState.Paused, pending: 500, lagSeconds: 9999), T0, Thresholds, T0.AddHours(1), null).State);
        Assert.Equal(WorkflowHealthState.Stopped,
            WorkflowHealthEvaluator.Evaluate(Status(WorkflowRunState.Deleted), null, Thresholds, T0, null).State);
        Assert.Equal(WorkflowHealthState.Stopped,
            WorkflowHealthEvaluator.Evaluate(Status(WorkflowRunState.Idle), null, Thresholds, T0, null).State);
    }

    [Fact]
    public void Restarts_quarantine_and_an_open_circuit_are_failing()
    {
        Assert.Equal(WorkflowHealthState.Failing,
            WorkflowHealthEvaluator.Evaluate(Status(WorkflowRunState.Restarting, restarts: 3), null, Thresholds, T0, null).State);
        Assert.Equal(WorkflowHealthState.Failing,
            WorkflowHealthEvaluator.Evaluate(Status(WorkflowRunState.Quarantined), null, Thresholds, T0, null).State);
        var open = new DeliveryEndpointStatus("http://x/hooks", "open", 5, T0.AddSeconds(30), null, null, T0.AddSeconds(-2));
        var h = WorkflowHealthEvaluator.Evaluate(Status(endpoint: open), null, Thresholds, T0, null);
        Assert.Equal(WorkflowHealthState.Failing, h.State);
        Assert.Equal(T0.AddSeconds(-2), h.Since);
        Assert.Contains("circuit is open after 5 failure(s)", h.Reason);
    }

    [Fact]
    public void Lag_above_the_threshold_is_lagging_and_at_it_is_healthy()
    {
        Assert.Equal(WorkflowHealthState.Lagging,
            WorkflowHealthEvaluator.Evaluate(Status(pending: 10, lagSeconds: 61, lastDelivery: T0), T0, Thresholds, T0, null).State);
        Assert.Equal(WorkflowHealthState.Healthy,
            WorkflowHealthEvaluator.Evaluate(Status(pending: 10, lagSeconds: 60, lastDelivery: T0), T0, Thresholds, T0, null).State);
    }
}

/// <summary>The health and the retained bytes cross nodes with the status (the admin API asks any node).</summary>
public sealed class HealthSerializationTests(Xunit.Abstractions.ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit(Akka.Configuration.ConfigurationFactory.ParseString(Serialization.RetailStreamingSerializer.Hocon), "health-serializer", output)
{
    [Fact]
    public void A_status_keeps_its_health_and_retained_bytes_through_the_serializer()
    {
        var status = MessageSamples.Status with
        {
            Health = new WorkflowHealth(WorkflowHealthState.Stalled, "no delivery for 5m", MessageSamples.Status.LastDeliveryAt!.Value),
            SourcePendingBytes = 123_456_789,
        };
        var serializer = Sys.Serialization.FindSerializerFor(status);
        var copy = Assert.IsType<WorkflowStatus>(Sys.Serialization.Deserialize(serializer.ToBinary(status), serializer.Identifier,
            Akka.Serialization.Serialization.ManifestFor(serializer, status)));
        Assert.Equal(status.Health, copy.Health);
        Assert.Equal(123_456_789, copy.SourcePendingBytes);
    }
}
