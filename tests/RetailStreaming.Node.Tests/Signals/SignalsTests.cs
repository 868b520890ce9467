using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RetailStreaming.Node.Tests.Support;

namespace RetailStreaming.Node.Tests.Signals;

/// <summary>
/// Metrics on /metrics after a known workload (real workflow, real webhook endpoint, scraped over
/// HTTP), a batch's spans in one trace, JSON logs with the workflow's properties, and the recent
/// errors in the status.
/// </summary>
[Collection(SignalsCollection.Name)]
public sealed class SignalsTests(SignalsNodeFixture node)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(40);
    private const string Client = "shop";

    [Fact]
    public async Task Metrics_after_a_known_workload_count_exactly_what_the_workflow_did()
    {
        const string id = "signals-metrics";
        var (yaml, database) = node.Workload(id, Client, products: 4, gadgets: 2);
        using var http = node.Operator();
        await ApplyAsync(http, yaml, id);
        await DeliveredAsync(http, id, 6);

        // 6 changes: 4 products (one record each), 2 gadgets refused by the transform.
        var samples = await ScrapeUntilAsync(http, s => Value(s, "retailstreaming_delivered_changes_total", id) == 6, "6 changes delivered");
        Assert.Equal(6, Value(samples, "retailstreaming_captured_changes_total", id));
        Assert.Equal(6, Value(samples, "retailstreaming_transformed_changes_total", id));
        Assert.Equal(4, Value(samples, "retailstreaming_delivered_records_total", id));
        Assert.Equal(2, Value(samples, "retailstreaming_dead_lettered_total", id, ("stage", "transform")));
        Assert.Null(Value(samples, "retailstreaming_dead_lettered_total", id, ("stage", "delivery")));
        Assert.Null(Value(samples, "retailstreaming_delivery_retries_total", id));
        Assert.Equal(4, Value(samples, "retailstreaming_commit_to_delivery_seconds_count", id));
        Assert.Equal(4, Value(samples, "retailstreaming_commit_to_delivery_seconds_bucket", id, ("le", "+Inf")));
        Assert.NotNull(Value(samples, "retailstreaming_commit_to_delivery_seconds_bucket", id, ("le", "0.25")));
        Assert.Equal(1, Value(samples, "retailstreaming_workflow_running", id));
        Assert.Equal(0, Value(samples, "retailstreaming_delivery_circuit_state", id));
        Assert.True(Value(samples, "retailstreaming_checkpoint_age_seconds", id) >= 0);
        Assert.All(samples.Where(s => s.Labels.GetValueOrDefault("workflow_id") == id),
            s => Assert.Equal(Client, s.Labels["client_id"]));

        // Three more products, captured live: the counters move by exactly three.
        using (var connection = new SqliteConnection($"Data Source={database};Pooling=False"))
        {
            connection.Open();
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "INSERT INTO products (sku, name, price, category) VALUES ('sku-5', 'Five', 5, 't'), ('sku-6', 'Six', 6, 't'), ('sku-7', 'Seven', 7, 't');";
            cmd.ExecuteNonQuery();
        }
        samples = await ScrapeUntilAsync(http, s => Value(s, "retailstreaming_delivered_changes_total", id) == 9, "9 changes delivered");
        Assert.Equal(9, Value(samples, "retailstreaming_captured_changes_total", id));
        Assert.Equal(9, Value(samples, "retailstreaming_transformed_changes_total", id));
        Assert.Equal(7, Value(samples, "retailstreaming_delivered_records_total", id));
        Assert.Equal(7, Value(samples, "retailstreaming_commit_to_delivery_seconds_count", id));
        Assert.Equal(2, Value(samples, "retailstreaming_dead_lettered_total", id, ("stage", "transform")));
        // The status says the same.
        var status = (await StatusAsync(http, id)).GetProperty("status");
        Assert.Equal(9, status.GetProperty("capturedChanges").GetInt64());
        Assert.Equal(7, status.GetProperty("deliveredRecords").GetInt64());

        // The source reports its lag once it has caught up (SQLite counts pending changes).
        samples = await ScrapeUntilAsync(http, s => Value(s, "retailstreaming_source_pending_changes", id) == 0, "source lag reported as 0");
        Assert.Equal(0, Value(samples, "retailstreaming_source_lag_seconds", id));
    }

    [Fact]
    public async Task Cluster_metrics_show_the_members_and_this_nodes_shards()
    {
        const string id = "signals-cluster";
        var (yaml, _) = node.Workload(id, Client, products: 1, gadgets: 0);
        using var http = node.Operator();
        await ApplyAsync(http, yaml, id);
        await DeliveredAsync(http, id, 1);

        var samples = await ScrapeUntilAsync(http,
            s => s.Any(x => x.Name == "retailstreaming_shard_entities" && x.Value >= 1), "a shard entity sampled");
        Assert.Equal(1, samples.Single(s => s.Name == "retailstreaming_cluster_members" && s.Labels["status"] == "up").Value);
        Assert.Equal(0, samples.Single(s => s.Name == "retailstreaming_cluster_unreachable_members").Value);
        var shards = samples.Single(s => s.Name == "retailstreaming_shards");
        Assert.True(shards.Value >= 1);
        Assert.Matches(@"^127\.0\.0\.1:\d+$", shards.Labels["node"]);
    }

    [Fact]
    public async Task Metrics_need_an_operator_token()
    {
        using (var anonymous = node.Anonymous())
        using (var response = await anonymous.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using (var client = node.Client())
        using (var response = await client.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        using (var bad = node.Anonymous())
        {
            bad.DefaultRequestHeaders.Authorization = new("Bearer", "not-a-token");
            using var response = await bad.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using (var operatorHttp = node.Operator())
        using (var response = await operatorHttp.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task A_batch_is_one_trace_from_capture_through_transform_to_each_delivery_attempt()
    {
        const string id = "signals-trace";
        var (yaml, _) = node.Workload(id, Client, products: 3, gadgets: 0);
        using var http = node.Operator();
        await ApplyAsync(http, yaml, id);
        await DeliveredAsync(http, id, 3);

        var ours = await TestNode.EventuallyAsync(
            () => Task.FromResult(node.Spans.Where(s => (string?)s.GetTagItem("retailstreaming.workflow_id") == id).ToList()),
            spans => spans.Any(s => s.OperationName == "deliver"), Within, "a deliver span of the workflow");
        var deliver = ours.First(s => s.OperationName == "deliver");
        var capture = Assert.Single(ours, s => s.OperationName == "capture" && s.SpanId == deliver.ParentSpanId);
        var transform = Assert.Single(ours, s => s.OperationName == "transform" && s.TraceId == capture.TraceId);
        var attempts = node.Spans.Where(s => s.OperationName == "delivery attempt" && s.ParentSpanId == deliver.SpanId).ToList();

        Assert.Equal(default, capture.ParentSpanId); // the read starts the trace
        Assert.Equal(capture.SpanId, transform.ParentSpanId);
        Assert.Equal(capture.TraceId, deliver.TraceId);
        var attempt = Assert.Single(attempts);
        Assert.Equal(capture.TraceId, attempt.TraceId);
        Assert.Equal(200, attempt.GetTagItem("http.response.status_code"));
        Assert.Equal(Client, capture.GetTagItem("retailstreaming.client_id"));
        Assert.Equal("1.0.0", deliver.GetTagItem("retailstreaming.transform_version"));
        Assert.Equal(ActivityStatusCode.Unset, attempt.Status);
    }

    [Fact]
    public async Task Json_logs_parse_as_json_and_carry_the_workflow_properties()
    {
        const string id = "signals-logs";
        var (yaml, _) = node.Workload(id, Client, products: 1, gadgets: 1);
        using var http = node.Operator();
        await ApplyAsync(http, yaml, id);
        await DeliveredAsync(http, id, 2);

        // The gadget's rejection is logged with the change's position.
        var rejection = await TestNode.EventuallyAsync(
            () => Task.FromResult(node.LogLines().Select(Parse).FirstOrDefault(e =>
                Text(e, "WorkflowId") == id && Text(e, "@mt")?.StartsWith("Transform rejected change", StringComparison.Ordinal) == true)),
            e => e.ValueKind == JsonValueKind.Object, Within, "the rejection logged as JSON");
        Assert.Equal(Client, Text(rejection, "ClientId"));
        Assert.Equal("1.0.0", Text(rejection, "TransformVersion"));
        Assert.StartsWith("sqlite:", Text(rejection, "SourcePosition"));
        Assert.Equal("Warning", Text(rejection, "@l"));

        // Every line is one JSON object.
        var lines = node.LogLines();
        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.Equal(JsonValueKind.Object, Parse(line).ValueKind));
        Assert.Contains(lines.Select(Parse), e => Text(e, "WorkflowId") == id && Text(e, "@mt")?.Contains("{SourcePosition}") == true
            && Text(e, "@mt")!.StartsWith("Stream", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_workflow_keeps_its_last_twenty_errors_with_stage_and_position_newest_first()
    {
        const string id = "signals-errors";
        var (yaml, _) = node.Workload(id, Client, products: 1, gadgets: 25);
        using var http = node.Operator();
        await ApplyAsync(http, yaml, id);
        await DeliveredAsync(http, id, 26);

        var errors = await TestNode.EventuallyAsync(
            async () => (await StatusAsync(http, id)).GetProperty("status").GetProperty("recentErrors"),
            e => e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 20, Within, "20 recent errors");
        var list = errors.EnumerateArray().ToList();
        Assert.All(list, e =>
        {
            Assert.Equal("transform", e.GetProperty("stage").GetString());
            Assert.StartsWith("sqlite:", e.GetProperty("position").GetString());
            Assert.Contains("gadgets", e.GetProperty("message").GetString());
        });
        var positions = list.Select(e => e.GetProperty("position").GetString()!).ToList();
        Assert.Equal(positions.OrderDescending(StringComparer.Ordinal), positions);
        Assert.Equal(20, positions.Distinct().Count());

        // The client's own token sees them too.
        using var client = node.Client();
        using var response = await client.GetAsync($"/api/workflows/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static async Task ApplyAsync(HttpClient http, string yaml, string id)
    {
        using var response = await http.PostAsync($"/api/workflows?file={id}.yaml", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> StatusAsync(HttpClient http, string id)
    {
        using var response = await http.GetAsync($"/api/workflows/{id}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private static Task<JsonElement> DeliveredAsync(HttpClient http, string id, long changes) =>
        TestNode.EventuallyAsync(() => StatusAsync(http, id),
            w => w.TryGetProperty("status", out var st) && st.ValueKind == JsonValueKind.Object
                 && st.GetProperty("deliveredChanges").GetInt64() >= changes,
            Within, $"{id}: {changes} changes delivered");

    private static Task<List<PrometheusSample>> ScrapeUntilAsync(HttpClient http, Func<List<PrometheusSample>, bool> condition, string what) =>
        TestNode.EventuallyAsync(async () =>
        {
            using var response = await http.GetAsync("/metrics");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            return PrometheusText.Parse(text);
        }, condition, Within, what);

    /// <summary>The value of the one sample of <paramref name="name"/> for the workflow (and extra labels), or null when there is none.</summary>
    private static double? Value(List<PrometheusSample> samples, string name, string workflowId, params (string Key, string Value)[] labels)
    {
        var matching = samples.Where(s => s.Name == name && s.Labels.GetValueOrDefault("workflow_id") == workflowId
                                          && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).ToList();
        Assert.True(matching.Count <= 1, $"{matching.Count} samples of {name} for {workflowId}");
        return matching.Count == 0 ? null : matching[0].Value;
    }

    private static JsonElement Parse(string line)
    {
        using var document = JsonDocument.Parse(line);
        return document.RootElement.Clone();
    }

    private static string? Text(JsonElement e, string property) =>
        e.TryGetProperty(property, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
}
