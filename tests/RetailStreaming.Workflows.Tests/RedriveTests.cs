using Akka.Actor;
using RetailStreaming.Connectors;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Delivery;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// Redrive through the workflow actor: a delivery dead letter goes again with its original
/// idempotency key, a transform dead letter runs through the current transform; a failure records a
/// new attempt and keeps the letter; a letter superseded by a later delivery of its row is skipped
/// unless forced (the client's data is never rolled back).
/// </summary>
public sealed class RedriveTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private async Task<WorkflowReplies.Redriven> RedriveAsync(IActorRef node, string id, bool force, params long[] entries) =>
        Assert.IsType<WorkflowReplies.Redriven>(await node.Ask<object>(
            new WorkflowCommands.Redrive(id, entries, force, "tok_test"), Dilated(TimeSpan.FromSeconds(30))));

    private async Task<IActorRef> RunAsync(string id, int changes, Func<long, bool>? poison = null, Func<long, long>? idOf = null)
    {
        Connectors.Source(id).Append(changes, poison, idOf);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, maxRecords: 3));
        await AwaitStatusAsync(node, id, s => s.DeliveredPosition == MemoryChangeLog.PositionOf(changes).Value, "every change done");
        return node;
    }

    [Fact]
    public async Task A_refused_record_fails_again_with_a_new_attempt_then_arrives_with_its_original_key_once_accepted()
    {
        const string id = "redrive-delivery";
        var endpoint = Connectors.Endpoint(id);
        var refusedAt = MemoryChangeLog.PositionOf(3);
        endpoint.Refuse = r => r.Position == refusedAt ? "HTTP 422 Unprocessable Entity: total" : null;
        var node = await RunAsync(id, 5);
        var letter = Assert.Single(await Store.DeadLetters.ListAsync(id));
        var originalKey = IdempotencyKey.For(id, refusedAt, 0);

        var again = Assert.Single((await RedriveAsync(node, id, false, letter.Id)).Results);
        Assert.Equal(RedriveResult.Failed, again.Outcome);
        Assert.Contains("422", again.Detail);
        var failed = await Store.DeadLetters.GetAsync(letter.Id);
        Assert.Equal(DeadLetterStore.Failed, failed!.Redrive!.Outcome);
        Assert.Equal(422, failed.Attempts![^1].StatusCode);
        Assert.StartsWith("redrive: refused again", failed.Attempts[^1].Detail);

        endpoint.Refuse = null;
        var accepted = Assert.Single((await RedriveAsync(node, id, false, letter.Id)).Results);
        Assert.Equal(RedriveResult.Delivered, accepted.Outcome);
        Assert.Equal([originalKey], accepted.IdempotencyKeys);
        var sent = endpoint.Accepted.Single(r => r.Position == refusedAt);
        Assert.Equal(originalKey, sent.IdempotencyKey);
        // The version that produced the record travels with it, as on its first delivery; the letter keeps it.
        Assert.Equal("1.0.0", letter.TransformVersion);
        Assert.Equal("1.0.0", sent.TransformVersion);
        Assert.Equal("3", sent.Record.Key);
        Assert.Equal(refusedAt.Value, (string?)sent.Record.Payload["position"]);
        var redriven = await Store.DeadLetters.GetAsync(letter.Id);
        Assert.Equal(new DeadLetterRedrive(redriven!.Redrive!.At, DeadLetterStore.Delivered, null, 2), redriven.Redrive);
        Assert.Equal(letter.Reason, redriven.Reason); // still readable, as it was

        var twice = Assert.Single((await RedriveAsync(node, id, false, letter.Id, letter.Id + 1000)).Results.Take(1));
        Assert.Equal(RedriveResult.Skipped, twice.Outcome);
        Assert.Contains("already redriven", twice.Detail);
        Assert.Single(endpoint.Accepted, r => r.Position == refusedAt);
    }

    [Fact]
    public async Task A_letter_superseded_by_a_later_delivery_of_its_row_is_skipped_unless_forced()
    {
        const string id = "redrive-superseded";
        var endpoint = Connectors.Endpoint(id);
        var refusedAt = MemoryChangeLog.PositionOf(2);
        endpoint.Refuse = r => r.Position == refusedAt ? "HTTP 400 Bad Request: no" : null;
        // Change 5 is a later change of the row of change 2; change 7 of the row of change 6 (which is never refused).
        var node = await RunAsync(id, 7, idOf: n => n switch { 5 => 2, 7 => 6, _ => n });

        var letter = Assert.Single(await Store.DeadLetters.ListAsync(id));
        Assert.Equal(MemoryChangeLog.PositionOf(5).Value, letter.Superseded?.ByPosition);
        endpoint.Refuse = null;

        var skipped = Assert.Single((await RedriveAsync(node, id, false, letter.Id)).Results);
        Assert.Equal(RedriveResult.Skipped, skipped.Outcome);
        Assert.Contains("superseded", skipped.Detail);
        Assert.Contains(MemoryChangeLog.PositionOf(5).Value, skipped.Detail);
        Assert.DoesNotContain(endpoint.Accepted, r => r.Position == refusedAt);
        Assert.Null((await Store.DeadLetters.GetAsync(letter.Id))!.Redrive);

        var forced = Assert.Single((await RedriveAsync(node, id, true, letter.Id)).Results);
        Assert.Equal(RedriveResult.Delivered, forced.Outcome);
        Assert.Equal(IdempotencyKey.For(id, refusedAt, 0), endpoint.Accepted.Single(r => r.Position == refusedAt).IdempotencyKey);
    }

    [Fact]
    public async Task A_row_with_an_open_letter_from_an_earlier_stream_is_superseded_after_a_restart()
    {
        const string id = "redrive-superseded-later";
        var endpoint = Connectors.Endpoint(id);
        endpoint.Refuse = r => r.Position == MemoryChangeLog.PositionOf(2) ? "HTTP 400 Bad Request: no" : null;
        var node = await RunAsync(id, 3);
        var letter = Assert.Single(await Store.DeadLetters.ListAsync(id));
        Assert.Null(letter.Superseded);

        // A new stream (restart) loads the open rows from the store; a later change of row 2 then supersedes it.
        Assert.IsType<WorkflowReplies.Restarted>(await node.Ask<object>(new WorkflowCommands.Restart(id), Dilated(TimeSpan.FromSeconds(10))));
        Connectors.Source(id).Append(2, idOf: n => n == 5 ? 2 : n);
        await AwaitStatusAsync(node, id, s => s.DeliveredPosition == MemoryChangeLog.PositionOf(5).Value, "the later change of row 2 delivered");
        await AwaitAssertAsync(async () =>
            Assert.Equal(MemoryChangeLog.PositionOf(5).Value, (await Store.DeadLetters.GetAsync(letter.Id))!.Superseded?.ByPosition));
    }

    [Fact]
    public async Task A_transform_dead_letter_runs_through_the_current_transform_and_records_the_version_that_ran()
    {
        const string id = "redrive-transform";
        var node = await RunAsync(id, 4, poison: n => n == 3);
        var letter = Assert.Single(await Store.DeadLetters.ListAsync(id));
        Assert.Equal("transform", letter.Stage);

        var again = Assert.Single((await RedriveAsync(node, id, false, letter.Id)).Results);
        Assert.Equal(RedriveResult.Failed, again.Outcome);
        Assert.Equal("1.0.0", again.TransformVersion);
        Assert.Contains("cannot be priced", again.Detail);
        var failed = await Store.DeadLetters.GetAsync(letter.Id);
        Assert.Equal("1.0.0", failed!.Redrive!.TransformVersion);
        Assert.Contains("transform 1.0.0 rejected it again", Assert.Single(failed.Attempts!).Detail);

        // A fixed transform, deployed as a new definition version: the redrive runs it.
        Connectors.FixedVersions["1.1.0"] = true;
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.1.0", maxRecords: 3), version: 2);
        var done = Assert.Single((await RedriveAsync(node, id, false, letter.Id)).Results);
        Assert.Equal(RedriveResult.Delivered, done.Outcome);
        Assert.Equal("1.1.0", done.TransformVersion);
        var sent = Connectors.Endpoint(id).Accepted.Single(r => r.Position == MemoryChangeLog.PositionOf(3));
        Assert.Equal(IdempotencyKey.For(id, MemoryChangeLog.PositionOf(3), 0), sent.IdempotencyKey);
        Assert.Equal("1.1.0", (string?)sent.Record.Payload["version"]);
        Assert.Equal("1.1.0", sent.TransformVersion);
        // The letter still names the version it failed with; the redrive's own version is recorded beside it.
        Assert.Equal("1.0.0", (await Store.DeadLetters.GetAsync(letter.Id))!.TransformVersion);
        Assert.Equal(new DeadLetterRedrive(((await Store.DeadLetters.GetAsync(letter.Id))!.Redrive!).At, "delivered", "1.1.0", 2),
            (await Store.DeadLetters.GetAsync(letter.Id))!.Redrive);
    }

    [Fact]
    public async Task A_redrive_waits_for_the_batch_being_delivered_and_then_skips_the_letter_it_superseded()
    {
        const string id = "redrive-races-stream";
        var endpoint = Connectors.Endpoint(id);
        endpoint.Refuse = r => r.Position == MemoryChangeLog.PositionOf(2) ? "HTTP 400 Bad Request: no" : null;
        var node = await RunAsync(id, 3);
        var letter = Assert.Single(await Store.DeadLetters.ListAsync(id));

        // The stream is delivering a later change of row 2, held at the endpoint.
        endpoint.Refuse = null;
        endpoint.Hold();
        var started = endpoint.BatchesStarted;
        Connectors.Source(id).Append(1, idOf: _ => 2);
        await AwaitConditionAsync(() => Task.FromResult(endpoint.BatchesStarted > started), TimeSpan.FromSeconds(10));
        var redrive = RedriveAsync(node, id, false, letter.Id);
        // Time for a redrive that did not wait to read the letter (not yet superseded) and send it.
        await Task.Delay(300);
        endpoint.Release();

        var result = Assert.Single((await redrive).Results);
        Assert.Equal(RedriveResult.Skipped, result.Outcome);
        Assert.Contains("superseded by position " + MemoryChangeLog.PositionOf(4).Value, result.Detail);
        Assert.DoesNotContain(endpoint.Accepted, r => r.Position == MemoryChangeLog.PositionOf(2));
    }

    [Fact]
    public void The_tracker_keys_a_row_as_the_store_reads_it_from_the_stored_input()
    {
        var change = new ChangeEvent("mem:retail", "tickets", ChangeOperation.Update,
            new RowData(new Dictionary<string, object?> { ["store"] = "Évry 🛒 \"n\"", ["id"] = 42L, ["price"] = 1.50m, ["at"] = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero) }),
            null, RowData.Empty, DateTimeOffset.UtcNow, MemoryChangeLog.PositionOf(1));

        Assert.Equal(("tickets", SupersedeTracker.KeyOf(change)), DeadLetterStore.RowOf(ChangeEventJson.Serialize(change)));
    }
}
