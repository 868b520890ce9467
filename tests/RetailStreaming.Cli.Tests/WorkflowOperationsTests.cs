using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary>A node of its own, so that sequences and listings are exactly what these tests made.</summary>
public sealed class OperationsNode : CliNode;

/// <summary>
/// rsctl workflow replay, snapshot and delete against a real node and real SQLite sources: golden
/// tables, exit codes, the <c>--json</c> shape, what the endpoint receives and what is left in the
/// client database; and every new route with an operator token, another client's token, a revoked
/// token and none.
/// </summary>
public sealed class WorkflowOperationsTests(OperationsNode node) : IClassFixture<OperationsNode>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);
    private readonly Golden _golden = new();

    [Fact]
    public async Task Replay_snapshot_and_delete_print_their_golden_output_and_do_what_they_say()
    {
        const string id = "ops-orders";
        _golden.Know(node.Root, "<root>");
        var file = node.WriteDefinition(id, "opsclient");
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        RetailSource.Insert(node.DatabaseOf(id), 3, 5);
        await DeliveredAsync(id, 5, "the 2 seed products and 3 inserts delivered, checkpointed");
        var firstKeys = node.Endpoint.ReceivedBy(id).ToDictionary(r => r.Key, r => r.Id);
        Assert.Equal(5, firstKeys.Count);

        // replay: the changes after the 3rd again, with the keys they had
        await Expect("workflow-replay", 0, "workflow", "replay", id, "--from", "sqlite:0000000000000000003");
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 7, Within, "sku-4 and sku-5 delivered again");
        var again = node.Endpoint.ReceivedBy(id).Skip(5).ToList();
        Assert.Equal(["sku-4", "sku-5"], again.Select(r => r.Key));
        Assert.All(again, r => Assert.Equal(firstKeys[r.Key], r.Id));
        await ShowAsync(id, s => s.GetProperty("replayUntil").ValueKind == JsonValueKind.Null
                                 && s.GetProperty("checkpoint").GetString() == "sqlite:0000000000000000005", "the replay over");
        AssertShape(await Json("workflow", "replay", id, "--from", "sqlite:0000000000000000004"), "workflowId", "state", "from", "until", "earliest");
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 8, Within, "sku-5 delivered a third time");
        await ShowAsync(id, s => s.GetProperty("replayUntil").ValueKind == JsonValueKind.Null, "the second replay over");
        await ExpectError("workflow-replay-not-a-position", 1, "workflow", "replay", id, "--from", "12");
        await ExpectError("workflow-replay-usage", 2, "workflow", "replay", id);

        // a source that keeps one change below its checkpoint (source.retention: 1) cannot reach further back
        const string short_ = "ops-short";
        var shortFile = node.WriteDefinition(short_, "opsclient");
        var shortPath = Path.Combine(node.Root, shortFile);
        await File.WriteAllTextAsync(shortPath, (await File.ReadAllTextAsync(shortPath)).Replace("  pollInterval: 100ms\n", "  pollInterval: 100ms\n  retention: 1\n"));
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", shortFile)).ExitCode);
        RetailSource.Insert(node.DatabaseOf(short_), 3, 6);
        await DeliveredAsync(short_, 6, "6 delivered and checkpointed");
        await TestNode.EventuallyAsync(() => Task.FromResult(ChangeRows(short_)), n => n == 1, Within, "the change table pruned down to its retention");
        await ExpectError("workflow-replay-too-far", 1, "workflow", "replay", short_, "--from", "sqlite:0000000000000000002");
        await Expect("workflow-replay-earliest", 0, "workflow", "replay", short_, "--from", "earliest");

        // snapshot: every row of the table read again, after the changes
        await Expect("workflow-snapshot", 0, "workflow", "snapshot", id, "--table", "products");
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 13, Within, "the 5 products read again");
        Assert.Equal(["sku-1", "sku-2", "sku-3", "sku-4", "sku-5"], node.Endpoint.ReceivedBy(id).Skip(8).Select(r => r.Key));
        var snapshot = await Json("workflow", "snapshot", id);
        AssertShape(snapshot, "workflowId", "tables", "snapshotIds");
        Assert.Equal(["products"], snapshot.GetProperty("tables").EnumerateArray().Select(t => t.GetString()));
        await ExpectError("workflow-snapshot-unknown-table", 1, "workflow", "snapshot", id, "--table", "orders");
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 18, Within, "the 5 products read a third time");

        // delete: drained, stopped, the capture gone from the client database, the history kept
        await DeliveredAsync(id, 18, "everything delivered before the delete");
        await Expect("workflow-delete", 0, "workflow", "delete", id);
        Assert.Equal(0, CaptureObjects(id));
        RetailSource.Insert(node.DatabaseOf(id), 6, 7);
        await Expect("workflow-show-deleted", 0, "workflow", "show", id);
        await Expect("workflow-delete-again", 0, "workflow", "delete", id);
        Assert.Equal(0, (await node.OperatorAsync("workflow", "history", id)).ExitCode);
        Assert.Equal(0, (await node.OperatorAsync("dlq", "list", id)).ExitCode);
        Assert.DoesNotContain(id, (await node.OperatorAsync("workflow", "list")).Out);
        await ExpectError("workflow-apply-deleted", 1, "workflow", "apply", "-f", file);
        await ExpectError("workflow-pause-deleted", 1, "workflow", "pause", id);
        Assert.Equal(18, node.Endpoint.ReceivedBy(id).Count);
        AssertShape(await Json("workflow", "delete", id), "workflowId", "state", "changed", "checkpoint", "captureRemoved", "capture");
        await ExpectError("workflow-delete-unknown", 3, "workflow", "delete", "no-such-workflow");

        _golden.AssertAll();
    }

    [Fact]
    public async Task Every_new_route_answers_by_token_and_is_audited()
    {
        const string own = "ops-auth-own", other = "ops-auth-theirs";
        foreach (var (wf, client) in new[] { (own, "opsacme"), (other, "opsrival") })
            Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", node.WriteDefinition(wf, client))).ExitCode);
        await DeliveredAsync(other, 2, "the other client's workflow delivered");
        var (acme, acmeInfo) = await node.Tokens.IssueAsync("client", "opsacme", "operations acme");
        var (revoked, revokedInfo) = await node.Tokens.IssueAsync("operator", null, "operations revoked");
        await node.Tokens.RevokeAsync(revokedInfo.Id);

        var definition = JsonDocument.Parse((await node.OperatorAsync("workflow", "history", other, "--json")).Out).RootElement;
        var promotion = JsonSerializer.Serialize(new
        {
            yaml = definition.GetProperty("versions")[0].GetProperty("yaml").GetString(),
            fileName = other + ".yaml",
            transformPackage = "RetailStreaming.Samples.Retail",
            transformVersion = "1.0.0",
            contentHash = "not-the-hash",
        });
        const HttpStatusCode ok = HttpStatusCode.OK, notFound = HttpStatusCode.NotFound, forbidden = HttpStatusCode.Forbidden;
        (string Method, string Path, string? Body, HttpStatusCode Operator, HttpStatusCode Client)[] routes =
        [
            ("GET", $"/api/workflows/{other}/definition", null, ok, notFound),
            ("POST", $"/api/workflows/{other}/replay?from=earliest", null, ok, forbidden),
            ("POST", $"/api/workflows/{other}/snapshot", null, HttpStatusCode.Accepted, forbidden),
            // The node holds the package, with another hash than the one claimed.
            ("POST", "/api/promotions?dryRun=true", promotion, HttpStatusCode.Conflict, forbidden),
            ("DELETE", $"/api/workflows/{other}", null, ok, forbidden),
        ];
        var failures = new List<string>();
        foreach (var route in routes)
        foreach (var (who, token, expected) in new (string, string?, HttpStatusCode)[]
                 {
                     ("acme client", acme, route.Client), ("revoked", revoked, HttpStatusCode.Unauthorized),
                     ("no token", null, HttpStatusCode.Unauthorized), ("operator", node.OperatorToken, route.Operator),
                 })
        {
            using var http = TestNode.Client(node.AdminUrl, token);
            using var request = new HttpRequestMessage(new HttpMethod(route.Method), route.Path);
            if (route.Body is not null) request.Content = new StringContent(route.Body, Encoding.UTF8, "application/json");
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != expected)
                failures.Add($"{route.Method} {route.Path} as {who}: {(int)response.StatusCode}, expected {(int)expected}: {body}");
            if (who != "operator" && body.Contains("opsrival", StringComparison.Ordinal))
                failures.Add($"{route.Method} {route.Path} as {who} shows the other client: {body}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The client reads its own workflow's definition; every change is audited with its caller.
        using (var acmeHttp = TestNode.Client(node.AdminUrl, acme))
            Assert.Equal(ok, (await acmeHttp.GetAsync($"/api/workflows/{own}/definition")).StatusCode);
        var deletes = node.Audit.Events.Where(e => AuditSink.Property(e, "Path") == $"/api/workflows/{other}" && AuditSink.Property(e, "Method") == "DELETE").ToList();
        Assert.Contains(deletes, e => AuditSink.Property(e, "TokenId") == node.OperatorTokenId && AuditSink.Property(e, "Status") == "200");
        Assert.Contains(deletes, e => AuditSink.Property(e, "TokenId") == acmeInfo.Id && AuditSink.Property(e, "Status") == "403");
        Assert.Contains(deletes, e => AuditSink.Property(e, "TokenId") is null && AuditSink.Property(e, "Status") == "401");
        foreach (var path in new[] { $"/api/workflows/{other}/replay?from=earliest", $"/api/workflows/{other}/snapshot", "/api/promotions?dryRun=true" })
            Assert.Contains(node.Audit.Events, e => AuditSink.Property(e, "Path") == path && AuditSink.Property(e, "TokenId") == node.OperatorTokenId);

        // And rsctl says the same: not allowed (3) for the client, done for the operator.
        foreach (var command in new[] { new[] { "workflow", "delete", own }, ["workflow", "replay", own, "--from", "earliest"], ["workflow", "snapshot", own] })
        {
            var run = await node.RsctlAsync(acme, command);
            Assert.True(run.ExitCode == 3, run.ToString());
            Assert.Contains("not allowed", run.Error);
        }
    }

    private async Task DeliveredAsync(string id, int changes, string what) =>
        await ShowAsync(id, s => s.GetProperty("state").GetString() == "running" && s.GetProperty("deliveredChanges").GetInt64() >= changes
                                 && s.GetProperty("checkpoint").GetString() == s.GetProperty("deliveredPosition").GetString()
                                 && s.GetProperty("sourcePendingChanges").ValueKind == JsonValueKind.Number
                                 && s.GetProperty("sourcePendingChanges").GetInt64() == 0, what);

    private async Task ShowAsync(string id, Func<JsonElement, bool> condition, string what) =>
        await TestNode.EventuallyAsync(
            async () => JsonDocument.Parse((await node.OperatorAsync("workflow", "show", id, "--json")).Out).RootElement.Clone(),
            v => v.GetProperty("status") is { ValueKind: JsonValueKind.Object } s && condition(s), Within, what);

    /// <summary>Rows in the workflow's change table.</summary>
    private long ChangeRows(string id) =>
        Scalar(id, $"SELECT count(*) FROM \"{RetailStreaming.Connectors.Sqlite.SqliteChangeTableSource.ChangeTableNameFor(id)}\"");

    /// <summary>The workflow's triggers and change table in the client database.</summary>
    private long CaptureObjects(string id) =>
        Scalar(id, $"SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_rs\\_%{id.Replace('-', '_')}%' ESCAPE '\\'");

    private long Scalar(string id, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={node.DatabaseOf(id)};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private async Task Expect(string golden, int exitCode, params string[] args)
    {
        var run = await node.OperatorAsync(args);
        Assert.True(exitCode == run.ExitCode, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Out);
    }

    private async Task ExpectError(string golden, int exitCode, params string[] args)
    {
        var run = await node.OperatorAsync(args);
        Assert.True(exitCode == run.ExitCode, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Error);
    }

    private async Task<JsonElement> Json(params string[] args)
    {
        var run = await node.OperatorAsync([.. args, "--json"]);
        Assert.True(run.ExitCode == 0, $"rsctl {string.Join(' ', args)} --json: {run}");
        return JsonDocument.Parse(run.Out).RootElement.Clone();
    }

    private static void AssertShape(JsonElement element, params string[] properties)
    {
        Assert.Equal(JsonValueKind.Object, element.ValueKind);
        foreach (var property in properties)
            Assert.True(element.TryGetProperty(property, out _), $"no '{property}' in {element}");
    }
}
