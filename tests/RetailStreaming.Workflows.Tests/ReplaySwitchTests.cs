using Akka.Actor;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// A replay across a transform switch runs each change on the version that first produced it (from
/// the journaled switch positions), so that a replayed record has the output and the idempotency key
/// it had the first time; a restart mid-replay picks the same versions again, and a version is released
/// once the replay has passed its changes.
/// </summary>
public sealed class ReplaySwitchTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private async Task<T> AskAsync<T>(IActorRef node, object command) =>
        Assert.IsType<T>(await node.Ask<object>(command, Dilated(TimeSpan.FromSeconds(20))));

    [Fact]
    public async Task A_replay_from_before_a_switch_delivers_what_each_version_delivered_the_first_time_also_after_a_restart()
    {
        const string id = "orders-replay-across";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.0.0", maxRecords: 5));
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 10 && s.Checkpoint == MemoryChangeLog.PositionOf(10).Value, "10 delivered by 1.0.0");
        await ApplyAsync(node, id, Yaml(id, transformVersion: "2.0.0", maxRecords: 5), version: 2);
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 20 && s.Checkpoint == MemoryChangeLog.PositionOf(20).Value, "10 more delivered by 2.0.0");
        var first = endpoint.Accepted.ToDictionary(r => r.Position);
        Assert.All(first.Values, r => Assert.Equal(MemoryChangeLog.SequenceOf(r.Position) <= 10 ? "1.0.0" : "2.0.0", r.TransformVersion));

        // The replay starts; the endpoint holds its first batch and the node crashes mid-replay.
        endpoint.Hold();
        var started = await AskAsync<WorkflowReplies.ReplayStarted>(node, new WorkflowCommands.Replay(id, MemoryChangeLog.PositionOf(5).Value));
        Assert.Equal((MemoryChangeLog.PositionOf(5).Value, MemoryChangeLog.PositionOf(20).Value), (started.From, started.Until));
        await AwaitAssertAsync(() => Assert.True(endpoint.BatchesStarted > 4), interval: TimeSpan.FromMilliseconds(20));
        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        endpoint.Release();
        Assert.Equal(20, endpoint.AcceptedCount);

        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = StartNode(restarted);
            await AwaitStatusAsync(node2, id, s => s.ReplayUntil is null && s.Checkpoint == MemoryChangeLog.PositionOf(20).Value,
                "the replay resumed after the restart and finished", Dilated(TimeSpan.FromSeconds(30)));

            // Every change after the position again, in order, each with the output, the key and the
            // version it had the first time: 1.0.0 up to the switch, 2.0.0 after it.
            var replayed = endpoint.Accepted.Skip(20).ToList();
            Assert.Equal(Enumerable.Range(6, 15).Select(n => MemoryChangeLog.PositionOf(n)), replayed.Select(r => r.Position));
            foreach (var record in replayed)
            {
                var was = first[record.Position];
                Assert.Equal(was.IdempotencyKey, record.IdempotencyKey);
                Assert.Equal(was.Record.Payload.ToJsonString(), record.Record.Payload.ToJsonString());
                Assert.Equal(was.TransformVersion, record.TransformVersion);
            }
            Assert.Equal(5, replayed.Count(r => (string)r.Record.Payload["version"]! == "1.0.0"));

            // 1.0.0 was loaded for the replay and released once the replay passed the switch; 2.0.0 runs on.
            var afterRestart = Connectors.Transforms.Where(t => t.Version == "1.0.0").ToList();
            Assert.True(afterRestart.Count >= 2, "1.0.0 should have been created again for the replay");
            Assert.All(afterRestart, t => Assert.True(t.Disposed, "1.0.0 should be released once the replay passed its changes"));
            Assert.False(Connectors.Transforms.Last(t => t.Version == "2.0.0").Disposed);

            // And new changes go on with 2.0.0, once each.
            log.Append(5);
            await AwaitAssertAsync(() => Assert.Equal(40, endpoint.AcceptedCount), Dilated(TimeSpan.FromSeconds(20)), TimeSpan.FromMilliseconds(50));
            Assert.All(endpoint.Accepted.Skip(35), r => Assert.Equal("2.0.0", r.TransformVersion));
        }
        finally
        {
            await restarted.Terminate();
        }
    }
}
