namespace RetailStreaming.Store.Tests;

public abstract class WorkflowRegistryTests : StoreTestBase
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2025, 1, 1, 8, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Registering_twice_keeps_the_creation_time()
    {
        var store = await Database.OpenInitializedAsync(_clock);
        var created = _clock.Now;

        await store.Workflows.RegisterAsync("wf-a", "client-1");
        _clock.Now = created.AddHours(1);
        await store.Workflows.RegisterAsync("wf-a", "client-1");

        var entry = Assert.Single(await store.Workflows.ListAsync());
        Assert.Equal(new WorkflowEntry("wf-a", "client-1", created, false), entry);
    }

    [Fact]
    public async Task List_by_client_shows_only_that_clients_workflows_by_id()
    {
        var store = await Database.OpenInitializedAsync(_clock);
        await store.Workflows.RegisterAsync("wf-c", "client-1");
        await store.Workflows.RegisterAsync("wf-b", "client-2");
        await store.Workflows.RegisterAsync("wf-a", "client-1");

        Assert.Equal(["wf-a", "wf-c"], (await store.Workflows.ListAsync("client-1")).Select(w => w.WorkflowId));
        Assert.Equal(["wf-b"], (await store.Workflows.ListAsync("client-2")).Select(w => w.WorkflowId));
        Assert.Empty(await store.Workflows.ListAsync("client-3"));
        Assert.Equal(["wf-a", "wf-b", "wf-c"], (await store.Workflows.ListAsync()).Select(w => w.WorkflowId));
    }

    [Fact]
    public async Task Mark_deleted_hides_the_workflow_and_registering_restores_it()
    {
        var store = await Database.OpenInitializedAsync(_clock);
        await store.Workflows.RegisterAsync("wf-a", "client-1");
        await store.Workflows.RegisterAsync("wf-b", "client-1");

        await store.Workflows.MarkDeletedAsync("wf-a");
        await store.Workflows.MarkDeletedAsync("wf-a");
        await store.Workflows.MarkDeletedAsync("wf-never-registered");

        Assert.Equal(["wf-b"], (await store.Workflows.ListAsync()).Select(w => w.WorkflowId));
        Assert.Equal(["wf-b"], (await store.Workflows.ListAsync("client-1")).Select(w => w.WorkflowId));
        Assert.True((await store.Workflows.GetAsync("wf-a"))!.Deleted);

        await store.Workflows.RegisterAsync("wf-a", "client-1");
        Assert.Equal(["wf-a", "wf-b"], (await store.Workflows.ListAsync()).Select(w => w.WorkflowId));
    }

    [Fact]
    public async Task A_workflow_id_cannot_move_to_another_client()
    {
        var store = await Database.OpenInitializedAsync(_clock);
        await store.Workflows.RegisterAsync("wf-a", "client-1");

        await Assert.ThrowsAsync<InvalidOperationException>(() => store.Workflows.RegisterAsync("wf-a", "client-2"));

        Assert.Empty(await store.Workflows.ListAsync("client-2"));
    }

    [Fact]
    public async Task Empty_ids_are_rejected_naming_the_field()
    {
        var store = await Database.OpenInitializedAsync(_clock);

        Assert.Equal("workflowId", (await Assert.ThrowsAsync<ArgumentException>(() => store.Workflows.RegisterAsync("", "client-1"))).ParamName);
        Assert.Equal("clientId", (await Assert.ThrowsAsync<ArgumentException>(() => store.Workflows.RegisterAsync("wf-a", " "))).ParamName);
        Assert.Equal("workflowId", (await Assert.ThrowsAsync<ArgumentException>(() => store.Workflows.MarkDeletedAsync(""))).ParamName);
        Assert.Equal("clientId", (await Assert.ThrowsAsync<ArgumentException>(() => store.Workflows.ListAsync(""))).ParamName);
    }
}

public sealed class SqliteWorkflowRegistryTests : WorkflowRegistryTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresWorkflowRegistryTests(PostgresFixture postgres) : WorkflowRegistryTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
