using System.Diagnostics;
using RetailStreaming.Workflows.Protocol;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace RetailStreaming.Workflows.Tests;

/// <summary>A slow endpoint slows the capture down: what is read but not done stays within the configured bound (invariant 5).</summary>
public sealed class BackpressureTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    [Fact]
    public async Task A_slow_sink_throttles_the_source_to_the_in_flight_bound()
    {
        const string id = "orders-slow";
        const int backlog = 20_000;
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        log.Append(backlog);
        endpoint.DelayPerBatch = TimeSpan.FromMilliseconds(50);

        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 50, maxRecords: 10, maxWait: "20ms"));
        var first = await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Running && s.DeliveredChanges > 0, "delivering");
        var bound = first.InFlightBound;
        // The bound the definition and the settings give: reads of 50 changes (the capture's own,
        // the queue's (32 changes hold no whole read, so one), the one being transformed and the
        // one being split), and three delivery batches of 10 (forming, buffered, being delivered).
        Assert.Equal(50 * (1 + 1 + 1 + 1) + 3 * 10, bound);

        var samples = 0;
        var watch = Stopwatch.StartNew();
        WorkflowStatus status = first;
        while (watch.Elapsed < TimeSpan.FromSeconds(4))
        {
            status = await StatusAsync(node, id);
            samples++;
            var inFlight = status.CapturedChanges - status.DeliveredChanges;
            if (inFlight > bound || status.InFlight > bound)
                throw new XunitException($"{inFlight} changes read but not done (InFlight {status.InFlight}) beyond the bound {bound}: {status}");
            Assert.Equal(WorkflowRunState.Running, status.State);
            await Task.Delay(100);
        }

        Output?.WriteLine($"{samples} samples; bound {bound}, max in flight {status.MaxInFlight}, captured {status.CapturedChanges}, delivered {status.DeliveredChanges}");
        Assert.True(samples >= 10, $"only {samples} samples");
        Assert.True(status.MaxInFlight <= bound, $"MaxInFlight {status.MaxInFlight} beyond the bound {bound}");
        Assert.True(status.MaxInFlight > 0);
        // The capture read only a little ahead of the endpoint, far from the whole backlog.
        Assert.True(status.CapturedChanges < backlog / 4, $"captured {status.CapturedChanges} of {backlog}");
        Assert.True(status.DeliveredChanges > first.DeliveredChanges, "delivery went on while sampled");
        Assert.All(endpoint.BatchSizes, size => Assert.InRange(size, 1, 10));
        Assert.Equal(0, status.Restarts);
        AssertCompleteAndOrdered(endpoint.Accepted, endpoint.AcceptedCount, 0);
        // The source reports what is still waiting.
        Assert.NotNull(status.SourcePendingChanges);
        Assert.True(status.SourcePendingChanges > backlog / 2);
    }
}
