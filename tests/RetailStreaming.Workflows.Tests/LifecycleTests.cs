using Akka.Actor;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// An operator's pause, resume, restart and rollback: a pause drains and checkpoints, then nothing
/// is delivered until the resume, which goes on from the checkpoint without loss or duplicates;
/// a paused workflow stays paused across a restart of the node.
/// </summary>
public sealed class LifecycleTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    private async Task<T> AskAsync<T>(IActorRef node, object command) =>
        Assert.IsType<T>(await node.Ask<object>(command, Dilated(TimeSpan.FromSeconds(20))));

    [Fact]
    public async Task A_pause_stops_delivery_and_a_resume_continues_without_loss_or_duplicates()
    {
        const string id = "orders-pause";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        endpoint.DelayPerBatch = TimeSpan.FromMilliseconds(20);
        log.Append(1_000);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 50, maxRecords: 10));
        await AwaitAssertAsync(() => Assert.True(endpoint.AcceptedCount >= 50), interval: TimeSpan.FromMilliseconds(20));

        var paused = await AskAsync<WorkflowReplies.Paused>(node, new WorkflowCommands.Pause(id));

        // Answered after the drain: what was read is delivered, and it is the checkpoint.
        Assert.True(paused.Changed);
        var atPause = endpoint.Accepted;
        Assert.InRange(atPause.Count, 50, 999);
        Assert.Equal(atPause[^1].Position.Value, paused.Checkpoint);
        var status = await StatusAsync(node, id);
        Assert.Equal(WorkflowRunState.Paused, status.State);
        Assert.Equal(paused.Checkpoint, status.Checkpoint);
        Assert.Equal(0, log.ReadersOpen);

        // Nothing is delivered while paused, even with new changes in the source.
        log.Append(100);
        await Task.Delay(Dilated(Quiet));
        Assert.Equal(atPause.Count, endpoint.AcceptedCount);
        Assert.Equal(WorkflowRunState.Paused, (await StatusAsync(node, id)).State);
        // A second pause is answered at once and changes nothing.
        Assert.False((await AskAsync<WorkflowReplies.Paused>(node, new WorkflowCommands.Pause(id))).Changed);

        var resumed = await AskAsync<WorkflowReplies.Resumed>(node, new WorkflowCommands.Resume(id));

        Assert.True(resumed.Changed);
        Assert.Equal(paused.Checkpoint, resumed.Checkpoint);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 1_100 && s.State == WorkflowRunState.Running, "everything delivered after the resume");
        // Every change exactly once, in order: the resume went on from the checkpoint.
        Assert.Equal(Enumerable.Range(1, 1_100).Select(n => MemoryChangeLog.PositionOf(n)), endpoint.Accepted.Select(r => r.Position));
        Assert.False((await AskAsync<WorkflowReplies.Resumed>(node, new WorkflowCommands.Resume(id))).Changed);
    }

    [Fact]
    public async Task A_paused_workflow_stays_paused_across_an_actor_system_restart()
    {
        const string id = "orders-paused-restart";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 5));
        log.Append(20);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 20, "20 delivered");
        var paused = await AskAsync<WorkflowReplies.Paused>(node, new WorkflowCommands.Pause(id));
        Assert.Equal(MemoryChangeLog.PositionOf(20).Value, paused.Checkpoint);
        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        var readersBefore = log.ReadersOpened;

        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = StartNode(restarted);
            var recovered = await node2.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(id), Dilated(TimeSpan.FromSeconds(10)));
            Assert.Equal(WorkflowRunState.Paused, recovered.State);
            Assert.Equal(MemoryChangeLog.PositionOf(20).Value, recovered.Checkpoint);

            // Recovery did not start the stream: no reader opened, nothing delivered.
            log.Append(10);
            await Task.Delay(Dilated(Quiet));
            Assert.Equal(readersBefore, log.ReadersOpened);
            Assert.Equal(20, endpoint.AcceptedCount);
            var history = await node2.Ask<WorkflowReplies.History>(new WorkflowCommands.GetHistory(id), Dilated(TimeSpan.FromSeconds(5)));
            Assert.True(history.Paused);

            var resumed = await node2.Ask<object>(new WorkflowCommands.Resume(id), Dilated(TimeSpan.FromSeconds(10)));
            Assert.True(Assert.IsType<WorkflowReplies.Resumed>(resumed).Changed);
            await AwaitAssertAsync(() => Assert.Equal(30, endpoint.AcceptedCount));
            Assert.Equal(Enumerable.Range(1, 30).Select(n => MemoryChangeLog.PositionOf(n)), endpoint.Accepted.Select(r => r.Position));
        }
        finally
        {
            await restarted.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task A_restart_skips_the_backoff_and_a_pause_of_a_restarting_workflow_keeps_it_idle()
    {
        const string id = "orders-restart";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        // A backoff far longer than the test: only the operator's restart can rebuild the stream in time.
        var node = StartNode(deps: Deps with { Settings = FastSettings with { RestartMinBackoff = TimeSpan.FromMinutes(5), RestartMaxBackoff = TimeSpan.FromMinutes(5) } });
        await ApplyAsync(node, id, Yaml(id, maxRecords: 5));
        endpoint.FailNextBatches(1);
        log.Append(10);
        var failing = await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Restarting, "restarting after a failed batch");
        Assert.NotNull(failing.LastError);

        var restarted = await AskAsync<WorkflowReplies.Restarted>(node, new WorkflowCommands.Restart(id));

        Assert.Equal(id, restarted.WorkflowId);
        var running = await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 10 && s.State == WorkflowRunState.Running,
            "delivered at once after the restart", TimeSpan.FromSeconds(15));
        Assert.Null(running.LastError);

        // Paused while waiting out a backoff: the pending rebuild does not start it again.
        endpoint.FailNextBatches(1);
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Restarting, "restarting again");
        Assert.True((await AskAsync<WorkflowReplies.Paused>(node, new WorkflowCommands.Pause(id))).Changed);
        var refused = await AskAsync<WorkflowReplies.LifecycleRefused>(node, new WorkflowCommands.Restart(id));
        Assert.Contains("resume", refused.Reason);
        Assert.Equal(WorkflowRunState.Paused, (await StatusAsync(node, id)).State);

        await AskAsync<WorkflowReplies.Resumed>(node, new WorkflowCommands.Resume(id));
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 20, "the rest delivered after the resume", TimeSpan.FromSeconds(15));
        AssertCompleteAndOrdered(endpoint.Accepted, 20, 2);
    }

    [Fact]
    public async Task A_rollback_applies_an_earlier_version_as_a_new_one_and_a_paused_workflow_stays_paused_through_an_apply()
    {
        const string id = "orders-rollback";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id));
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.1.0"), version: 2);

        var rolledBack = await AskAsync<WorkflowReplies.DefinitionApplied>(node, new WorkflowCommands.Rollback(id, 1));

        Assert.Equal(3, rolledBack.Version);
        var history = await node.Ask<WorkflowReplies.History>(new WorkflowCommands.GetHistory(id), Dilated(TimeSpan.FromSeconds(5)));
        Assert.Equal([1, 2, 3], history.Versions.Select(v => v.Version));
        Assert.Equal(history.Versions[0].Yaml, history.Versions[2].Yaml);
        Assert.Equal("1.0.0", (await StatusAsync(node, id)).TransformVersion);
        var unknown = await AskAsync<WorkflowReplies.DefinitionRejected>(node, new WorkflowCommands.Rollback(id, 9));
        Assert.Contains("no version 9", Assert.Single(unknown.Errors));

        await AskAsync<WorkflowReplies.Paused>(node, new WorkflowCommands.Pause(id));
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.2.0"), version: 4);
        log.Append(5);
        await Task.Delay(Dilated(Quiet));
        var status = await StatusAsync(node, id);
        Assert.Equal(WorkflowRunState.Paused, status.State);
        Assert.Equal("1.2.0", status.TransformVersion);
        Assert.Equal(0, endpoint.AcceptedCount);
    }

    [Fact]
    public async Task Lifecycle_commands_to_a_workflow_without_a_definition_are_refused()
    {
        var node = StartNode();

        foreach (var command in new object[] { new WorkflowCommands.Pause("nothing"), new WorkflowCommands.Resume("nothing"), new WorkflowCommands.Restart("nothing") })
        {
            var refused = await AskAsync<WorkflowReplies.LifecycleRefused>(node, command);
            Assert.Contains("apply one first", refused.Reason);
        }
    }
}
