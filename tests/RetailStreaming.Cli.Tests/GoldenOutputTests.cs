using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary>A node of its own, so that what the commands list is exactly what this test made.</summary>
public sealed class GoldenNode : CliNode;

/// <summary>
/// Every rsctl command against a real node: its table (golden files under Golden/, regenerated
/// with RS_UPDATE_GOLDEN=1), its exit code, and the shape of its <c>--json</c>. One scripted
/// session, because each step builds on the one before (apply, then history, diff, rollback...).
/// </summary>
public sealed class GoldenOutputTests(GoldenNode node) : IClassFixture<GoldenNode>
{
    private const string Id = "golden-orders";
    private readonly Golden _golden = new();

    [Fact]
    public async Task Every_command_prints_its_golden_table_and_its_json_shape()
    {
        _golden.Know(node.Root, "<root>").Know(node.OperatorTokenId, "<operator-token>");
        node.Endpoint.Refuse = (path, key) => path == Id && key == "sku-2";
        var v1 = node.WriteDefinition(Id, "golden");

        // workflow apply, and a file that does not validate
        await Expect("workflow-apply", 0, "workflow", "apply", "-f", v1);
        var invalid = Path.Combine(node.Root, "invalid.yaml");
        await File.WriteAllTextAsync(invalid, (await File.ReadAllTextAsync(Path.Combine(node.Root, v1)))
            .Replace("client: golden", "client: Golden Corp").Replace("pollInterval: 100ms", "pollInterval: soon"));
        await ExpectError("workflow-apply-invalid", 1, "workflow", "apply", "-f", "invalid.yaml");

        var view = await TestNode.EventuallyAsync(
            async () => JsonDocument.Parse((await node.OperatorAsync("workflow", "show", Id, "--json")).Out).RootElement.Clone(),
            v => v.GetProperty("status") is { ValueKind: JsonValueKind.Object } s
                 && s.GetProperty("state").GetString() == "running" && s.GetProperty("deliveredChanges").GetInt64() == 2
                 && s.GetProperty("deadLetters").GetInt64() == 1 && s.GetProperty("sourcePendingChanges").ValueKind == JsonValueKind.Number
                 && s.GetProperty("sourcePendingChanges").GetInt64() == 0,
            TimeSpan.FromSeconds(30), "both seed products done (one delivered, one dead-lettered) and the lag measured");
        Assert.Equal(Id, view.GetProperty("workflowId").GetString());

        // workflow list / show
        await Expect("workflow-list", 0, "workflow", "list");
        AssertShape(await Json("workflow", "list"), JsonValueKind.Array, "workflowId", "clientId", "createdAt", "status", "problem");
        await Expect("workflow-show", 0, "workflow", "show", Id);
        await Expect("workflow-show", 0, "workflow", "status", Id); // the same command under the name operators also use
        var show = await Json("workflow", "show", Id);
        AssertShape(show, JsonValueKind.Object, "workflowId", "clientId", "status");
        AssertShape(show.GetProperty("status"), JsonValueKind.Object, "state", "definitionVersion", "transformVersion", "checkpoint",
            "deliveredChanges", "deadLetters", "restarts", "sourcePendingChanges", "lastError", "node", "health");
        AssertShape(show.GetProperty("status").GetProperty("health"), JsonValueKind.Object, "state", "reason", "since");

        // sla report: a period with no history (the node's history depends on its timing), and a bad verb
        await Expect("sla-report-empty", 0, "sla", "report", "--from", "2020-01-01", "--to", "2020-01-02");
        AssertShape(await Json("sla", "report", "--from", "2020-01-01", "--to", "2020-01-02"), JsonValueKind.Object, "from", "to", "workflows");
        await ExpectError("sla-usage", 2, "sla", "show");

        // a second version, the diff of a third against it, the history
        var v2 = node.WriteDefinitionVariant(Id, "golden", "v2", maxWait: "60ms");
        await Expect("workflow-apply-v2", 0, "workflow", "apply", "-f", v2);
        await Expect("workflow-apply-unchanged", 0, "workflow", "apply", "-f", v2);
        var v3 = node.WriteDefinitionVariant(Id, "golden", "v3", maxWait: "70ms");
        await Expect("workflow-diff", 0, "workflow", "diff", "-f", v3);
        await Expect("workflow-diff-same", 0, "workflow", "diff", "-f", v2);
        await Expect("workflow-history", 0, "workflow", "history", Id);
        var history = await Json("workflow", "history", Id);
        AssertShape(history, JsonValueKind.Object, "workflowId", "clientId", "paused", "currentVersion", "versions");
        AssertShape(history.GetProperty("versions"), JsonValueKind.Array, "version", "appliedAt", "fileName", "atPosition",
            "transformPackage", "transformVersion", "current", "yaml");

        // rollback (to the previous version by default), and to a version that does not exist
        await Expect("workflow-rollback", 0, "workflow", "rollback", Id);
        await ExpectError("workflow-rollback-unknown", 3, "workflow", "rollback", Id, "--to", "9");
        await Expect("workflow-history-after-rollback", 0, "workflow", "history", Id);

        // lifecycle
        await Expect("workflow-pause", 0, "workflow", "pause", Id);
        await Expect("workflow-pause-again", 0, "workflow", "pause", Id);
        await ExpectError("workflow-restart-paused", 1, "workflow", "restart", Id);
        await Expect("workflow-resume", 0, "workflow", "resume", Id);
        await Expect("workflow-restart", 0, "workflow", "restart", Id);
        AssertShape(await Json("workflow", "pause", Id), JsonValueKind.Object, "workflowId", "state", "changed", "checkpoint");
        AssertShape(await Json("workflow", "resume", Id), JsonValueKind.Object, "workflowId", "state", "changed", "checkpoint");

        // dead letters
        await Expect("dlq-list", 0, "dlq", "list", Id);
        var letters = await Json("dlq", "list", Id);
        AssertShape(letters, JsonValueKind.Array, "id", "workflowId", "clientId", "stage", "position", "transformVersion", "reason", "inputJson", "createdAt");
        var entry = letters[0].GetProperty("id").GetInt64().ToString();
        await Expect("dlq-show", 0, "dlq", "show", Id, entry);
        AssertShape(await Json("dlq", "show", Id, entry), JsonValueKind.Object, "id", "stage", "reason", "inputJson", "outputJson");
        await ExpectError("dlq-show-unknown", 3, "dlq", "show", Id, "999");

        // tokens
        var issued = await node.OperatorAsync("token", "issue", "--client", "golden", "--description", "golden client");
        Assert.Equal(0, issued.ExitCode);
        var clientTokenId = issued.Out.Split('\n').First(l => l.StartsWith("Token:", StringComparison.Ordinal))["Token:".Length..].Trim();
        _golden.Know(clientTokenId, "<client-token>");
        _golden.Check("token-issue", issued.Out);
        var issuedJson = await Json("token", "issue", "--operator", "--description", "golden json");
        AssertShape(issuedJson, JsonValueKind.Object, "id", "role", "clientId", "description", "createdAt", "secret");
        _golden.Know(issuedJson.GetProperty("id").GetString()!, "<json-token>");
        await Expect("token-revoke", 0, "token", "revoke", clientTokenId);
        await Expect("token-list", 0, "token", "list");
        AssertShape(await Json("token", "list"), JsonValueKind.Array, "id", "role", "clientId", "description", "createdAt", "revokedAt");
        await ExpectError("token-issue-usage", 2, "token", "issue");

        // cluster and sharding
        var cluster = await Json("cluster", "show");
        AssertShape(cluster, JsonValueKind.Object, "self", "leader", "members", "unreachable");
        AssertShape(cluster.GetProperty("members"), JsonValueKind.Array, "address", "roles", "status", "reachability", "appVersion", "leader", "self");
        _golden.Know(cluster.GetProperty("members")[0].GetProperty("appVersion").GetString()!, "<app-version>");
        await Expect("cluster-show", 0, "cluster", "show");
        await Expect("sharding-regions", 0, "sharding", "regions");
        AssertShape(await Json("sharding", "regions"), JsonValueKind.Array, "typeName", "regions");
        await Expect("sharding-stats", 0, "sharding", "stats");
        var stats = await Json("sharding", "stats");
        AssertShape(stats, JsonValueKind.Array, "typeName", "shards", "entities", "nodes");
        AssertShape(stats[0].GetProperty("nodes"), JsonValueKind.Array, "address", "shards", "entities", "failedShards", "entitiesPerShard");
        await ExpectError("cluster-leave-unknown", 3, "cluster", "leave", "127.0.0.1:1");
        await Expect("cluster-down-unreachable", 0, "cluster", "down-unreachable");
        AssertShape(await Json("cluster", "down-unreachable"), JsonValueKind.Object, "action", "downed");

        // contexts: a named node instead of --node and --token
        await ExpectRaw("context-add", 0, "context", "add", "staging", "--node", "http://staging.example:5170");
        await ExpectRaw("context-add-production", 0, "context", "add", "production", "--node", node.AdminUrl.ToString(), "--token", node.OperatorToken);
        await ExpectRaw("context-use", 0, "context", "use", "production");
        await ExpectRaw("context-list", 0, "context", "list");
        var viaContext = await node.RsctlRawAsync(["workflow", "list"]);
        Assert.Equal(0, viaContext.ExitCode);
        Assert.Equal(_golden.Normalize((await node.OperatorAsync("workflow", "list")).Out), _golden.Normalize(viaContext.Out));
        Assert.DoesNotContain(node.OperatorToken, (await node.RsctlRawAsync(["context", "list", "--json"])).Out);
        Assert.DoesNotContain(node.OperatorToken, (await node.RsctlRawAsync(["context", "list"])).Out);

        // errors: one line that says what to do, and the exit code
        await ExpectError("error-not-found", 3, "workflow", "show", "no-such-workflow");
        var badToken = await node.RsctlAsync("rst_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxxx", "workflow", "list");
        Assert.True(badToken.ExitCode == 3, badToken.ToString());
        _golden.Check("error-bad-token", badToken.Error);
        var noToken = await node.RsctlAsync(null, "workflow", "list");
        Assert.True(noToken.ExitCode == 3, noToken.ToString());
        _golden.Check("error-no-token", noToken.Error);
        await ExpectRawError("error-unknown-group", 2, "frobnicate");
        await ExpectRawError("error-missing-argument", 2, "workflow", "show");
        await ExpectRawError("error-unknown-option", 2, "cluster", "show", "--frob", "1");
        await ExpectRawError("error-unreachable", 1, "cluster", "show", "--node", "http://127.0.0.1:1", "--token", "x");
        await ExpectRawError("error-no-context", 2, "cluster", "show", "--context", "nowhere");

        _golden.AssertAll();
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

    private async Task ExpectRaw(string golden, int exitCode, params string[] args)
    {
        var run = await node.RsctlRawAsync(args);
        Assert.True(exitCode == run.ExitCode, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Out);
    }

    private async Task ExpectRawError(string golden, int exitCode, params string[] args)
    {
        var run = await node.RsctlRawAsync(args);
        Assert.True(exitCode == run.ExitCode, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Error);
    }

    private async Task<JsonElement> Json(params string[] args)
    {
        var run = await node.OperatorAsync([.. args, "--json"]);
        Assert.True(run.ExitCode == 0, $"rsctl {string.Join(' ', args)} --json: {run}");
        return JsonDocument.Parse(run.Out).RootElement.Clone();
    }

    /// <summary>The element (or every item of the array) has these properties.</summary>
    private static void AssertShape(JsonElement element, JsonValueKind kind, params string[] properties)
    {
        Assert.Equal(kind, element.ValueKind);
        var items = kind == JsonValueKind.Array ? element.EnumerateArray().ToList() : [element];
        Assert.NotEmpty(items);
        foreach (var item in items)
        foreach (var property in properties)
            Assert.True(item.TryGetProperty(property, out _), $"no '{property}' in {item}");
    }
}
