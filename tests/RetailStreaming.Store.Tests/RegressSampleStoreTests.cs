namespace RetailStreaming.Store.Tests;

/// <summary>Recorded regression samples (migration 7), on both providers: stored, replaced, bounded per table and operation.</summary>
public abstract class RegressSampleStoreTests : StoreTestBase
{
    private static RegressSample Sample(string workflow, int position, string table = "tickets", string operation = "insert", string outputs = "[]") =>
        new(0, workflow, "acme", $"sqlite:{position:D19}", table, operation, $"{{\"id\":{position}}}", "Acme.Sales", "1.0.0",
            $"{{\"position\":\"{position}\"}}", outputs, default);

    [Fact]
    public async Task Samples_are_kept_newest_first_within_the_bound_per_table_and_operation()
    {
        var store = await Database.OpenInitializedAsync();
        var first = Enumerable.Range(1, 8).Select(i => Sample("wf-a", i)).Append(Sample("wf-a", 100, "products", "update")).ToList();
        Assert.Equal(3, await store.RegressSamples.AddAsync(first, bound: 5));
        // Another workflow and another kind are not counted against the bound.
        await store.RegressSamples.AddAsync([Sample("wf-b", 1)], bound: 5);

        var kept = await store.RegressSamples.ListAsync("wf-a");
        Assert.Equal([4, 5, 6, 7, 8, 100], kept.Select(s => int.Parse(s.Position["sqlite:".Length..])));
        Assert.Equal(("tickets", "insert", "Acme.Sales", "1.0.0", "{\"id\":4}"), (kept[0].Table, kept[0].Operation, kept[0].TransformPackage, kept[0].TransformVersion, kept[0].Key));

        // Two more tickets: the two oldest go.
        Assert.Equal(2, await store.RegressSamples.AddAsync([Sample("wf-a", 9), Sample("wf-a", 10)], bound: 5));
        Assert.Equal([6, 7, 8, 9, 10], (await store.RegressSamples.ListAsync("wf-a")).Where(s => s.Table == "tickets").Select(s => int.Parse(s.Position["sqlite:".Length..])));
        Assert.Single(await store.RegressSamples.ListAsync("wf-b"));
    }

    [Fact]
    public async Task A_change_recorded_again_replaces_its_sample_and_becomes_the_newest()
    {
        var store = await Database.OpenInitializedAsync();
        await store.RegressSamples.AddAsync([Sample("wf-a", 1), Sample("wf-a", 2)], bound: 2);
        await store.RegressSamples.AddAsync([Sample("wf-a", 1, outputs: "[{\"type\":\"sale\"}]")], bound: 2);

        var kept = await store.RegressSamples.ListAsync("wf-a");
        Assert.Equal([2, 1], kept.Select(s => int.Parse(s.Position["sqlite:".Length..])));
        Assert.Equal("[{\"type\":\"sale\"}]", kept[1].OutputsJson);
        Assert.Equal(2, await store.RegressSamples.DeleteAsync("wf-a"));
        Assert.Empty(await store.RegressSamples.ListAsync("wf-a"));
    }

    [Fact]
    public async Task Samples_of_a_deleted_workflow_are_not_written_again()
    {
        var store = await Database.OpenInitializedAsync();
        await store.Workflows.RegisterAsync("wf-a", "acme");
        await store.Workflows.RegisterAsync("wf-b", "acme");
        await store.Workflows.MarkDeletedAsync("wf-a");

        // A flush that picked samples before the deletion: wf-a's are dropped, wf-b's kept.
        await store.RegressSamples.AddAsync([Sample("wf-a", 1), Sample("wf-b", 2)], bound: 5);

        Assert.Empty(await store.RegressSamples.ListAsync("wf-a"));
        Assert.Single(await store.RegressSamples.ListAsync("wf-b"));
    }
}

public sealed class SqliteRegressSampleStoreTests : RegressSampleStoreTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresRegressSampleStoreTests(PostgresFixture postgres) : RegressSampleStoreTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
