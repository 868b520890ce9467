namespace RetailStreaming.Store.Tests;

/// <summary>Attempts, superseding, redrive bookkeeping and the retention purge of the dead-letter store.</summary>
public abstract class DeadLetterRedriveStoreTests : StoreTestBase
{
    private static readonly DateTimeOffset T0 = new(2026, 5, 1, 8, 0, 0, TimeSpan.Zero);

    /// <summary>A delivery dead letter of products row <paramref name="sku"/> at <paramref name="position"/>.</summary>
    private static DeadLetter Letter(string workflowId, string sku, string position, IReadOnlyList<DeadLetterAttempt>? attempts = null) => new(
        0, workflowId, "client-1", "delivery", position, 0, "1.0.0", "HTTP 400 Bad Request: no",
        $$$"""{"source":"sqlite:retail","table":"products","operation":"update","position":"{{{position}}}","commitTime":"2026-05-01T08:00:00.0000000+00:00","key":{"sku":"{{{sku}}}"},"before":null,"after":{"sku":"{{{sku}}}","price":2.5}}""",
        """{"id":"rs_x"}""", default, attempts);

    [Fact]
    public async Task Attempts_are_stored_in_order_and_read_back_with_the_letter_and_in_lists()
    {
        var store = await Database.OpenInitializedAsync();
        DeadLetterAttempt[] attempts =
        [
            new(T0, 503, "Service Unavailable"),
            new(T0.AddSeconds(2), null, "connection refused"),
            new(T0.AddSeconds(5), 400, "{\"error\":\"price must be positive\"}"),
        ];
        var id = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p01", attempts));
        await store.DeadLetters.AddAsync(Letter("wf-a", "sku-2", "p02"));

        var stored = await store.DeadLetters.GetAsync(id);
        Assert.Equal(attempts, stored!.Attempts);
        var listed = await store.DeadLetters.ListAsync("wf-a");
        Assert.Equal(attempts, listed[0].Attempts);
        Assert.Null(listed[1].Attempts);
        Assert.Null(listed[1].Redrive);
        Assert.Null(listed[1].Superseded);
    }

    [Fact]
    public async Task A_later_delivery_of_the_same_row_supersedes_only_older_open_letters_of_that_row()
    {
        var store = await Database.OpenInitializedAsync();
        var older = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p03"));
        var newer = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p09"));
        var otherRow = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-2", "p04"));
        var otherWorkflow = await store.DeadLetters.AddAsync(Letter("wf-b", "sku-1", "p03"));

        Assert.Equal(
            new[] { ("products", """{"sku":"sku-1"}""", "p03"), ("products", """{"sku":"sku-1"}""", "p09"), ("products", """{"sku":"sku-2"}""", "p04") }.Order(),
            (await store.DeadLetters.ListOpenRowsAsync("wf-a")).Select(r => (r.Table, r.Key, r.Position)).Order());

        Assert.Equal(1, await store.DeadLetters.MarkSupersededAsync("wf-a", "products", """{"sku":"sku-1"}""", "p05"));
        // Marked once: the first later delivery is the one that superseded it.
        Assert.Equal(0, await store.DeadLetters.MarkSupersededAsync("wf-a", "products", """{"sku":"sku-1"}""", "p07"));

        Assert.Equal("p05", (await store.DeadLetters.GetAsync(older))!.Superseded!.ByPosition);
        Assert.Null((await store.DeadLetters.GetAsync(newer))!.Superseded);
        Assert.Null((await store.DeadLetters.GetAsync(otherRow))!.Superseded);
        Assert.Null((await store.DeadLetters.GetAsync(otherWorkflow))!.Superseded);
        Assert.DoesNotContain(await store.DeadLetters.ListOpenRowsAsync("wf-a"), r => r.Position == "p03");
    }

    [Fact]
    public async Task A_redrive_is_recorded_with_its_attempt_and_a_delivered_letter_is_no_longer_selected_or_open()
    {
        var clock = new ManualClock(T0);
        var store = await Database.OpenInitializedAsync(clock);
        var id = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p03", [new(T0, 400, "no")]));
        var other = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-2", "p02"));

        clock.Now = T0.AddHours(1);
        await store.DeadLetters.RecordRedriveAsync(id, DeadLetterStore.Failed, "1.1.0", new DeadLetterAttempt(clock.Now, 400, "still no"));
        var failed = await store.DeadLetters.GetAsync(id);
        Assert.Equal(new DeadLetterRedrive(T0.AddHours(1), "failed", "1.1.0", 1), failed!.Redrive);
        Assert.Equal([new(T0, 400, "no"), new(T0.AddHours(1), 400, "still no")], failed.Attempts!);
        Assert.Equal([other, id], (await store.DeadLetters.SelectForRedriveAsync("wf-a", new DeadLetterFilter(), 10)).Select(l => l.Id));

        clock.Now = T0.AddHours(2);
        await store.DeadLetters.RecordRedriveAsync(id, DeadLetterStore.Delivered, null, new DeadLetterAttempt(clock.Now, null, "accepted"));
        var delivered = await store.DeadLetters.GetAsync(id);
        Assert.Equal(new DeadLetterRedrive(T0.AddHours(2), "delivered", null, 2), delivered!.Redrive);
        Assert.Equal(3, delivered.Attempts!.Count);
        Assert.Equal([other], (await store.DeadLetters.SelectForRedriveAsync("wf-a", new DeadLetterFilter(), 10)).Select(l => l.Id));
        Assert.DoesNotContain(await store.DeadLetters.ListOpenRowsAsync("wf-a"), r => r.Position == "p03");
        // A redriven letter stays readable, and a later delivery does not mark it superseded.
        Assert.Equal(0, await store.DeadLetters.MarkSupersededAsync("wf-a", "products", """{"sku":"sku-1"}""", "p09"));

        await Assert.ThrowsAsync<KeyNotFoundException>(() =>
            store.DeadLetters.RecordRedriveAsync(id + 100, DeadLetterStore.Failed, null, new DeadLetterAttempt(clock.Now, 400, "x")));
        await Assert.ThrowsAsync<ArgumentException>(() =>
            store.DeadLetters.RecordRedriveAsync(id, "maybe", null, new DeadLetterAttempt(clock.Now, 400, "x")));
    }

    [Fact]
    public async Task Redrive_selection_filters_by_stage_table_and_id_range_in_source_order()
    {
        var store = await Database.OpenInitializedAsync();
        var late = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p09"));
        var early = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-2", "p01"));
        var transform = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-3", "p05") with { Stage = "transform", OutputIndex = null, OutputJson = null });
        await store.DeadLetters.AddAsync(Letter("wf-b", "sku-1", "p02"));

        async Task<IEnumerable<long>> Select(DeadLetterFilter f) => (await store.DeadLetters.SelectForRedriveAsync("wf-a", f, 100)).Select(l => l.Id);

        Assert.Equal([early, transform, late], await Select(new DeadLetterFilter()));
        Assert.Equal([early, late], await Select(new DeadLetterFilter(Stage: "delivery")));
        Assert.Equal([transform], await Select(new DeadLetterFilter(Stage: "transform", Table: "products")));
        Assert.Empty(await Select(new DeadLetterFilter(Table: "tickets")));
        Assert.Equal([early, transform], await Select(new DeadLetterFilter(FromId: early)));
        Assert.Equal([late], await Select(new DeadLetterFilter(ToId: late)));
        Assert.Single(await store.DeadLetters.SelectForRedriveAsync("wf-a", new DeadLetterFilter(), 1));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeadLetters.SelectForRedriveAsync("wf-a", new DeadLetterFilter(Stage: "capture"), 10));
    }

    [Fact]
    public async Task Purge_deletes_letters_and_attempts_older_than_the_cutoff_and_counts_them_per_workflow()
    {
        var clock = new ManualClock(T0);
        var store = await Database.OpenInitializedAsync(clock);
        var old1 = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p01", [new(T0, 400, "no")]));
        await store.DeadLetters.AddAsync(Letter("wf-a", "sku-2", "p02"));
        await store.DeadLetters.AddAsync(Letter("wf-b", "sku-1", "p01"));
        clock.Now = T0.AddDays(10);
        var recent = await store.DeadLetters.AddAsync(Letter("wf-a", "sku-3", "p03", [new(T0.AddDays(10), 400, "no")]));

        var purged = await store.DeadLetters.PurgeAsync(T0.AddDays(5));

        Assert.Equal([new PurgedDeadLetters("wf-a", 2), new PurgedDeadLetters("wf-b", 1)], purged);
        Assert.Null(await store.DeadLetters.GetAsync(old1));
        Assert.Equal([recent], (await store.DeadLetters.ListAsync(null)).Select(l => l.Id));
        Assert.Equal(1L, Convert.ToInt64(await Database.ScalarAsync("SELECT COUNT(*) FROM dead_letter_attempts")));
        Assert.Single((await store.DeadLetters.GetAsync(recent))!.Attempts!);
        Assert.Empty(await store.DeadLetters.PurgeAsync(T0.AddDays(5)));
    }

    [Fact]
    public async Task The_row_of_a_letter_comes_from_its_input_and_is_null_for_input_without_a_key()
    {
        // Canonical: as System.Text.Json writes it (the tracker builds the same text from the change).
        Assert.Equal(("products", """{"sku":"a\u00E9"}"""),
            DeadLetterStore.RowOf("""{"table":"products","key":{"sku":"a\u00e9"}}"""));
        Assert.Equal((null, null), DeadLetterStore.RowOf("""{"op":"u","table":"products","after":{"id":7}}"""));
        Assert.Equal((null, null), DeadLetterStore.RowOf("not json"));

        var store = await Database.OpenInitializedAsync();
        await store.DeadLetters.AddAsync(Letter("wf-a", "sku-1", "p01") with { InputJson = "not json" });
        Assert.Empty(await store.DeadLetters.ListOpenRowsAsync("wf-a"));
    }
}

public sealed class SqliteDeadLetterRedriveStoreTests : DeadLetterRedriveStoreTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresDeadLetterRedriveStoreTests(PostgresFixture postgres) : DeadLetterRedriveStoreTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
