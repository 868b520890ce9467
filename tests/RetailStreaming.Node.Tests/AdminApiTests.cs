using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RetailStreaming.Node.Tests.Support;

namespace RetailStreaming.Node.Tests;

/// <summary>The admin API of a running node, over HTTP: tokens, scopes, applying definitions, status.</summary>
[Collection(NodeCollection.Name)]
public sealed class AdminApiTests(NodeFixture node)
{
    private static readonly TimeSpan RunningWithin = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Health_needs_no_token()
    {
        using var http = node.Anonymous();

        using var response = await http.GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", (await JsonAsync(response)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_api_refuses_a_request_without_a_token()
    {
        using var http = node.Anonymous();

        using var response = await http.GetAsync("/api/workflows");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("missing token", (await JsonAsync(response)).GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("Bearer not-a-token")]
    [InlineData("Bearer ")]
    [InlineData("Basic b3BlcmF0b3I6c2VjcmV0")]
    public async Task The_api_refuses_a_bad_token(string authorization)
    {
        using var http = node.Anonymous();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/workflows");
        request.Headers.TryAddWithoutValidation("Authorization", authorization);

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public void An_operator_token_lists_no_workflow_on_a_new_node()
    {
        // Read by the fixture before any test applied a workflow.
        Assert.Equal(HttpStatusCode.OK, node.FirstList.Status);
        Assert.Equal("[]", node.FirstList.Body);
    }

    [Fact]
    public async Task An_invalid_definition_is_rejected_with_file_line_column_and_field_and_nothing_is_applied()
    {
        var yaml = node.Definition("invalid-client", "client").Replace("client: client", "client: Acme Corp");
        using var http = node.Operator();

        using var response = await PostAsync(http, yaml, "bad-workflow.yaml");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await JsonAsync(response);
        Assert.Equal("invalid definition", body.GetProperty("error").GetString());
        var error = Assert.Single(body.GetProperty("errors").EnumerateArray()).GetString()!;
        Assert.Matches(new Regex(@"^bad-workflow\.yaml:2:9: client: .*Acme Corp"), error);

        using var get = await http.GetAsync("/api/workflows/invalid-client");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Broken_yaml_is_rejected_with_where_the_parser_stopped()
    {
        using var http = node.Operator();

        using var response = await PostAsync(http, "id: broken\nclient: [acme\n", "broken.yaml");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = Assert.Single((await JsonAsync(response)).GetProperty("errors").EnumerateArray()).GetString()!;
        Assert.Matches(new Regex(@"^broken\.yaml:\d+:\d+: <yaml>: invalid YAML"), error);
    }

    [Fact]
    public async Task A_client_token_cannot_apply_a_definition()
    {
        using var http = node.Acme();

        using var response = await PostAsync(http, node.Definition("acme-forbidden", "acme"), "acme-forbidden.yaml");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        using var operatorHttp = node.Operator();
        using var get = await operatorHttp.GetAsync("/api/workflows/acme-forbidden");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task A_valid_definition_is_applied_once_then_runs_and_delivers_signed_webhooks()
    {
        const string id = "retail-products";
        var yaml = node.Definition(id, "retail-one");
        using var http = node.Operator();

        using (var first = await PostAsync(http, yaml, "retail-products.yaml"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            var applied = await JsonAsync(first);
            Assert.Equal(id, applied.GetProperty("workflowId").GetString());
            Assert.Equal(1, applied.GetProperty("version").GetInt32());
            Assert.True(applied.GetProperty("applied").GetBoolean());
        }
        using (var again = await PostAsync(http, yaml, "retail-products.yaml"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            var unchanged = await JsonAsync(again);
            Assert.Equal(1, unchanged.GetProperty("version").GetInt32());
            Assert.False(unchanged.GetProperty("applied").GetBoolean());
        }

        var view = await TestNode.EventuallyAsync(
            async () => (await ListAsync(http)).FirstOrDefault(w => w.GetProperty("workflowId").GetString() == id),
            w => w.ValueKind == JsonValueKind.Object && State(w) == "running",
            RunningWithin, $"{id} listed and running");
        Assert.Equal("retail-one", view.GetProperty("clientId").GetString());
        var status = view.GetProperty("status");
        Assert.Equal(1, status.GetProperty("definitionVersion").GetInt32());
        Assert.Equal("RetailStreaming.Samples.Retail", status.GetProperty("transformPackage").GetString());
        Assert.Equal("1.0.0", status.GetProperty("transformVersion").GetString());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("problem").ValueKind);

        // The snapshot of the two seed rows reaches the endpoint, signed with the referenced secret.
        var received = await TestNode.EventuallyAsync(
            () => Task.FromResult(node.Endpoint.Received.Where(r => r.Path == id).ToList()),
            r => r.Sum(x => Regex.Matches(x.Body, "sku-\\d").Count) >= 2,
            RunningWithin, "both seed products delivered");
        Assert.All(received, r => Assert.True(r.SignatureValid, $"bad signature on {r.Id}"));
        Assert.DoesNotContain(node.Secret, JsonSerializer.Serialize(await ListAsync(http)));
    }

    [Fact]
    public async Task A_client_token_sees_only_its_clients_workflows()
    {
        using var http = node.Operator();
        foreach (var (id, client) in new[] { ("acme-orders", "acme"), ("other-orders", "other") })
        {
            using var response = await PostAsync(http, node.Definition(id, client), id + ".yaml");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // The operator sees both (the registry is written when the definition is applied).
        await TestNode.EventuallyAsync(
            async () => (await ListAsync(http)).Select(w => w.GetProperty("workflowId").GetString()).ToHashSet(),
            ids => ids.Contains("acme-orders") && ids.Contains("other-orders"),
            RunningWithin, "both workflows listed for the operator");

        using var acme = node.Acme();
        var listed = await ListAsync(acme);
        var only = Assert.Single(listed);
        Assert.Equal("acme-orders", only.GetProperty("workflowId").GetString());
        Assert.Equal("acme", only.GetProperty("clientId").GetString());

        using (var own = await acme.GetAsync("/api/workflows/acme-orders"))
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        using (var other = await acme.GetAsync("/api/workflows/other-orders"))
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        using (var otherDeadLetters = await acme.GetAsync("/api/workflows/other-orders/dead-letters"))
            Assert.Equal(HttpStatusCode.NotFound, otherDeadLetters.StatusCode);
        using (var ownDeadLetters = await acme.GetAsync("/api/workflows/acme-orders/dead-letters"))
        {
            Assert.Equal(HttpStatusCode.OK, ownDeadLetters.StatusCode);
            Assert.Equal(JsonValueKind.Array, (await JsonAsync(ownDeadLetters)).ValueKind);
        }
    }

    [Fact]
    public async Task A_workflow_cannot_change_client()
    {
        const string id = "client-bound";
        using var http = node.Operator();
        using (var apply = await PostAsync(http, node.Definition(id, "first-client"), id + ".yaml"))
            Assert.Equal(HttpStatusCode.OK, apply.StatusCode);

        using var response = await PostAsync(http, node.Definition(id + "-again", "second-client").Replace($"id: {id}-again", $"id: {id}"), id + ".yaml");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await JsonAsync(response);
        Assert.Equal("definition rejected", body.GetProperty("error").GetString());
        var error = Assert.Single(body.GetProperty("errors").EnumerateArray()).GetString()!;
        Assert.StartsWith($"{id}.yaml: client: ", error);
        Assert.Contains("first-client", error);
    }

    [Fact]
    public async Task A_workflow_whose_secret_is_missing_shows_the_reference_in_its_error_and_keeps_retrying()
    {
        const string id = "secret-missing";
        const string variable = "RS_NODE_TESTS_UNSET_SECRET";
        Assert.Null(Environment.GetEnvironmentVariable(variable));
        var yaml = node.Definition(id, "retail-three").Replace($"env:{NodeFixture.SecretVariable}", $"env:{variable}");
        using var http = node.Operator();

        using (var apply = await PostAsync(http, yaml, id + ".yaml"))
            Assert.Equal(HttpStatusCode.OK, apply.StatusCode);

        var view = await TestNode.EventuallyAsync(
            async () =>
            {
                using var get = await http.GetAsync($"/api/workflows/{id}");
                return get.IsSuccessStatusCode ? await JsonAsync(get) : default;
            },
            v => v.ValueKind == JsonValueKind.Object && State(v) == "restarting",
            RunningWithin, $"{id} restarting");
        var lastError = view.GetProperty("status").GetProperty("lastError").GetString()!;
        Assert.Contains(variable, lastError);
        Assert.Contains("delivery.secretRef", lastError);
    }

    [Fact]
    public async Task A_workflow_is_found_as_soon_as_its_definition_is_applied()
    {
        using var http = node.Operator();
        for (var i = 0; i < 5; i++)
        {
            var id = $"found-at-once-{i}";
            using (var apply = await PostAsync(http, node.Definition(id, "retail-four"), id + ".yaml"))
                Assert.Equal(HttpStatusCode.OK, apply.StatusCode);

            using var get = await http.GetAsync($"/api/workflows/{id}");

            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }
    }

    [Fact]
    public async Task A_workflow_status_names_the_address_of_the_node_it_runs_on()
    {
        const string id = "node-address";
        using var http = node.Operator();
        using (var apply = await PostAsync(http, node.Definition(id, "retail-five"), id + ".yaml"))
            Assert.Equal(HttpStatusCode.OK, apply.StatusCode);
        var self = Akka.Cluster.Cluster.Get(node.App.Services.GetRequiredService<Akka.Actor.ActorSystem>()).SelfAddress;

        var view = await TestNode.EventuallyAsync(
            async () =>
            {
                using var get = await http.GetAsync($"/api/workflows/{id}");
                return get.IsSuccessStatusCode ? await JsonAsync(get) : default;
            },
            v => v.ValueKind == JsonValueKind.Object && v.GetProperty("status").ValueKind == JsonValueKind.Object,
            RunningWithin, $"{id} answering");

        Assert.Equal($"{self.Host}:{self.Port}", view.GetProperty("status").GetProperty("node").GetString());
    }

    [Fact]
    public async Task A_new_workflow_has_no_dead_letters()
    {
        const string id = "dead-letters-empty";
        using var http = node.Operator();
        using (var apply = await PostAsync(http, node.Definition(id, "retail-two"), id + ".yaml"))
            Assert.Equal(HttpStatusCode.OK, apply.StatusCode);
        await TestNode.EventuallyAsync(
            async () =>
            {
                using var get = await http.GetAsync($"/api/workflows/{id}");
                return get.StatusCode;
            },
            s => s == HttpStatusCode.OK, RunningWithin, $"{id} known to the registry");

        using var response = await http.GetAsync($"/api/workflows/{id}/dead-letters");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await JsonAsync(response);
        Assert.Equal(JsonValueKind.Array, body.ValueKind);
        Assert.Equal(0, body.GetArrayLength());
    }

    [Fact]
    public async Task Dead_letters_of_an_unknown_workflow_are_not_found()
    {
        using var http = node.Operator();

        using var response = await http.GetAsync("/api/workflows/no-such-workflow/dead-letters");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string yaml, string fileName) =>
        http.PostAsync($"/api/workflows?file={Uri.EscapeDataString(fileName)}", new StringContent(yaml, Encoding.UTF8, "application/yaml"));

    private static async Task<List<JsonElement>> ListAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/workflows");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await JsonAsync(response)).EnumerateArray().ToList();
    }

    private static string? State(JsonElement view) =>
        view.GetProperty("status") is { ValueKind: JsonValueKind.Object } status ? status.GetProperty("state").GetString() : null;

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
