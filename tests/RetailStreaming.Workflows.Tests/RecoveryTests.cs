using Akka.Actor;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>A node that stops and starts again resumes each workflow from its persisted checkpoint (invariant 1).</summary>
public sealed class RecoveryTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private const string Id = "orders-recovery";

    [Fact]
    public async Task A_new_actor_system_on_the_same_journal_resumes_after_the_checkpoint()
    {
        var log = Connectors.Source(Id);
        var endpoint = Connectors.Endpoint(Id);
        var node = StartNode();
        await ApplyAsync(node, Id, Yaml(Id, maxRecords: 5));

        // Three rounds, each waiting for its checkpoint to be persisted, so that the journal holds
        // more than SnapshotEveryEvents events and recovery goes through a snapshot too.
        for (var round = 1; round <= 3; round++)
        {
            log.Append(10);
            var checkpoint = MemoryChangeLog.PositionOf(10 * round).Value;
            await AwaitStatusAsync(node, Id, s => s.Checkpoint == checkpoint, $"checkpoint {checkpoint} persisted");
        }
        Assert.Equal(30, endpoint.AcceptedCount);
        await AwaitAssertAsync(() => Assert.True(
            Directory.JournalScalar("SELECT COUNT(*) FROM snapshot WHERE persistence_id = 'workflow-" + Id + "'") > 0,
            "a snapshot was saved"));
        // The source was only ever told positions the workflow had persisted.
        Assert.All(log.Confirmed, p => Assert.True(p <= MemoryChangeLog.PositionOf(30), $"confirmed {p} beyond the checkpoint"));

        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));

        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = StartNode(restarted);
            var recovered = await StatusAsync(node2, Id);
            Assert.Equal(1, recovered.DefinitionVersion);
            Assert.Equal("acme", recovered.ClientId);
            Assert.Equal(MemoryChangeLog.PositionOf(30).Value, recovered.Checkpoint);
            Assert.Equal(30, recovered.DeliveredChanges);
            Assert.Equal(30, recovered.DeliveredRecords);

            log.Append(10);
            await AwaitAssertAsync(() => Assert.Contains(endpoint.Accepted, r => r.Position == MemoryChangeLog.PositionOf(40)));
            // Changes at or below the checkpoint were not delivered again; the new ones were, in order.
            Assert.Equal(
                Enumerable.Range(1, 40).Select(n => MemoryChangeLog.PositionOf(n)),
                endpoint.Accepted.Select(r => r.Position));
            var after = await AwaitStatusAsync(node2, Id,
                s => s.Checkpoint == MemoryChangeLog.PositionOf(40).Value, "checkpoint 40 persisted after the restart");
            Assert.Equal(40, after.DeliveredChanges);
            // The restarted source was told the recovered checkpoint.
            Assert.Contains(MemoryChangeLog.PositionOf(30), log.Confirmed);
        }
        finally
        {
            await restarted.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        }
    }
}
