using RetailStreaming.Store;
using RetailStreaming.Store.Sqlite;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace RetailStreaming.Node.Tests;

/// <summary>Dead letters (client data) are purged once older than the retention period; the purge is logged without the data.</summary>
public sealed class DeadLetterRetentionTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "rs-retention-" + Guid.NewGuid().ToString("N"));
    private readonly Clock _clock = new(T0);
    private readonly Events _events = new();
    private readonly SqlitePlatformStore _store;

    public DeadLetterRetentionTests()
    {
        Directory.CreateDirectory(_directory);
        _store = new SqlitePlatformStore(Path.Combine(_directory, "platform.db"), _clock);
        _store.InitializeAsync().GetAwaiter().GetResult();
    }

    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class Events : ILogEventSink
    {
        private readonly List<LogEvent> _events = [];
        public void Emit(LogEvent logEvent) { lock (_events) _events.Add(logEvent); }
        public IReadOnlyList<LogEvent> All { get { lock (_events) return _events.ToList(); } }
    }

    private const string Secret = "personal: Jane Doe, 12 rue des Lilas";

    private Task<long> AddAsync(string workflowId) => _store.DeadLetters.AddAsync(new DeadLetter(
        0, workflowId, "acme", "transform", "sqlite:0000000000000000001", null, "1.0.0", "rejected",
        $$$"""{"table":"customers","key":{"id":1},"after":{"name":"{{{Secret}}}"}}""", null, default,
        [new DeadLetterAttempt(T0, 400, Secret)]));

    private DeadLetterRetention Retention(TimeSpan retention, TimeSpan? interval = null) => new(
        _store.DeadLetters,
        new NodeOptions { DeadLetters = { Retention = retention, PurgeInterval = interval ?? TimeSpan.FromHours(1) } },
        _clock,
        new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(_events).CreateLogger());

    [Fact]
    public async Task Letters_older_than_the_retention_are_purged_and_the_purge_is_logged_per_workflow_without_the_data()
    {
        await AddAsync("wf-a");
        await AddAsync("wf-a");
        await AddAsync("wf-b");
        _clock.Now = T0.AddDays(20);
        var recent = await AddAsync("wf-a");
        _clock.Now = T0.AddDays(31);

        var purged = await Retention(TimeSpan.FromDays(30)).PurgeOnceAsync();

        Assert.Equal([new PurgedDeadLetters("wf-a", 2), new PurgedDeadLetters("wf-b", 1)], purged);
        Assert.Equal([recent], (await _store.DeadLetters.ListAsync(null)).Select(l => l.Id));
        var lines = _events.All.Where(e => e.Properties["SourceContext"].ToString() == "\"RetailStreaming.DeadLetters.Retention\"").ToList();
        Assert.Equal(2, lines.Count);
        var a = lines.Single(e => e.Properties["WorkflowId"].ToString() == "\"wf-a\"");
        Assert.Equal("2", a.Properties["Count"].ToString());
        Assert.Contains(T0.AddDays(1).ToString("yyyy-MM-dd"), a.RenderMessage());
        Assert.All(_events.All, e => Assert.DoesNotContain("Jane", e.RenderMessage()));
    }

    [Fact]
    public async Task The_node_service_purges_when_it_starts_and_then_periodically()
    {
        await AddAsync("wf-a");
        _clock.Now = T0.AddDays(2);
        var service = Retention(TimeSpan.FromDays(1), TimeSpan.FromMilliseconds(50));
        await service.StartAsync(CancellationToken.None);
        try
        {
            var until = DateTime.UtcNow.AddSeconds(20);
            while ((await _store.DeadLetters.CountAsync("wf-a")) > 0 && DateTime.UtcNow < until) await Task.Delay(20);
            Assert.Equal(0, await _store.DeadLetters.CountAsync("wf-a"));
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void A_retention_that_is_not_positive_stops_the_node_naming_the_key()
    {
        var options = new NodeOptions { DeadLetters = { Retention = TimeSpan.Zero } };
        var error = Assert.Throws<InvalidOperationException>(() => options.DeadLetters.Validate());
        Assert.Contains("RetailStreaming:DeadLetters:Retention", error.Message);
    }

    public void Dispose()
    {
        _store.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
