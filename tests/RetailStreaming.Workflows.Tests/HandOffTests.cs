using Akka.Actor;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>On hand-off a workflow drains, persists its checkpoint and stops; where it starts again, it resumes after it.</summary>
public sealed class HandOffTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private async Task<IActorRef> EntityAsync(IActorRef node, string id) =>
        await Sys.ActorSelection(node.Path / Uri.EscapeDataString(id)).ResolveOne(Dilated(TimeSpan.FromSeconds(5)));

    [Fact]
    public async Task A_hand_off_drains_checkpoints_and_stops_and_the_next_start_resumes_after_it()
    {
        const string id = "orders-handoff";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        endpoint.DelayPerBatch = TimeSpan.FromMilliseconds(20);
        log.Append(1_000);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 50, maxRecords: 10));
        await AwaitAssertAsync(() => Assert.True(endpoint.AcceptedCount >= 100), interval: TimeSpan.FromMilliseconds(20));

        var entity = await EntityAsync(node, id);
        Watch(entity);
        node.Tell(new WorkflowCommands.HandOff(id));
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await ExpectTerminatedAsync(entity, TimeSpan.FromSeconds(20));
        // It drained: it did not wait for the drain timeout to abort the stream.
        Assert.True(stopping.Elapsed < FastSettings.DrainTimeout, $"stopped after {stopping.Elapsed}");

        // Stopped mid-backlog, after its drain: what it read was delivered, the rest was left in the source.
        var deliveredBefore = endpoint.Accepted;
        Assert.InRange(deliveredBefore.Count, 100, 999);
        Assert.Equal(Enumerable.Range(1, deliveredBefore.Count).Select(n => MemoryChangeLog.PositionOf(n)), deliveredBefore.Select(r => r.Position));
        Assert.Equal(0, log.ReadersOpen);
        var last = deliveredBefore[^1].Position;

        // The next message starts the entity again, from the checkpoint persisted on the way out.
        var resumed = await AwaitStatusAsync(node, id, s => s.DefinitionVersion == 1, "the entity started again");
        Assert.Equal(last.Value, resumed.Checkpoint);
        Assert.Equal(deliveredBefore.Count, resumed.DeliveredChanges);

        log.Append(50);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 1_050, "the rest of the backlog delivered");
        // Nothing delivered before the hand-off was delivered again.
        Assert.Equal(Enumerable.Range(1, 1_050).Select(n => MemoryChangeLog.PositionOf(n)), endpoint.Accepted.Select(r => r.Position));
    }

    [Fact]
    public async Task A_hand_off_that_cannot_drain_stops_at_the_drain_timeout_and_the_next_start_delivers_what_was_in_flight()
    {
        const string id = "orders-stuck";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var settings = FastSettings with { DrainTimeout = TimeSpan.FromSeconds(1) };
        var node = StartNode(deps: Deps with { Settings = settings });
        await ApplyAsync(node, id, Yaml(id, maxRecords: 10));
        log.Append(20);
        await AwaitStatusAsync(node, id, s => s.Checkpoint == MemoryChangeLog.PositionOf(20).Value, "20 delivered and checkpointed");

        // The endpoint hangs with a batch in flight.
        endpoint.Hold();
        log.Append(20);
        await AwaitAssertAsync(() => Assert.True(endpoint.BatchesStarted >= 3), interval: TimeSpan.FromMilliseconds(10));
        var entity = await EntityAsync(node, id);
        Watch(entity);
        node.Tell(new WorkflowCommands.HandOff(id));

        // The drain cannot finish: the workflow aborts it at the drain timeout, persists its checkpoint and stops.
        await ExpectTerminatedAsync(entity, TimeSpan.FromSeconds(15));
        Assert.Equal(20, endpoint.AcceptedCount);
        endpoint.Release();

        var resumed = await AwaitStatusAsync(node, id, s => s.DefinitionVersion == 1, "the entity started again");
        Assert.Equal(MemoryChangeLog.PositionOf(20).Value, resumed.Checkpoint);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 40, "what was in flight delivered after the restart");
        Assert.Equal(Enumerable.Range(1, 40).Select(n => MemoryChangeLog.PositionOf(n)), endpoint.Accepted.Select(r => r.Position));
    }

    [Fact]
    public async Task A_hand_off_of_an_idle_workflow_stops_it()
    {
        const string id = "orders-idle";
        var node = StartNode();
        await StatusAsync(node, id);
        var entity = await EntityAsync(node, id);
        Watch(entity);

        node.Tell(new WorkflowCommands.HandOff(id));

        await ExpectTerminatedAsync(entity, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_hand_off_after_a_switch_whose_drain_failed_still_drains_and_stops()
    {
        const string id = "orders-switch-fail";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        endpoint.Hold();
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 10));
        log.Append(10);
        // The first batch waits at the endpoint, which will fail it once the switch below is draining.
        await AwaitAssertAsync(() => Assert.Equal(1, endpoint.BatchesStarted), interval: TimeSpan.FromMilliseconds(10));
        endpoint.FailNextBatches(1);
        var applyV2 = node.Ask<object>(new WorkflowCommands.ApplyDefinition(id, Yaml(id, transformVersion: "1.1.0", maxRecords: 10), id + ".yaml"),
            Dilated(TimeSpan.FromSeconds(15)));
        await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Draining, "draining for the switch");
        endpoint.Release();
        await AwaitAssertAsync(() => Assert.Equal(1, endpoint.Failures));

        // The stream failed during the drain: the switch goes on from the checkpoint.
        Assert.Equal(new WorkflowReplies.DefinitionApplied(id, 2), await applyV2);
        await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Running && s.DeliveredChanges == 10, "v2 running");

        var entity = await EntityAsync(node, id);
        Watch(entity);
        node.Tell(new WorkflowCommands.HandOff(id));

        // The hand-off must not wait for a drain that ended long ago (the shard's handoff-timeout would kill it).
        await ExpectTerminatedAsync(entity, TimeSpan.FromSeconds(15));
    }
}
