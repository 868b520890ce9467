using System.Net;
using System.Text;
using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary>
/// A client's token sees that client's workflows and nothing else (invariant 4): every route and
/// every rsctl command is tried on another client's workflow with an operator token, a client
/// token of another client, a revoked token and none.
/// </summary>
[Collection(CliNodeCollection.Name)]
public sealed class ClientIsolationTests(CliNode node)
{
    private sealed record Tokens(string Operator, string Acme, string AcmeId, string Revoked);

    // Each test makes its own pair of clients (the node is shared): acme-<suffix> and rival-<suffix>.
    private string _suffix = "";
    private string Own => "iso-own-" + _suffix;
    private string Other => "iso-theirs-" + _suffix;
    private string OtherClient => "rival-" + _suffix;

    /// <summary>What each token class must get on one route, about the other client's workflow; null: not tried with that token.</summary>
    private sealed record Route(string Method, string Path, string? Body, HttpStatusCode? Operator, HttpStatusCode Client);

    private async Task<(Tokens Tokens, long OtherEntry)> ArrangeAsync(string suffix)
    {
        _suffix = suffix;
        var other = Other;
        node.Endpoint.Refuse = (path, key) => path == other && key == "sku-2";
        foreach (var (id, client) in new[] { (Own, "acme-" + suffix), (Other, OtherClient) })
        {
            var file = node.WriteDefinition(id, client);
            var apply = await node.OperatorAsync("workflow", "apply", "-f", file);
            Assert.True(apply.ExitCode == 0, apply.ToString());
        }
        var (acme, acmeInfo) = await node.Tokens.IssueAsync("client", "acme-" + suffix, "isolation acme");
        var (revoked, revokedInfo) = await node.Tokens.IssueAsync("operator", null, "isolation revoked operator");
        await node.Tokens.RevokeAsync(revokedInfo.Id);

        using var http = TestNode.Client(node.AdminUrl, node.OperatorToken);
        var letters = await TestNode.EventuallyAsync(async () =>
            JsonDocument.Parse(await http.GetStringAsync($"/api/workflows/{Other}/dead-letters")).RootElement.Clone(),
            l => l.GetArrayLength() == 1, TimeSpan.FromSeconds(30), "the other client's refused record dead-lettered");
        return (new Tokens(node.OperatorToken, acme, acmeInfo.Id, revoked), letters[0].GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task No_route_shows_or_changes_another_clients_workflow()
    {
        var (tokens, entry) = await ArrangeAsync("http");
        var (throwaway, throwawayInfo) = await node.Tokens.IssueAsync("client", "nobody", "to be revoked by the test");
        _ = throwaway;
        var otherYaml = await File.ReadAllTextAsync(Path.Combine(node.Root, Other + ".yaml"));
        const HttpStatusCode ok = HttpStatusCode.OK, notFound = HttpStatusCode.NotFound, forbidden = HttpStatusCode.Forbidden;
        Route[] routes =
        [
            new("GET", $"/api/workflows/{Other}", null, ok, notFound),
            new("GET", $"/api/workflows/{Other}/history", null, ok, notFound),
            new("GET", $"/api/workflows/{Other}/dead-letters", null, ok, notFound),
            new("GET", $"/api/workflows/{Other}/dead-letters/{entry}", null, ok, notFound),
            // An entry of the other client's workflow, asked for through one's own workflow.
            new("GET", $"/api/workflows/{Own}/dead-letters/{entry}", null, notFound, notFound),
            new("POST", $"/api/workflows?file={Other}.yaml", otherYaml, ok, forbidden),
            new("POST", $"/api/workflows/{Other}/pause", null, ok, forbidden),
            new("POST", $"/api/workflows/{Other}/resume", null, ok, forbidden),
            new("POST", $"/api/workflows/{Other}/restart", null, ok, forbidden),
            // One version only: nothing to roll back to (409), but the operator got past the checks.
            new("POST", $"/api/workflows/{Other}/rollback", null, HttpStatusCode.Conflict, forbidden),
            new("POST", $"/api/workflows/{Other}/rollback?to=1", null, ok, forbidden),
            new("GET", $"/api/workflows/{Other}/shadow", null, ok, notFound),
            // No such version to load: the operator got past the checks.
            new("POST", $"/api/workflows/{Other}/shadow?version=9.9.9", null, HttpStatusCode.Conflict, forbidden),
            new("DELETE", $"/api/workflows/{Other}/shadow", null, ok, forbidden),
            new("GET", "/api/tokens", null, ok, forbidden),
            new("POST", "/api/tokens", """{"role":"client","clientId":"someone","description":"isolation"}""", HttpStatusCode.Created, forbidden),
            new("DELETE", $"/api/tokens/{throwawayInfo.Id}", null, ok, forbidden),
            new("GET", "/api/cluster", null, ok, forbidden),
            // An event stream never ends for an operator: tried with the others only.
            new("GET", "/api/cluster/events", null, null, forbidden),
            new("POST", "/api/cluster/leave", """{"address":"127.0.0.1:1"}""", notFound, forbidden),
            new("POST", "/api/cluster/down", """{"address":"127.0.0.1:1"}""", notFound, forbidden),
            new("POST", "/api/cluster/join", """{"address":"127.0.0.1:1"}""", null, forbidden),
            new("POST", "/api/cluster/down-unreachable", null, HttpStatusCode.Accepted, forbidden),
            new("GET", "/api/sharding/regions", null, ok, forbidden),
            new("GET", "/api/sharding/stats", null, ok, forbidden),
        ];

        var failures = new List<string>();
        foreach (var route in routes)
        {
            foreach (var (who, token, expected) in new (string, string?, HttpStatusCode?)[]
                     {
                         ("operator", tokens.Operator, route.Operator),
                         ("acme client", tokens.Acme, route.Client),
                         ("revoked", tokens.Revoked, HttpStatusCode.Unauthorized),
                         ("no token", null, HttpStatusCode.Unauthorized),
                     })
            {
                if (expected is null) continue;
                var (status, body) = await SendAsync(route, token);
                if (status != expected)
                    failures.Add($"{route.Method} {route.Path} as {who}: {(int)status}, expected {(int)expected}: {body}");
                if (who != "operator" && body.Contains(OtherClient, StringComparison.Ordinal))
                    failures.Add($"{route.Method} {route.Path} as {who} shows the other client: {body}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // Every mutating call is in the audit log with its caller and outcome, refused ones too.
        var pauses = node.Audit.Events.Where(e => AuditSink.Property(e, "Path") == $"/api/workflows/{Other}/pause").ToList();
        Assert.Contains(pauses, e => AuditSink.Property(e, "TokenId") == node.OperatorTokenId
                                     && AuditSink.Property(e, "Role") == "operator" && AuditSink.Property(e, "Status") == "200");
        Assert.Contains(pauses, e => AuditSink.Property(e, "TokenId") == tokens.AcmeId
                                     && AuditSink.Property(e, "Role") == "client" && AuditSink.Property(e, "Status") == "403");
        Assert.Contains(pauses, e => AuditSink.Property(e, "TokenId") is null && AuditSink.Property(e, "Status") == "401");
        Assert.DoesNotContain(node.Audit.Events, e => AuditSink.Property(e, "Method") == "GET");
        Assert.All(node.Audit.Events, e => Assert.DoesNotContain("rst_", e.RenderMessage()));

        // The list: the acme token sees its own workflow only; its own workflow reads, but is read-only.
        using var acme = TestNode.Client(node.AdminUrl, tokens.Acme);
        var listed = JsonDocument.Parse(await acme.GetStringAsync("/api/workflows")).RootElement;
        Assert.Equal([Own], listed.EnumerateArray().Select(w => w.GetProperty("workflowId").GetString()));
        Assert.Equal(ok, (await SendAsync(new("GET", $"/api/workflows/{Own}/history", null, ok, ok), tokens.Acme)).Status);
        Assert.Equal(ok, (await SendAsync(new("GET", $"/api/workflows/{Own}/dead-letters", null, ok, ok), tokens.Acme)).Status);
        Assert.Equal(forbidden, (await SendAsync(new("POST", $"/api/workflows/{Own}/pause", null, ok, forbidden), tokens.Acme)).Status);
    }

    [Fact]
    public async Task No_rsctl_command_shows_or_changes_another_clients_workflow()
    {
        var (tokens, entry) = await ArrangeAsync("cli");
        string[][] commands =
        [
            ["workflow", "show", Other],
            ["workflow", "history", Other],
            ["workflow", "diff", "-f", Other + ".yaml"],
            ["workflow", "apply", "-f", Other + ".yaml"],
            ["workflow", "pause", Other],
            ["workflow", "resume", Other],
            ["workflow", "restart", Other],
            ["workflow", "rollback", Other, "--to", "1"],
            ["dlq", "list", Other],
            ["dlq", "show", Other, entry.ToString()],
            ["token", "list"],
            ["token", "issue", "--client", "someone"],
            ["cluster", "show"],
            ["cluster", "down-unreachable"],
            ["cluster", "tail"],
            ["sharding", "regions"],
            ["sharding", "stats"],
        ];

        var failures = new List<string>();
        foreach (var command in commands)
        {
            foreach (var (who, token) in new (string, string?)[] { ("acme client", tokens.Acme), ("revoked", tokens.Revoked), ("no token", null) })
            {
                var run = await node.RsctlAsync(token, command);
                // diff of an unknown workflow shows the whole file as new: it must say the workflow is not there.
                var expectedExit = command[1] == "diff" && who == "acme client" ? 0 : 3;
                if (run.ExitCode != expectedExit)
                    failures.Add($"rsctl {string.Join(' ', command)} as {who}: {run}");
                if (command[1] == "diff" && who == "acme client" && !run.Out.Contains("/dev/null (no workflow " + Other + ")"))
                    failures.Add($"rsctl {string.Join(' ', command)} as {who} shows a current version: {run}");
                if (run.Out.Contains(OtherClient, StringComparison.Ordinal) && command[1] != "diff")
                    failures.Add($"rsctl {string.Join(' ', command)} as {who} printed the other client: {run}");
            }
            if (command[1] == "tail") continue; // runs until Ctrl+C for an operator (ClusterLeaveTests, TwoNodeClusterTests)
            var asOperator = await node.RsctlAsync(tokens.Operator, command);
            if (asOperator.ExitCode != 0)
                failures.Add($"rsctl {string.Join(' ', command)} as operator: {asOperator}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        var list = await node.RsctlAsync(tokens.Acme, "workflow", "list");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains(Own, list.Out);
        Assert.DoesNotContain(Other, list.Out);
        Assert.Contains("Count: 1 workflow(s)", list.Out);
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(Route route, string? token)
    {
        using var http = TestNode.Client(node.AdminUrl, token);
        using var request = new HttpRequestMessage(new HttpMethod(route.Method), route.Path);
        if (route.Body is not null)
            request.Content = new StringContent(route.Body, Encoding.UTF8, route.Body.StartsWith('{') ? "application/json" : "application/yaml");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
