using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// The stream hands the transform whole reads (one ask per batch of changes): order holds across
/// batches, a change that throws mid-batch is dead-lettered alone, and an overrun mid-batch
/// quarantines the workflow without anything after it being delivered.
/// </summary>
public sealed class BatchTransformTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    [Fact]
    public async Task Changes_go_to_the_transform_in_batches_and_arrive_complete_and_in_order()
    {
        const string id = "orders-batched";
        const int total = 1_000;
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        log.Append(total, poison: n => n is 37 or 250 or 251);

        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 100, maxRecords: 20));
        var status = await AwaitStatusAsync(node, id, s => s.Checkpoint == MemoryChangeLog.PositionOf(total).Value, "every change done");

        // One ask per read, not per change, and never more than a read.
        var batches = Assert.Single(Connectors.Transforms).BatchSizes;
        Assert.Equal(total, batches.Sum());
        Assert.All(batches, size => Assert.InRange(size, 1, 100));
        Assert.True(batches.Count <= total / 10, $"{batches.Count} transform calls for {total} changes: {string.Join(",", batches)}");

        // The poisoned changes (one of them mid-batch, two in a row) are dead-lettered alone; the
        // others of their batches are delivered, in source order across batches.
        var expected = Enumerable.Range(1, total).Select(n => (long)n).Where(n => n is not (37 or 250 or 251));
        Assert.Equal(expected.Select(MemoryChangeLog.PositionOf), endpoint.Accepted.Select(r => r.Position));
        Assert.All(endpoint.BatchSizes, size => Assert.InRange(size, 1, 20));
        Assert.Equal(3, status.DeadLetters);
        Assert.Equal(total, status.DeliveredChanges);
        Assert.Equal(0, status.Restarts);
        var letters = await Store.DeadLetters.ListAsync(id);
        Assert.Equal(
            new[] { 37L, 250, 251 }.Select(n => MemoryChangeLog.PositionOf(n).Value),
            letters.Select(l => l.Position).Order());
        Assert.All(letters, l => Assert.Equal("transform", l.Stage));
    }

    [Fact]
    public async Task An_overrun_mid_batch_quarantines_and_nothing_after_it_is_delivered_until_a_fix()
    {
        const string id = "orders-overrun";
        const int total = 100;
        const long overrun = 40;
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        log.Append(total);
        Connectors.Overruns = c => c.Position == MemoryChangeLog.PositionOf(overrun);

        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 100, maxRecords: 20));
        var quarantined = await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Quarantined, "quarantined");

        Assert.Contains("quarantined", quarantined.LastError);
        var letter = Assert.Single(await Store.DeadLetters.ListAsync(id));
        Assert.Equal(MemoryChangeLog.PositionOf(overrun).Value, letter.Position);
        Assert.Contains("Overran", letter.Reason);
        // The transform stopped at the overrun change, within one batch of 100.
        Assert.Equal([100], Assert.Single(Connectors.Transforms).BatchSizes);
        // What was delivered is a prefix of the changes before the overrun; the checkpoint is not past it.
        var delivered = endpoint.Accepted.Select(r => MemoryChangeLog.SequenceOf(r.Position)).ToList();
        Assert.Equal(Enumerable.Range(1, delivered.Count).Select(n => (long)n), delivered);
        Assert.True(delivered.Count < overrun, $"delivered {delivered.Count} changes");
        Assert.True(string.CompareOrdinal(quarantined.Checkpoint, MemoryChangeLog.PositionOf(overrun).Value) <= 0,
            $"checkpoint {quarantined.Checkpoint} past the overrun");

        // A fixed version goes on from the checkpoint: everything after the overrun arrives, in order.
        Connectors.Overruns = null;
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.0.1", batchSize: 100, maxRecords: 20), version: 2);
        await AwaitStatusAsync(node, id, s => s.Checkpoint == MemoryChangeLog.PositionOf(total).Value, "every change done after the fix");
        var sequence = endpoint.Accepted.Select(r => MemoryChangeLog.SequenceOf(r.Position)).ToList();
        Assert.Equal(Enumerable.Range(1, total).Select(n => (long)n).Where(n => n != overrun || sequence.Contains(overrun)), sequence);
        Assert.All(endpoint.Accepted.Where(r => MemoryChangeLog.SequenceOf(r.Position) > overrun),
            r => Assert.Equal("1.0.1", (string?)r.Record.Payload["version"]));
    }

    [Fact]
    public async Task Records_before_an_overrun_still_in_delivery_arrive_once_and_a_fixed_version_starts_after_them()
    {
        const string id = "orders-overrun-in-flight";
        const int total = 100;
        const long overrun = 40;
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        log.Append(total);
        Connectors.Overruns = c => c.Position == MemoryChangeLog.PositionOf(overrun);
        // The records before the overrun are held at the endpoint when the quarantine begins.
        endpoint.Hold();

        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 100, maxRecords: 20));
        await AwaitStatusAsync(node, id, s => s.State == WorkflowRunState.Quarantined, "quarantined");
        Assert.Equal(0, endpoint.AcceptedCount);
        endpoint.Release();

        // They are delivered, and the checkpoint reaches the overrun change (dead-lettered), not beyond.
        var settled = await AwaitStatusAsync(node, id, s => s.Checkpoint == MemoryChangeLog.PositionOf(overrun).Value, "checkpoint at the overrun");
        Assert.Equal(WorkflowRunState.Quarantined, settled.State);
        Assert.Equal(Enumerable.Range(1, (int)overrun - 1).Select(n => (long)n),
            endpoint.Accepted.Select(r => MemoryChangeLog.SequenceOf(r.Position)));

        // The fixed version starts after them: no record is produced twice, none by another version.
        Connectors.Overruns = null;
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.0.1", batchSize: 100, maxRecords: 20), version: 2);
        await AwaitStatusAsync(node, id, s => s.Checkpoint == MemoryChangeLog.PositionOf(total).Value, "every change done after the fix");
        var accepted = endpoint.Accepted;
        Assert.Equal(Enumerable.Range(1, total).Select(n => (long)n).Where(n => n != overrun),
            accepted.Select(r => MemoryChangeLog.SequenceOf(r.Position)));
        Assert.All(accepted, r => Assert.Equal(MemoryChangeLog.SequenceOf(r.Position) < overrun ? "1.0.0" : "1.0.1", (string?)r.Record.Payload["version"]));
    }
}
