using Akka.Actor;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// An operator's delete and replay: a delete drains, records itself, removes the capture (or says
/// why it could not) and never lets the workflow run again, across restarts too; a replay delivers
/// again what the source still holds, with the same keys and the transform that produced it, and
/// resumes after a crash.
/// </summary>
public sealed class OperationsTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    private async Task<T> AskAsync<T>(IActorRef node, object command) =>
        Assert.IsType<T>(await node.Ask<object>(command, Dilated(TimeSpan.FromSeconds(20))));

    [Fact]
    public async Task A_deleted_workflow_stops_removes_its_capture_keeps_its_history_and_never_runs_again()
    {
        const string id = "orders-delete";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 5));
        log.Append(20);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 20, "20 delivered");

        var deleted = await AskAsync<WorkflowReplies.Deleted>(node, new WorkflowCommands.Delete(id));

        Assert.True(deleted.Changed);
        Assert.True(deleted.CaptureRemoved, deleted.CaptureError);
        Assert.Equal(MemoryChangeLog.PositionOf(20).Value, deleted.Checkpoint);
        Assert.True(log.CaptureRemoved);
        // The capture actor closes its reader as it stops, which may finish just after the drain that the
        // delete waited for (CI once saw the reader still open at the reply): it closes, and stays closed.
        await AwaitAssertAsync(() => Assert.Equal(0, log.ReadersOpen));
        var status = await StatusAsync(node, id);
        Assert.Equal(WorkflowRunState.Deleted, status.State);
        Assert.NotNull(status.DeletedAt);
        Assert.True((await Store.Workflows.GetAsync(id))!.Deleted);
        Assert.DoesNotContain(await Store.Workflows.ListAsync(), w => w.WorkflowId == id);

        // Nothing more is captured or delivered, whatever the source does.
        log.Append(10);
        await Task.Delay(Dilated(Quiet));
        Assert.Equal(20, endpoint.AcceptedCount);

        // Twice is fine; the id cannot be applied again; nothing else changes it; its history reads.
        var again = await AskAsync<WorkflowReplies.Deleted>(node, new WorkflowCommands.Delete(id));
        Assert.False(again.Changed);
        Assert.True(again.CaptureRemoved);
        var reapplied = await AskAsync<WorkflowReplies.DefinitionRejected>(node, new WorkflowCommands.ApplyDefinition(id, Yaml(id), id + ".yaml"));
        Assert.Contains(reapplied.Errors, e => e.Contains("was deleted", StringComparison.Ordinal) && e.Contains("new id", StringComparison.Ordinal));
        foreach (var command in new object[] { new WorkflowCommands.Pause(id), new WorkflowCommands.Resume(id), new WorkflowCommands.Restart(id),
                     new WorkflowCommands.Replay(id, "earliest"), new WorkflowCommands.RequestSnapshot(id, null) })
            Assert.Contains("deleted", (await AskAsync<WorkflowReplies.LifecycleRefused>(node, command)).Reason);
        Assert.Single((await AskAsync<WorkflowReplies.History>(node, new WorkflowCommands.GetHistory(id))).Versions);

        // A new node on the same journal: the entity recovers deleted and opens no reader.
        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        var readersBefore = log.ReadersOpened;
        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = StartNode(restarted);
            var recovered = await node2.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(id), Dilated(TimeSpan.FromSeconds(10)));
            Assert.Equal(WorkflowRunState.Deleted, recovered.State);
            Assert.Equal(MemoryChangeLog.PositionOf(20).Value, recovered.Checkpoint);
            await Task.Delay(Dilated(Quiet));
            Assert.Equal(readersBefore, log.ReadersOpened);
            Assert.Equal(20, endpoint.AcceptedCount);
        }
        finally
        {
            await restarted.Terminate();
        }
    }

    [Fact]
    public async Task A_capture_that_cannot_be_removed_is_reported_and_deleting_again_retries()
    {
        const string id = "orders-delete-fails";
        var log = Connectors.Source(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id));
        log.Append(5);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 5, "5 delivered");
        log.FailCaptureRemoval = "the client database refused: permission denied to drop replication slot";

        var deleted = await AskAsync<WorkflowReplies.Deleted>(node, new WorkflowCommands.Delete(id));

        Assert.True(deleted.Changed);
        Assert.False(deleted.CaptureRemoved);
        Assert.Contains("permission denied", deleted.CaptureError);
        var status = await StatusAsync(node, id);
        Assert.Equal(WorkflowRunState.Deleted, status.State);
        Assert.Contains("permission denied", status.LastError);

        log.FailCaptureRemoval = null;
        var retried = await AskAsync<WorkflowReplies.Deleted>(node, new WorkflowCommands.Delete(id));
        Assert.False(retried.Changed);
        Assert.True(retried.CaptureRemoved);
        Assert.True(log.CaptureRemoved);
        Assert.Null((await StatusAsync(node, id)).LastError);
    }

    [Fact]
    public async Task A_replay_delivers_again_after_the_position_with_the_same_keys_and_resumes_after_a_crash()
    {
        const string id = "orders-replay";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 5));
        log.Append(30);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 30 && s.Checkpoint == MemoryChangeLog.PositionOf(30).Value, "30 delivered and checkpointed");
        var first = endpoint.Accepted.ToDictionary(r => r.Position, r => r.IdempotencyKey);

        // The endpoint holds the replay's first batch; the node crashes mid-replay.
        endpoint.Hold();
        var started = await AskAsync<WorkflowReplies.ReplayStarted>(node, new WorkflowCommands.Replay(id, MemoryChangeLog.PositionOf(20).Value));
        Assert.Equal((MemoryChangeLog.PositionOf(20).Value, MemoryChangeLog.PositionOf(30).Value), (started.From, started.Until));
        var replaying = await StatusAsync(node, id);
        Assert.Equal(MemoryChangeLog.PositionOf(30).Value, replaying.ReplayUntil);
        Assert.Equal(MemoryChangeLog.PositionOf(20).Value, replaying.Checkpoint);
        await AwaitAssertAsync(() => Assert.True(endpoint.BatchesStarted > 6), interval: TimeSpan.FromMilliseconds(20));
        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        endpoint.Release();
        Assert.Equal(30, endpoint.AcceptedCount);

        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = StartNode(restarted);
            var done = await AwaitStatusAsync(node2, id, s => s.ReplayUntil is null && s.Checkpoint == MemoryChangeLog.PositionOf(30).Value,
                "the replay resumed after the restart and finished", Dilated(TimeSpan.FromSeconds(30)));
            Assert.Equal(WorkflowRunState.Running, done.State);
            var replayed = endpoint.Accepted.Skip(30).ToList();
            // Exactly the changes after the position, in order, with the keys they had the first time.
            Assert.Equal(Enumerable.Range(21, 10).Select(n => MemoryChangeLog.PositionOf(n)), replayed.Select(r => r.Position));
            Assert.All(replayed, r => Assert.Equal(first[r.Position], r.IdempotencyKey));

            // And the workflow goes on with new changes, once each.
            log.Append(5);
            await AwaitAssertAsync(() => Assert.Equal(45, endpoint.AcceptedCount), Dilated(TimeSpan.FromSeconds(20)), TimeSpan.FromMilliseconds(50));
        }
        finally
        {
            await restarted.Terminate();
        }
    }

    [Fact]
    public async Task A_replay_from_before_what_the_source_holds_is_refused_with_how_far_back_it_can_go()
    {
        const string id = "orders-replay-too-far";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 5));
        log.Append(30);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 30, "30 delivered");
        log.ReplayEarliest = MemoryChangeLog.PositionOf(25);

        var refused = await AskAsync<WorkflowReplies.ReplayRefused>(node, new WorkflowCommands.Replay(id, MemoryChangeLog.PositionOf(20).Value));

        Assert.Equal(MemoryChangeLog.PositionOf(25).Value, refused.Earliest);
        Assert.Contains("no longer holds", refused.Reason);
        Assert.Contains(MemoryChangeLog.PositionOf(25).Value, refused.Reason);
        foreach (var bad in new[] { "sqlite:12", MemoryChangeLog.PositionOf(31).Value })
            Assert.IsType<WorkflowReplies.ReplayRefused>(await node.Ask<object>(new WorkflowCommands.Replay(id, bad), Dilated(TimeSpan.FromSeconds(20))));
        // Refused, the workflow goes on as before: nothing replayed, new changes delivered once.
        log.Append(5);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 35 && s.State == WorkflowRunState.Running, "35 delivered");
        Assert.Equal(Enumerable.Range(1, 35).Select(n => MemoryChangeLog.PositionOf(n)), endpoint.Accepted.Select(r => r.Position));

        // "earliest" starts where the source can.
        var started = await AskAsync<WorkflowReplies.ReplayStarted>(node, new WorkflowCommands.Replay(id, "earliest"));
        Assert.Equal(MemoryChangeLog.PositionOf(25).Value, started.From);
        await AwaitAssertAsync(() => Assert.Equal(45, endpoint.AcceptedCount), Dilated(TimeSpan.FromSeconds(20)), TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task A_replay_across_a_definition_change_that_keeps_the_transform_runs_it_once()
    {
        const string id = "orders-replay-switch";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.0.0", maxRecords: 5));
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 10, "10 delivered by 1.0.0");
        await ApplyAsync(node, id, Yaml(id, transformVersion: "2.0.0", maxRecords: 5), version: 2);
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 20, "10 more delivered by 2.0.0");

        // A definition change that keeps the transform is no switch for a replay across it: one transform, 2.0.0
        // (replays across a transform switch: ReplaySwitchTests).
        await ApplyAsync(node, id, Yaml(id, transformVersion: "2.0.0", maxRecords: 4), version: 3);
        await AskAsync<WorkflowReplies.ReplayStarted>(node, new WorkflowCommands.Replay(id, MemoryChangeLog.PositionOf(10).Value));
        await AwaitAssertAsync(() => Assert.Equal(30, endpoint.AcceptedCount), Dilated(TimeSpan.FromSeconds(20)), TimeSpan.FromMilliseconds(50));
        var replayed = endpoint.Accepted.Skip(20).ToList();
        Assert.Equal(Enumerable.Range(11, 10).Select(n => MemoryChangeLog.PositionOf(n)), replayed.Select(r => r.Position));
        Assert.All(replayed, r => Assert.Equal("2.0.0", (string)r.Record.Payload["version"]!));
        Assert.Single(Connectors.Transforms, t => t.Version == "1.0.0");
        // No apply while a replay runs (it would record the switch inside what is being replayed): asked and answered in order.
        await AwaitStatusAsync(node, id, s => s.ReplayUntil is null, "the replay over");
    }
}
