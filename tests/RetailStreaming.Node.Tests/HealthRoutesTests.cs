using System.Net;
using System.Text;
using System.Text.Json;
using RetailStreaming.Node.Health;
using RetailStreaming.Node.Tests.Support;

namespace RetailStreaming.Node.Tests;

/// <summary>Liveness, readiness with the journal, a workflow's health in its JSON, the SLA and alert routes.</summary>
[Collection(NodeCollection.Name)]
public sealed class HealthRoutesTests(NodeFixture node)
{
    [Fact]
    public async Task Live_and_ready_need_no_token_and_ready_checks_the_journal()
    {
        using var http = node.Anonymous();
        using (var live = await http.GetAsync("/health/live"))
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);

        var ready = await TestNode.EventuallyAsync(async () =>
        {
            using var response = await http.GetAsync("/health/ready");
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }, r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(20), "ready");
        using var body = JsonDocument.Parse(ready.Body);
        Assert.Equal("ok", body.RootElement.GetProperty("journal").GetString());
    }

    [Fact]
    public async Task An_unreachable_journal_is_named_without_its_connection_string()
    {
        var missing = Path.Combine(Path.GetTempPath(), "rs-no-such-dir-" + Guid.NewGuid().ToString("N"), "journal.db");
        var problem = await new JournalProbe(false, $"Data Source={missing}").ProblemAsync(CancellationToken.None);
        Assert.NotNull(problem);
        Assert.StartsWith("the journal is unreachable", problem);

        var postgres = await new JournalProbe(true, "Host=127.0.0.1;Port=1;Username=x;Password=secret-pw;Timeout=1").ProblemAsync(CancellationToken.None);
        Assert.NotNull(postgres);
        Assert.DoesNotContain("secret-pw", postgres);
    }

    [Fact]
    public async Task A_running_workflow_shows_its_health_in_its_json()
    {
        const string id = "health-json";
        using var http = node.Operator();
        using (var apply = await http.PostAsync($"/api/workflows?file={id}.yaml",
                   new StringContent(node.Definition(id, "vitals"), Encoding.UTF8, "application/yaml")))
            Assert.Equal(HttpStatusCode.OK, apply.StatusCode);

        var health = await TestNode.EventuallyAsync(async () =>
        {
            using var response = await http.GetAsync($"/api/workflows/{id}");
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var status = doc.RootElement.GetProperty("status");
            return status.ValueKind == JsonValueKind.Object && status.GetProperty("health").ValueKind == JsonValueKind.Object
                ? status.GetProperty("health").Clone()
                : default;
        }, h => h.ValueKind == JsonValueKind.Object && h.GetProperty("state").GetString() == "healthy", TimeSpan.FromSeconds(30), $"{id} healthy");
        Assert.False(string.IsNullOrEmpty(health.GetProperty("reason").GetString()));
        Assert.True(health.GetProperty("since").GetDateTimeOffset() <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task The_sla_route_answers_a_report_and_refuses_a_bad_time()
    {
        using var http = node.Operator();
        using (var report = await http.GetAsync("/api/sla?from=2026-01-01&to=2026-01-02"))
        {
            Assert.Equal(HttpStatusCode.OK, report.StatusCode);
            using var doc = JsonDocument.Parse(await report.Content.ReadAsStringAsync());
            Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), doc.RootElement.GetProperty("from").GetDateTimeOffset());
            Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("workflows").ValueKind);
        }
        using (var bad = await http.GetAsync("/api/sla?from=yesterday"))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        // A client token reads its own client's alerts only (other tests own the acme workflows).
        using (var alerts = await node.Acme().GetAsync("/api/alerts"))
            Assert.Equal(HttpStatusCode.OK, alerts.StatusCode);
    }
}
