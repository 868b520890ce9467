using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// When a stage fails, the workflow tears its whole graph down and rebuilds it from the checkpoint
/// after a backoff: nothing is lost, order holds, and no other workflow notices (invariant 4).
/// </summary>
public sealed class FailureTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    [Fact]
    public async Task A_failing_sink_rebuilds_the_graph_while_another_workflow_keeps_delivering()
    {
        const string a = "orders-a", b = "orders-b";
        var logA = Connectors.Source(a);
        var endpointA = Connectors.Endpoint(a);
        var logB = Connectors.Source(b);
        var endpointB = Connectors.Endpoint(b);
        // B has far more than it can deliver during the test: it is busy throughout.
        logB.Append(20_000);
        endpointB.DelayPerBatch = TimeSpan.FromMilliseconds(20);

        var node = StartNode();
        await ApplyAsync(node, a, Yaml(a, maxRecords: 10));
        await ApplyAsync(node, b, Yaml(b, maxRecords: 10));

        logA.Append(100);
        await AwaitAssertAsync(() => Assert.Equal(100, endpointA.AcceptedCount));

        endpointA.Failing = true;
        logA.Append(100);
        var failing = await AwaitStatusAsync(node, a,
            s => s.State == WorkflowRunState.Restarting && s.Restarts >= 1, "A restarting after its sink failed");
        Assert.NotNull(failing.LastError);
        Assert.Contains("child delivery-", failing.LastError);
        Assert.NotNull(failing.LastErrorAt);

        // While A keeps failing (and is rebuilt again and again), B goes on delivering.
        var deliveredByB = (await StatusAsync(node, b)).DeliveredChanges;
        var acceptedByB = endpointB.AcceptedCount;
        await AwaitStatusAsync(node, b, s => s.DeliveredChanges >= deliveredByB + 100 && s.State == WorkflowRunState.Running,
            "B delivering while A fails");
        Assert.True(endpointB.AcceptedCount >= acceptedByB + 100);
        var stillFailing = await AwaitStatusAsync(node, a, s => s.Restarts >= 3, "A rebuilt several times");
        Assert.Equal(100, stillFailing.DeliveredChanges);
        Assert.Equal(100, endpointA.AcceptedCount);
        Assert.True(endpointA.Failures >= 3);
        Assert.Equal(0, (await StatusAsync(node, b)).Restarts);

        // A's endpoint comes back: A delivers everything, in order, and runs again.
        endpointA.Failing = false;
        var recovered = await AwaitStatusAsync(node, a,
            s => s.State == WorkflowRunState.Running && s.DeliveredChanges == 200, "A running again with all 200 delivered");
        Assert.True(recovered.Restarts >= 1);
        Assert.NotNull(recovered.LastError);
        AssertCompleteAndOrdered(endpointA.Accepted, 200, recovered.Restarts);
        await AwaitStatusAsync(node, a, s => s.Checkpoint == MemoryChangeLog.PositionOf(200).Value, "A's checkpoint at 200");

        // B never restarted, never repeated itself and never skipped.
        var statusB = await StatusAsync(node, b);
        Assert.Equal(0, statusB.Restarts);
        var acceptedB = endpointB.Accepted;
        Assert.Equal(Enumerable.Range(1, acceptedB.Count).Select(n => MemoryChangeLog.PositionOf(n)), acceptedB.Select(r => r.Position));
    }

    [Fact]
    public async Task A_sink_that_throws_once_is_retried_from_the_checkpoint_without_losing_a_change()
    {
        const string id = "orders-sink-once";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 10));

        log.Append(50);
        await AwaitAssertAsync(() => Assert.Equal(50, endpoint.AcceptedCount));
        endpoint.FailNextBatches(1);
        log.Append(50);

        var status = await AwaitStatusAsync(node, id,
            s => s.State == WorkflowRunState.Running && s.DeliveredChanges == 100, "all 100 delivered after one sink failure");
        Assert.Equal(1, endpoint.Failures);
        Assert.True(status.Restarts >= 1);
        Assert.Contains("HttpRequestException", status.LastError);
        AssertCompleteAndOrdered(endpoint.Accepted, 100, status.Restarts);
        Assert.True(Connectors.Source(id).ReadersOpened >= 2, "the graph was rebuilt with a new source reader");
    }

    [Fact]
    public async Task A_source_read_that_throws_once_is_read_again_from_the_checkpoint()
    {
        const string id = "orders-source-once";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 10));

        log.Append(50);
        await AwaitAssertAsync(() => Assert.Equal(50, endpoint.AcceptedCount));
        log.FailNextReads(1);
        await AwaitStatusAsync(node, id, s => s.Restarts >= 1, "a restart after the read failed");
        log.Append(50);

        var status = await AwaitStatusAsync(node, id,
            s => s.State == WorkflowRunState.Running && s.DeliveredChanges == 100, "all 100 delivered after one source failure");
        Assert.Equal(1, status.Restarts);
        Assert.Contains("IOException", status.LastError);
        // Nothing was in flight when the source failed: every change went out exactly once.
        Assert.Equal(Enumerable.Range(1, 100).Select(n => MemoryChangeLog.PositionOf(n)), endpoint.Accepted.Select(r => r.Position));
        // The reader of the failed generation was closed.
        await AwaitAssertAsync(() => Assert.Equal(1, log.ReadersOpen));
    }

    [Fact]
    public async Task The_last_error_names_the_failure_that_broke_the_stream_not_its_aftermath()
    {
        const string id = "orders-root-cause";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        // Enough changes that the capture is always waiting on a full queue when the sink fails:
        // the stream's failure then fails the capture too, right after the delivery.
        log.Append(1_000);
        endpoint.Failing = true;
        var node = StartNode(deps: Deps with { Settings = FastSettings with { RestartMaxBackoff = TimeSpan.FromMilliseconds(200) } });
        await ApplyAsync(node, id, Yaml(id, maxRecords: 10));

        var errors = new HashSet<string>();
        await AwaitAssertAsync(async () =>
        {
            var status = await StatusAsync(node, id);
            if (status.LastError is { } e) errors.Add(System.Text.RegularExpressions.Regex.Replace(e, @"\d+", "#"));
            Assert.True(status.Restarts >= 15, $"{status.Restarts} restarts");
        }, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(20));

        Assert.True(endpoint.Failures >= 15);
        Assert.All(errors, e => Assert.Contains("HttpRequestException: scripted endpoint", e));
    }
}
