using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary>A node of its own for the dead-letter commands, so that entry ids are the ones this test made.</summary>
public sealed class DeadLetterNode : CliNode;

/// <summary>A node of its own for the scoping checks of the dead-letter routes.</summary>
public sealed class DeadLetterScopeNode : CliNode;

/// <summary>
/// The dead-letter routes keep clients apart (invariant 4): only operators redrive; a client reads
/// its own dead letters and no one else's; a revoked token or none gets 401; every call is audited.
/// </summary>
public sealed class DeadLetterScopeTests(DeadLetterScopeNode node) : IClassFixture<DeadLetterScopeNode>
{
    [Fact]
    public async Task Only_operators_redrive_and_a_client_sees_only_its_own_dead_letters()
    {
        const string own = "dlq-scope-own", other = "dlq-scope-other";
        node.Endpoint.Refuse = (path, key) => path is own or other && key == "sku-2";
        foreach (var (id, client) in new[] { (own, "scope-acme"), (other, "scope-rival") })
            Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", node.WriteDefinition(id, client))).ExitCode);
        var (acme, acmeInfo) = await node.Tokens.IssueAsync("client", "scope-acme", "dlq scope acme");
        var (revoked, revokedInfo) = await node.Tokens.IssueAsync("operator", null, "dlq scope revoked");
        await node.Tokens.RevokeAsync(revokedInfo.Id);
        using var http = TestNode.Client(node.AdminUrl, node.OperatorToken);
        long otherEntry = 0;
        foreach (var id in new[] { own, other })
        {
            var letters = await TestNode.EventuallyAsync(async () =>
                JsonDocument.Parse(await http.GetStringAsync($"/api/workflows/{id}/dead-letters")).RootElement.Clone(),
                l => l.GetArrayLength() == 1, TimeSpan.FromSeconds(30), $"{id}'s refused record dead-lettered");
            otherEntry = letters[0].GetProperty("id").GetInt64();
        }

        var redriveOther = $"/api/workflows/{other}/dead-letters/redrive";
        var body = $$"""{"entries":[{{otherEntry}}]}""";
        var cases = new (string Who, string? Token, string Method, string Path, string? Body, HttpStatusCode Expected)[]
        {
            ("operator", node.OperatorToken, "GET", $"/api/workflows/{other}/dead-letters", null, HttpStatusCode.OK),
            ("acme client", acme, "GET", $"/api/workflows/{other}/dead-letters", null, HttpStatusCode.NotFound),
            ("acme client", acme, "GET", $"/api/workflows/{other}/dead-letters/{otherEntry}", null, HttpStatusCode.NotFound),
            ("acme client", acme, "GET", $"/api/workflows/{own}/dead-letters", null, HttpStatusCode.OK),
            ("acme client", acme, "POST", redriveOther, body, HttpStatusCode.Forbidden),
            ("acme client", acme, "POST", $"/api/workflows/{own}/dead-letters/redrive", """{"all":true}""", HttpStatusCode.Forbidden),
            ("acme client with a bad body", acme, "POST", redriveOther, "not json", HttpStatusCode.Forbidden),
            ("revoked", revoked, "POST", redriveOther, body, HttpStatusCode.Unauthorized),
            ("revoked", revoked, "GET", $"/api/workflows/{other}/dead-letters", null, HttpStatusCode.Unauthorized),
            ("no token", null, "POST", redriveOther, body, HttpStatusCode.Unauthorized),
            ("operator", node.OperatorToken, "POST", redriveOther, "not json", HttpStatusCode.BadRequest),
            ("operator", node.OperatorToken, "POST", redriveOther, """{"all":true,"entries":[1]}""", HttpStatusCode.BadRequest),
            ("operator", node.OperatorToken, "POST", $"/api/workflows/{own}/dead-letters/redrive", body, HttpStatusCode.NotFound),
            ("operator", node.OperatorToken, "POST", "/api/workflows/no-such-workflow/dead-letters/redrive", """{"all":true}""", HttpStatusCode.NotFound),
            ("operator", node.OperatorToken, "POST", redriveOther, body, HttpStatusCode.OK),
        };
        var failures = new List<string>();
        foreach (var c in cases)
        {
            using var client = TestNode.Client(node.AdminUrl, c.Token);
            using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path);
            if (c.Body is not null) request.Content = new StringContent(c.Body, Encoding.UTF8, "application/json");
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != c.Expected)
                failures.Add($"{c.Method} {c.Path} as {c.Who}: {(int)response.StatusCode}, expected {(int)c.Expected}: {text}");
            if (c.Who != "operator" && text.Contains("scope-rival", StringComparison.Ordinal))
                failures.Add($"{c.Method} {c.Path} as {c.Who} shows the other client: {text}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // rsctl: a client token may not redrive (3), an operator may (0).
        Assert.Equal(3, (await node.RsctlAsync(acme, "dlq", "redrive", other, otherEntry.ToString())).ExitCode);
        Assert.Equal(3, (await node.RsctlAsync(acme, "dlq", "redrive", own, "--all")).ExitCode);
        Assert.Equal(3, (await node.RsctlAsync(null, "dlq", "redrive", own, "--all")).ExitCode);

        // Audited with the caller and the outcome, refused calls too.
        var audited = node.Audit.Events.Where(e => AuditSink.Property(e, "Path") == redriveOther).ToList();
        Assert.Contains(audited, e => AuditSink.Property(e, "TokenId") == node.OperatorTokenId && AuditSink.Property(e, "Status") == "200");
        Assert.Contains(audited, e => AuditSink.Property(e, "TokenId") == acmeInfo.Id && AuditSink.Property(e, "Status") == "403");
        Assert.Contains(audited, e => AuditSink.Property(e, "TokenId") is null && AuditSink.Property(e, "Status") == "401");
    }

}

/// <summary>
/// <c>rsctl dlq show | list | redrive</c> against a real node and a real webhook endpoint on loopback:
/// a redrive the endpoint refuses again records an attempt; once it accepts, the record arrives with
/// its original idempotency key; a letter superseded by a later delivery of its row is skipped
/// unless forced. Golden files under Golden/ (RS_UPDATE_GOLDEN=1 rewrites them), and the --json shapes.
/// </summary>
public sealed class DeadLetterCommandTests(DeadLetterNode node) : IClassFixture<DeadLetterNode>
{
    private const string Id = "dlq-products";
    private readonly Golden _golden = new();

    [Fact]
    public async Task Redrive_records_attempts_sends_the_original_key_and_skips_superseded_letters_unless_forced()
    {
        _golden.Know(node.Root, "<root>");
        var refused = "sku-2";
        node.Endpoint.Refuse = (path, key) => path == Id && key == refused;
        var file = node.WriteDefinition(Id, "dlq", rows: 3);
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        var first = (await LettersAsync(l => l.GetArrayLength() == 1, "sku-2 dead-lettered"))[0];
        var entry = first.GetProperty("id").GetInt64().ToString();
        var originalKey = JsonDocument.Parse(first.GetProperty("outputJson").GetString()!).RootElement.GetProperty("id").GetString()!;

        // Refused again: a failed outcome, exit 1, and a new attempt on the letter.
        await Expect("dlq-redrive-failed", 1, "dlq", "redrive", Id, entry);
        await Expect("dlq-show-attempts", 0, "dlq", "show", Id, entry);
        var shown = await Json(0, "dlq", "show", Id, entry);
        AssertShape(shown, JsonValueKind.Object, "id", "stage", "position", "transformVersion", "reason", "inputJson", "outputJson", "attempts", "redrive", "superseded");
        AssertShape(shown.GetProperty("attempts"), JsonValueKind.Array, "at", "statusCode", "detail");
        AssertShape(shown.GetProperty("redrive"), JsonValueKind.Object, "at", "outcome", "transformVersion", "count");
        Assert.Equal(400, shown.GetProperty("attempts")[0].GetProperty("statusCode").GetInt32());

        // Accepted now: the record arrives (signed) with the key it had the first time.
        refused = "none";
        await Expect("dlq-redrive", 0, "dlq", "redrive", Id, entry);
        var arrived = node.Endpoint.ReceivedBy(Id).Where(r => r.Key == "sku-2").ToList();
        var record = Assert.Single(arrived);
        Assert.Equal(originalKey, record.Id);
        Assert.True(record.SignatureValid);
        // It names the transform version that produced it, as the letter keeps it, like every delivered record.
        var producedBy = first.GetProperty("transformVersion").GetString();
        Assert.False(string.IsNullOrEmpty(producedBy), $"the letter names no transform version: {first}");
        Assert.Equal(producedBy, record.TransformVersion);
        Assert.All(node.Endpoint.ReceivedBy(Id), r => Assert.Equal(producedBy, r.TransformVersion));
        var again = await Json(0, "dlq", "redrive", Id, entry);
        AssertShape(again, JsonValueKind.Object, "workflowId", "force", "selected", "delivered", "failed", "skipped", "more", "results");
        AssertShape(again.GetProperty("results"), JsonValueKind.Array, "entryId", "outcome", "detail", "transformVersion", "idempotencyKeys");
        Assert.Equal("skipped", again.GetProperty("results")[0].GetProperty("outcome").GetString());

        // sku-1 is refused at its first update (a dead letter), then delivered at its second: the letter is superseded.
        refused = "sku-1";
        Update("sku-1", 10.5);
        var letters = await LettersAsync(l => l.GetArrayLength() == 2, "the first update of sku-1 dead-lettered");
        var second = letters[1].GetProperty("id").GetInt64().ToString();
        refused = "none";
        Update("sku-1", 11.5);
        await TestNode.EventuallyAsync(() => Json(0, "dlq", "show", Id, second),
            l => l.GetProperty("superseded").ValueKind == JsonValueKind.Object, TimeSpan.FromSeconds(30), "the letter superseded by the second update");
        await Expect("dlq-list-states", 0, "dlq", "list", Id);
        await Expect("dlq-show-superseded", 0, "dlq", "show", Id, second);
        await Expect("dlq-redrive-superseded", 0, "dlq", "redrive", Id, "--all");
        Assert.DoesNotContain(node.Endpoint.ReceivedBy(Id), r => r.Key == "sku-1" && r.Id == OutputKey(letters[1]));
        await Expect("dlq-redrive-filter-none", 0, "dlq", "redrive", Id, "--filter", "stage=transform");
        await Expect("dlq-redrive-force", 0, "dlq", "redrive", Id, second, "--force");
        Assert.Contains(node.Endpoint.ReceivedBy(Id), r => r.Key == "sku-1" && r.Id == OutputKey(letters[1]));

        // Usage errors.
        await ExpectError("dlq-redrive-usage", 2, "dlq", "redrive", Id);
        await ExpectError("dlq-redrive-bad-filter", 2, "dlq", "redrive", Id, "--filter", "colour=red");
        await ExpectError("dlq-redrive-unknown-entry", 3, "dlq", "redrive", Id, "999");

        _golden.AssertAll();
    }

    private static string OutputKey(JsonElement letter) =>
        JsonDocument.Parse(letter.GetProperty("outputJson").GetString()!).RootElement.GetProperty("id").GetString()!;

    private void Update(string sku, double price)
    {
        using var connection = new SqliteConnection($"Data Source={node.DatabaseOf(Id)};Pooling=False");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"UPDATE products SET price = {price.ToString(System.Globalization.CultureInfo.InvariantCulture)} WHERE sku = '{sku}'";
        Assert.Equal(1, cmd.ExecuteNonQuery());
    }

    private Task<JsonElement> LettersAsync(Func<JsonElement, bool> condition, string what) =>
        TestNode.EventuallyAsync(() => Json(0, "dlq", "list", Id), condition, TimeSpan.FromSeconds(30), what);

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

    private async Task<JsonElement> Json(int exitCode, params string[] args)
    {
        var run = await node.OperatorAsync([.. args, "--json"]);
        Assert.True(run.ExitCode == exitCode, $"rsctl {string.Join(' ', args)} --json: {run}");
        return JsonDocument.Parse(run.Out).RootElement.Clone();
    }

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
