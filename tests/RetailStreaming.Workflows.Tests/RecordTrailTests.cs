using RetailStreaming.Connectors;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Observation;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;

namespace RetailStreaming.Workflows.Tests;

/// <summary>The support view's record trail: bounded, keyed by the source row, with each change's outcome.</summary>
public sealed class RecordTrailTests
{
    private const string Workflow = "wf-trail";

    private static TransformedChange Ticket(long seq, string id, int outputs = 1, bool deadLettered = false, string table = "tickets") =>
        new(new ChangeEvent("mem:retail", table, ChangeOperation.Insert,
                new RowData(new Dictionary<string, object?> { ["ticket_id"] = id }), null, RowData.Empty,
                DateTimeOffset.UnixEpoch.AddSeconds(seq), MemoryChangeLog.PositionOf(seq)),
            Enumerable.Range(0, outputs).Select(i => OutputRecord.Create("sale", id, new { i })).ToList(), deadLettered, "1.2.0");

    /// <summary>Tickets <paramref name="from"/> to <paramref name="to"/>, one change per batch, each delivered.</summary>
    private static void DeliverTickets(RecordTrails trails, int from, int to)
    {
        for (var i = from; i <= to; i++)
            trails.Delivered(Workflow, [Ticket(i, $"T-{i}")], DeliveryResult.AllAccepted());
    }

    private static Observations.RecordsFound Find(RecordTrails trails, string key, string? table = null) =>
        trails.Find("node-a", new Observations.FindRecords(Workflow, key, table, 50));

    [Fact]
    public void Each_change_is_found_by_its_key_with_its_outcome_transform_version_and_idempotency_keys()
    {
        var trails = new RecordTrails();
        var delivered = Ticket(1, "T-1", outputs: 2);
        var dropped = Ticket(2, "T-2", outputs: 0);
        var rejected = Ticket(3, "T-3", outputs: 0, deadLettered: true);
        var refused = Ticket(4, "T-4");
        var refusedRecord = new DeliveryRecord(IdempotencyKey.For(Workflow, refused.Change.Position, 0), Workflow, refused.Change.Position, 0,
            "tickets", ChangeOperation.Insert, refused.Change.CommitTime, refused.Outputs[0]);
        var answer = new DeliveryAttempt(DateTimeOffset.UnixEpoch.AddSeconds(60), 400, "invalid total");
        trails.Delivered(Workflow, [delivered, dropped, rejected, refused],
            new DeliveryResult([new RefusedRecord(refusedRecord, "HTTP 400: invalid total", [answer, answer])], 3));

        var one = Assert.Single(Find(trails, "T-1").Entries);
        Assert.Equal(("delivered", "1.2.0", 2, 3), (one.Outcome, one.TransformVersion, one.Records, one.Requests));
        Assert.Equal([IdempotencyKey.For(Workflow, delivered.Change.Position, 0), IdempotencyKey.For(Workflow, delivered.Change.Position, 1)], one.IdempotencyKeys);
        Assert.Equal("{\"ticket_id\":\"T-1\"}", one.Key);
        Assert.Equal(delivered.Change.CommitTime, one.CommitTime);
        Assert.Equal("dropped", Assert.Single(Find(trails, "T-2").Entries).Outcome);
        Assert.Equal("transform-rejected", Assert.Single(Find(trails, "T-3").Entries).Outcome);
        var four = Assert.Single(Find(trails, "T-4").Entries);
        Assert.Equal("refused", four.Outcome);
        Assert.Equal("HTTP 400: invalid total", four.Answer);
        Assert.Equal(2, four.Attempts!.Count);
        Assert.Equal(400, four.Attempts[0].StatusCode);
    }

    [Fact]
    public void Failed_requests_before_a_batch_was_accepted_are_its_changes_attempts_and_only_theirs()
    {
        var trails = new RecordTrails();
        var at = DateTimeOffset.UnixEpoch.AddHours(2);
        trails.NoteRetry(Workflow, at, "HTTP 503 Service Unavailable: busy");
        trails.NoteRetry(Workflow, at.AddSeconds(1), "connection refused");
        trails.Delivered(Workflow, [Ticket(1, "T-1"), Ticket(2, "T-2")], new DeliveryResult([], 3));
        trails.Delivered(Workflow, [Ticket(3, "T-3")], DeliveryResult.AllAccepted());

        foreach (var key in new[] { "T-1", "T-2" })
        {
            var entry = Assert.Single(Find(trails, key).Entries);
            Assert.Equal(3, entry.Requests);
            Assert.Equal(["HTTP 503 Service Unavailable: busy", "connection refused", "accepted (2xx)"], entry.Attempts!.Select(a => a.Detail));
            Assert.Equal(at, entry.Attempts![0].At);
        }
        Assert.Null(Assert.Single(Find(trails, "T-3").Entries).Attempts);
    }

    [Fact]
    public void A_key_matches_as_its_value_its_values_joined_or_its_json_and_the_table_filters()
    {
        var trails = new RecordTrails();
        var composite = new TransformedChange(new ChangeEvent("mem:retail", "catalog", ChangeOperation.Update,
                new RowData(new Dictionary<string, object?> { ["store_id"] = "S1", ["sku"] = 42L }), null, RowData.Empty,
                DateTimeOffset.UnixEpoch, MemoryChangeLog.PositionOf(7)),
            [OutputRecord.Create("price", "S1/42", new { })], false, "1.0.0");
        trails.Delivered(Workflow, [Ticket(1, "T-1"), composite, Ticket(2, "T-1", table: "returns")], DeliveryResult.AllAccepted());

        Assert.Single(Find(trails, "S1,42").Entries);
        Assert.Single(Find(trails, "{\"store_id\":\"S1\",\"sku\":42}").Entries);
        Assert.Empty(Find(trails, "S1").Entries);
        Assert.Equal(2, Find(trails, "T-1").Entries.Count);
        Assert.Equal("returns", Find(trails, "T-1").Entries[0].Table); // newest first
        Assert.Equal("tickets", Assert.Single(Find(trails, "T-1", "tickets").Entries).Table);
        Assert.Empty(trails.Find("node-a", new Observations.FindRecords("wf-other", "T-1", null, 50)).Entries);
    }

    [Fact]
    public void The_trail_keeps_only_the_last_changes_up_to_its_capacity_and_says_how_far_back_it_reaches()
    {
        var trails = new RecordTrails { Capacity = 3 };
        DeliverTickets(trails, 1, 5);

        var found = Find(trails, "T-1");
        Assert.Empty(found.Entries);
        Assert.Equal((3, 3), (found.Held, found.Capacity));
        Assert.NotNull(found.OldestAt);
        Assert.Single(Find(trails, "T-3").Entries);
        Assert.Single(Find(trails, "T-5").Entries);
    }

    [Fact]
    public void A_ring_that_grows_towards_its_capacity_keeps_every_change_in_order()
    {
        // The ring starts small and doubles (64, 128, 200): nothing is lost or reordered on the way.
        var trails = new RecordTrails { Capacity = 200 };
        DeliverTickets(trails, 1, 150);
        var found = Find(trails, "T-1");
        Assert.Equal(150, found.Held);
        Assert.Single(found.Entries);
        Assert.Equal([MemoryChangeLog.PositionOf(150).Value, MemoryChangeLog.PositionOf(64).Value, MemoryChangeLog.PositionOf(65).Value],
            new[] { "T-150", "T-64", "T-65" }.Select(k => Assert.Single(Find(trails, k).Entries).Position));

        DeliverTickets(trails, 151, 450);
        Assert.Equal(200, Find(trails, "T-450").Held);
        Assert.Empty(Find(trails, "T-250").Entries);
        Assert.Single(Find(trails, "T-251").Entries);
        Assert.Single(Find(trails, "T-450").Entries);
    }

    [Fact]
    public void A_change_gets_the_capture_time_of_the_read_that_held_it()
    {
        var trails = new RecordTrails();
        var first = DateTimeOffset.UnixEpoch.AddHours(1);
        var second = first.AddSeconds(3);
        // Reads 1..10 and 11..20; then a restart reads 11..20 again.
        trails.For(Workflow).NoteCaptured(MemoryChangeLog.PositionOf(10), first);
        trails.For(Workflow).NoteCaptured(MemoryChangeLog.PositionOf(20), second);
        trails.Delivered(Workflow, [Ticket(5, "T-5"), Ticket(15, "T-15"), Ticket(25, "T-25")], DeliveryResult.AllAccepted());
        trails.For(Workflow).NoteCaptured(MemoryChangeLog.PositionOf(10), second.AddSeconds(5));
        trails.For(Workflow).NoteCaptured(MemoryChangeLog.PositionOf(20), second.AddSeconds(6));
        trails.Delivered(Workflow, [Ticket(16, "T-16")], DeliveryResult.AllAccepted());

        Assert.Equal(first, Assert.Single(Find(trails, "T-5").Entries).CapturedAt);
        Assert.Equal(second, Assert.Single(Find(trails, "T-15").Entries).CapturedAt);
        Assert.Null(Assert.Single(Find(trails, "T-25").Entries).CapturedAt); // no read held it
        Assert.Equal(second.AddSeconds(6), Assert.Single(Find(trails, "T-16").Entries).CapturedAt);
    }
}
