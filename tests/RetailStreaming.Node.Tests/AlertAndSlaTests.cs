using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using RetailStreaming.Node.Health;
using RetailStreaming.Node.Tests.Support;
using RetailStreaming.Store;
using RetailStreaming.Store.Sqlite;
using RetailStreaming.Workflows.Health;
using RetailStreaming.Workflows.Protocol;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace RetailStreaming.Node.Tests;

/// <summary>
/// Alerts fire once and resolve once (to a real HTTP endpoint and to the log); SLA figures after a
/// known history, on a clock the test moves.
/// </summary>
public sealed class AlertAndSlaTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 2, 8, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "rs-alerts-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(T0);
    private readonly Events _events = new();
    private SqlitePlatformStore _store = null!;
    private WebhookEndpoint _endpoint = null!;

    private sealed class Events : ILogEventSink
    {
        private readonly List<LogEvent> _events = [];
        public void Emit(LogEvent logEvent) { lock (_events) _events.Add(logEvent); }
        public IReadOnlyList<LogEvent> All { get { lock (_events) return _events.ToList(); } }
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _store = new SqlitePlatformStore(Path.Combine(_directory, "platform.db"), _clock);
        await _store.InitializeAsync();
        _endpoint = await WebhookEndpoint.StartAsync("whsec_" + Convert.ToBase64String(new byte[32]));
    }

    public async Task DisposeAsync()
    {
        await _endpoint.DisposeAsync();
        _store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private Serilog.ILogger Logger => new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(_events).CreateLogger();

    private AlertEngine Engine(string node, AlertsSection? alerts = null)
    {
        alerts ??= new AlertsSection { WebhookUrl = _endpoint.UrlFor("alerts"), LagAbove = TimeSpan.FromMinutes(2) };
        return new AlertEngine(_store, new AlertNotifier(alerts, logger: Logger), alerts, new SlaSection(), node, _clock, Logger);
    }

    private static WorkflowStatus Status(string health, string reason = "", long delivered = 0, DateTimeOffset? lastDelivery = null,
        double? latencyMs = null, double? lagSeconds = null, string workflowId = "wf-orders") =>
        new(workflowId, "acme", 1, "Pkg", "1.0.0", health == WorkflowHealthState.Paused ? WorkflowRunState.Paused : WorkflowRunState.Running,
            null, null, "sqlite:1", "sqlite:1", delivered, delivered, delivered, 0, 0, 0, 0, 0, 100, 5, lagSeconds, latencyMs, lastDelivery,
            "127.0.0.1:4053", Health: new WorkflowHealth(health, reason, T0));

    [Fact]
    public async Task A_stalled_workflow_fires_once_and_resolves_once_to_the_webhook_and_the_log()
    {
        var engine = Engine("127.0.0.1:4053");
        var stalled = Status(WorkflowHealthState.Stalled, "no delivery for 5m while 120 change(s) are pending");

        var sent = new List<AlertNotification>();
        for (var i = 0; i < 3; i++)
        {
            sent.AddRange(await engine.EvaluateAsync([stalled]));
            _clock.Advance(TimeSpan.FromSeconds(15));
        }
        // Another node evaluating the same workflow (it just moved there) does not notify it again.
        sent.AddRange(await Engine("127.0.0.1:4054").EvaluateAsync([stalled]));
        var firedAt = T0;
        Assert.Equal([(AlertNotification.Firing, AlertRules.Stalled)], sent.Select(n => (n.Kind, n.Rule)));

        var healthy = Status(WorkflowHealthState.Healthy, "delivering", 10, _clock.GetUtcNow());
        for (var i = 0; i < 3; i++)
        {
            sent.AddRange(await engine.EvaluateAsync([healthy]));
            _clock.Advance(TimeSpan.FromSeconds(15));
        }
        Assert.Equal([(AlertNotification.Firing, AlertRules.Stalled), (AlertNotification.Resolved, AlertRules.Stalled)],
            sent.Select(n => (n.Kind, n.Rule)));

        // The endpoint got exactly those two, with what an operator needs.
        var bodies = _endpoint.Received.Where(r => r.Path == "alerts").Select(r => JsonDocument.Parse(r.Body).RootElement).ToList();
        Assert.Equal(2, bodies.Count);
        Assert.Equal(["firing", "resolved"], bodies.Select(b => b.GetProperty("kind").GetString()));
        Assert.All(bodies, b =>
        {
            Assert.Equal("wf-orders", b.GetProperty("workflowId").GetString());
            Assert.Equal("acme", b.GetProperty("clientId").GetString());
            Assert.Equal("stalled", b.GetProperty("rule").GetString());
            Assert.Equal(firedAt, b.GetProperty("firedAt").GetDateTimeOffset());
        });
        Assert.Contains("120 change(s) are pending", bodies[0].GetProperty("detail").GetString());
        Assert.Equal(T0.AddSeconds(45), bodies[1].GetProperty("resolvedAt").GetDateTimeOffset());
        Assert.Equal(bodies[0].GetProperty("alertId").GetInt64(), bodies[1].GetProperty("alertId").GetInt64());

        // And the log: one warning for the firing, one information line for the resolution.
        var alertLines = _events.All.Where(e => e.Properties.TryGetValue("SourceContext", out var c) && c.ToString() == "\"RetailStreaming.Alerts\"").ToList();
        Assert.Equal([LogEventLevel.Warning, LogEventLevel.Information], alertLines.Select(e => e.Level));
        Assert.Contains("wf-orders", alertLines[0].RenderMessage());
        Assert.Contains("resolved", alertLines[1].RenderMessage());

        var history = await _store.Alerts.ListAsync(null, T0.AddDays(-1));
        var row = Assert.Single(history);
        Assert.Equal((T0, T0.AddSeconds(45)), (row.FiredAt, row.ResolvedAt!.Value));
    }

    [Fact]
    public async Task Lag_and_breaker_rules_carry_value_and_threshold_and_a_paused_workflow_clears_them()
    {
        var engine = Engine("127.0.0.1:4053");
        var lagging = Status(WorkflowHealthState.Lagging, "behind", lagSeconds: 300) with
        {
            Endpoint = new DeliveryEndpointStatus("http://client/hooks", "open", 7, T0.AddSeconds(30), null, null, T0),
        };

        var fired = await engine.EvaluateAsync([lagging]);
        Assert.Equal([AlertRules.BreakerOpen, AlertRules.Lag], fired.Select(n => n.Rule).Order());
        var lag = fired.Single(n => n.Rule == AlertRules.Lag);
        Assert.Equal((300.0, 120.0), (lag.Value!.Value, lag.Threshold!.Value));
        Assert.Equal(7.0, fired.Single(n => n.Rule == AlertRules.BreakerOpen).Value);

        _clock.Advance(TimeSpan.FromMinutes(1));
        var resolved = await engine.EvaluateAsync([Status(WorkflowHealthState.Paused, "paused by an operator", lagSeconds: 900)]);
        Assert.Equal([AlertRules.BreakerOpen, AlertRules.Lag], resolved.Where(n => n.Kind == AlertNotification.Resolved).Select(n => n.Rule).Order());
        Assert.Equal(4, _endpoint.Received.Count(r => r.Path == "alerts"));
    }

    [Fact]
    public async Task Wal_retained_and_error_rate_rules_fire_on_their_thresholds()
    {
        var alerts = new AlertsSection { WalRetainedAbove = 1_000_000, ErrorRateAbove = 10, Stalled = false, BreakerOpen = false, SlaBreach = false };
        var engine = Engine("127.0.0.1:4053", alerts);
        var quiet = Status(WorkflowHealthState.Healthy) with { SourcePendingBytes = 10 };
        Assert.Empty(await engine.EvaluateAsync([quiet]));

        _clock.Advance(TimeSpan.FromMinutes(1));
        // 30 retries in a minute, and 2 MB of WAL kept.
        var noisy = quiet with { Retries = 30, SourcePendingBytes = 2_000_000 };
        var fired = await engine.EvaluateAsync([noisy]);
        Assert.Equal([AlertRules.ErrorRate, AlertRules.WalRetained], fired.Select(n => n.Rule).Order());
        Assert.Equal(30.0, fired.Single(n => n.Rule == AlertRules.ErrorRate).Value!.Value, 3);
    }

    [Fact]
    public async Task Sla_figures_after_a_known_history_count_paused_apart_and_survive_the_node()
    {
        var recorder = new SlaRecorder(_store.Sla, TimeSpan.FromMinutes(1), _clock);
        long delivered = 0;
        // Minutes 0..59 healthy, a delivery each minute: 50 at 100 ms, 10 at 1 s.
        for (var m = 0; m < 60; m++)
        {
            if (m > 0) delivered += 100;
            await recorder.RecordAsync([Status(WorkflowHealthState.Healthy, delivered: delivered, lastDelivery: _clock.GetUtcNow(), latencyMs: m < 50 ? 100 : 1000)]);
            _clock.Advance(TimeSpan.FromMinutes(1));
        }
        // Minutes 60..61 stalled; 62..71 paused; 72 healthy again; the last observation at 73.
        for (var m = 60; m < 74; m++)
        {
            var health = m < 62 ? WorkflowHealthState.Stalled : m < 72 ? WorkflowHealthState.Paused : WorkflowHealthState.Healthy;
            if (m == 73) delivered += 100;
            await recorder.RecordAsync([Status(health, delivered: delivered, lastDelivery: m == 73 ? _clock.GetUtcNow() : null, latencyMs: 100)]);
            if (m < 73) _clock.Advance(TimeSpan.FromMinutes(1));
        }
        // A gap (no node observed it) is not counted as anything.
        _clock.Advance(TimeSpan.FromMinutes(30));
        await recorder.RecordAsync([Status(WorkflowHealthState.Healthy, delivered: delivered)]);
        var end = _clock.GetUtcNow();

        // Read back through another store on the same database: what a surviving node would do.
        using var other = new SqlitePlatformStore(Path.Combine(_directory, "platform.db"), _clock);
        await other.InitializeAsync();
        var report = await new SlaReports(other, new SlaSection(), _clock).BuildAsync("acme", T0, end);

        var row = Assert.Single(report.Workflows);
        Assert.Equal("wf-orders", row.WorkflowId);
        Assert.Equal(61 * 60, row.UpSeconds);
        Assert.Equal(2 * 60, row.DownSeconds);
        Assert.Equal(10 * 60, row.PausedSeconds);
        Assert.Equal(Math.Round(61.0 / 63 * 100, 4), row.UptimePercent);
        Assert.Equal(99.9, row.TargetPercent);
        Assert.Equal("breached", row.Met);
        Assert.Equal(5900 + 100, row.Delivered);
        Assert.Equal(60, row.LatencySamples);
        Assert.InRange(row.LatencyP50Ms!.Value, 100, 110);
        Assert.InRange(row.LatencyP99Ms!.Value, 1000, 1100);
        Assert.Equal(Math.Round(6000 / (end - T0).TotalDays, 1), row.VolumePerDay);

        // A lower target for that workflow is met; another client sees nothing of it.
        var lenient = new SlaSection { Targets = { ["wf-orders"] = 0.95 } };
        Assert.Equal("met", Assert.Single((await new SlaReports(other, lenient, _clock).BuildAsync(null, T0, end)).Workflows).Met);
        Assert.Empty((await new SlaReports(other, lenient, _clock).BuildAsync("globex", T0, end)).Workflows);
    }

    [Fact]
    public async Task The_sla_rule_fires_when_uptime_over_the_window_is_below_target()
    {
        await _store.Sla.RecordAsync(new SlaObservation("wf-orders", "acme", T0, T0.AddMinutes(50), SlaTime.Up, 0, null));
        await _store.Sla.RecordAsync(new SlaObservation("wf-orders", "acme", T0.AddMinutes(50), T0.AddMinutes(60), SlaTime.Down, 0, null));
        _clock.SetUtcNow(T0.AddMinutes(61));
        var alerts = new AlertsSection { Stalled = false, BreakerOpen = false };
        var fired = Assert.Single(await Engine("127.0.0.1:4053", alerts).EvaluateAsync([Status(WorkflowHealthState.Healthy)]));
        Assert.Equal(AlertRules.Sla, fired.Rule);
        Assert.Equal(50.0 / 60, fired.Value!.Value, 6);
        Assert.Equal(0.999, fired.Threshold);
    }
}
