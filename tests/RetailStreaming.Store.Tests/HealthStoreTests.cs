namespace RetailStreaming.Store.Tests;

/// <summary>Alert firings and SLA history (migration 6), on both providers.</summary>
public abstract class HealthStoreTests : StoreTestBase
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 2, 8, 0, 30, TimeSpan.Zero);
    private readonly ManualClock _clock = new(T0);

    [Fact]
    public async Task One_firing_per_workflow_and_rule_is_open_and_it_resolves_once()
    {
        var store = await Database.OpenInitializedAsync(_clock);

        var fired = await store.Alerts.TryFireAsync("wf-a", "acme", "lag", 300, 120, "behind", "node-1");
        Assert.NotNull(fired);
        Assert.Null(await store.Alerts.TryFireAsync("wf-a", "acme", "lag", 400, 120, "behind", "node-2"));
        Assert.NotNull(await store.Alerts.TryFireAsync("wf-a", "acme", "stalled", null, null, "stuck", "node-1"));
        Assert.NotNull(await store.Alerts.TryFireAsync("wf-b", "globex", "lag", 200, 120, "behind", "node-1"));
        Assert.Equal(3, (await store.Alerts.OpenAsync()).Count);

        _clock.Now = T0.AddMinutes(5);
        var resolved = await store.Alerts.TryResolveAsync("wf-a", "lag", "caught up");
        Assert.Equal((fired!.Id, T0, T0.AddMinutes(5), "caught up"), (resolved!.Id, resolved.FiredAt, resolved.ResolvedAt!.Value, resolved.ResolvedDetail));
        Assert.Equal((300.0, 120.0), (resolved.Value!.Value, resolved.Threshold!.Value));
        Assert.Null(await store.Alerts.TryResolveAsync("wf-a", "lag", "caught up"));

        // It may fire again afterwards: a new firing.
        Assert.NotEqual(fired.Id, (await store.Alerts.TryFireAsync("wf-a", "acme", "lag", 500, 120, "behind again", "node-1"))!.Id);
        Assert.Equal(["wf-b"], (await store.Alerts.ListAsync("globex", T0.AddDays(-1))).Select(a => a.WorkflowId));
        Assert.Equal(4, (await store.Alerts.ListAsync(null, T0.AddDays(-1))).Count);
    }

    [Fact]
    public async Task Sla_time_is_split_over_minutes_and_adds_up()
    {
        var store = await Database.OpenInitializedAsync(_clock);
        // 08:00:30 to 08:02:00 up (90 s over two minutes), then 08:02:00 to 08:02:45 down, 100 delivered, latency 50 ms.
        await store.Sla.RecordAsync(new SlaObservation("wf-a", "acme", T0, T0.AddSeconds(90), SlaTime.Up, 40, 50));
        await store.Sla.RecordAsync(new SlaObservation("wf-a", "acme", T0.AddSeconds(90), T0.AddSeconds(135), SlaTime.Down, 60, 50));
        await store.Sla.RecordAsync(new SlaObservation("wf-a", "acme", T0.AddSeconds(135), T0.AddSeconds(150), SlaTime.Paused, 0, null));
        await store.Sla.RecordAsync(new SlaObservation("wf-b", "globex", T0, T0.AddSeconds(60), SlaTime.None, 5, 2000));

        var all = await store.Sla.FiguresAsync(null, null, T0.AddHours(-1), T0.AddHours(1));
        Assert.Equal(["wf-a", "wf-b"], all.Select(f => f.WorkflowId));
        var a = all[0];
        Assert.Equal((TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(45), TimeSpan.FromSeconds(15), 100L),
            (a.Up, a.Down, a.Paused, a.Delivered));
        Assert.Equal(new DateTimeOffset(2026, 11, 2, 8, 0, 0, TimeSpan.Zero), a.FirstMinute);
        Assert.Equal(2, a.LatencyBuckets[SlaLatency.Bucket(50)]);
        Assert.Equal((TimeSpan.Zero, 5L), (all[1].Up + all[1].Down + all[1].Paused, all[1].Delivered));

        // Only the minutes in the period count: from 08:01 on, the first minute's 30 s are out.
        var later = Assert.Single(await store.Sla.FiguresAsync("acme", null, T0.AddSeconds(30), T0.AddHours(1)));
        Assert.Equal(TimeSpan.FromSeconds(60), later.Up);
        Assert.Empty(await store.Sla.FiguresAsync("nobody", null, T0.AddHours(-1), T0.AddHours(1)));
    }

    [Fact]
    public void Latency_percentiles_are_within_ten_percent()
    {
        var buckets = new Dictionary<int, long> { [SlaLatency.Bucket(100)] = 98, [SlaLatency.Bucket(5000)] = 2 };
        Assert.InRange(SlaLatency.Percentile(buckets, 0.5)!.Value, 100, 110);
        Assert.InRange(SlaLatency.Percentile(buckets, 0.98)!.Value, 100, 110);
        Assert.InRange(SlaLatency.Percentile(buckets, 0.99)!.Value, 5000, 5500);
        Assert.Null(SlaLatency.Percentile(new Dictionary<int, long>(), 0.5));
    }
}

public sealed class SqliteHealthStoreTests : HealthStoreTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresHealthStoreTests(PostgresFixture postgres) : HealthStoreTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
