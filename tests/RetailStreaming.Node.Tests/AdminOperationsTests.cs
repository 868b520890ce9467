using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RetailStreaming.Node.Tests.Support;

namespace RetailStreaming.Node.Tests;

/// <summary>The admin API's operator routes over HTTP: tokens, a workflow's history, lifecycle and rollback, cluster and sharding.</summary>
[Collection(NodeCollection.Name)]
public sealed class AdminOperationsTests(NodeFixture node)
{
    [Fact]
    public async Task An_issued_token_works_until_it_is_revoked_and_its_secret_is_shown_once()
    {
        using var http = node.Operator();

        using var issue = await http.PostAsJsonAsync("/api/tokens", new { role = "client", clientId = "token-client", description = "node tests" });

        Assert.Equal(HttpStatusCode.Created, issue.StatusCode);
        var issued = await JsonAsync(issue);
        var secret = issued.GetProperty("secret").GetString()!;
        var id = issued.GetProperty("id").GetString()!;
        Assert.Equal("client", issued.GetProperty("role").GetString());
        using (var client = TestNode.Client(node.AdminUrl, secret))
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/workflows")).StatusCode);
        var listed = (await JsonAsync(await http.GetAsync("/api/tokens"))).EnumerateArray().Single(t => t.GetProperty("id").GetString() == id);
        Assert.False(listed.TryGetProperty("secret", out _));
        Assert.DoesNotContain(secret, await (await http.GetAsync("/api/tokens")).Content.ReadAsStringAsync());

        using var revoke = await http.DeleteAsync($"/api/tokens/{id}");

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        using (var client = TestNode.Client(node.AdminUrl, secret))
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/workflows")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync("/api/tokens/nosuchid")).StatusCode);
    }

    [Theory]
    [InlineData("""{"role":"client"}""")]
    [InlineData("""{"role":"operator","clientId":"acme"}""")]
    [InlineData("""{"role":"superuser"}""")]
    [InlineData("""{}""")]
    public async Task A_token_request_that_makes_no_sense_is_refused(string body)
    {
        using var http = node.Operator();

        using var response = await http.PostAsync("/api/tokens", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task A_client_token_cannot_issue_list_or_revoke_tokens_nor_see_the_cluster()
    {
        using var acme = node.Acme();

        Assert.Equal(HttpStatusCode.Forbidden, (await acme.GetAsync("/api/tokens")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await acme.PostAsJsonAsync("/api/tokens", new { role = "operator" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await acme.DeleteAsync("/api/tokens/whatever")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await acme.GetAsync("/api/cluster")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await acme.GetAsync("/api/sharding/stats")).StatusCode);
    }

    [Fact]
    public async Task History_lists_every_version_and_a_rollback_applies_an_old_one_as_a_new_version()
    {
        const string id = "history-rollback";
        using var http = node.Operator();
        var v1 = node.Definition(id, "history-client");
        Assert.Equal(HttpStatusCode.OK, (await PostYamlAsync(http, v1, "v1.yaml")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostYamlAsync(http, v1.Replace("maxWait: 50ms", "maxWait: 60ms"), "v2.yaml")).StatusCode);

        using var rollback = await http.PostAsync($"/api/workflows/{id}/rollback", null);

        Assert.Equal(HttpStatusCode.OK, rollback.StatusCode);
        var rolledBack = await JsonAsync(rollback);
        Assert.Equal(3, rolledBack.GetProperty("version").GetInt32());
        Assert.Equal(1, rolledBack.GetProperty("rolledBackTo").GetInt32());
        var history = await JsonAsync(await http.GetAsync($"/api/workflows/{id}/history"));
        Assert.Equal(3, history.GetProperty("currentVersion").GetInt32());
        var versions = history.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3], versions.Select(v => v.GetProperty("version").GetInt32()));
        Assert.Equal(["v1.yaml", "v2.yaml", "v1.yaml"], versions.Select(v => v.GetProperty("fileName").GetString()));
        Assert.Equal(versions[0].GetProperty("yaml").GetString(), versions[2].GetProperty("yaml").GetString());
        Assert.All(versions, v => Assert.Equal("1.0.0", v.GetProperty("transformVersion").GetString()));
        Assert.True(versions[2].GetProperty("current").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync($"/api/workflows/{id}/rollback?to=7", null)).StatusCode);
    }

    [Fact]
    public async Task Pause_and_resume_answer_with_the_state_and_the_checkpoint()
    {
        const string id = "pause-over-http";
        using var http = node.Operator();
        Assert.Equal(HttpStatusCode.OK, (await PostYamlAsync(http, node.Definition(id, "pause-client"), id + ".yaml")).StatusCode);

        var paused = await JsonAsync(await http.PostAsync($"/api/workflows/{id}/pause", null));
        Assert.Equal("paused", paused.GetProperty("state").GetString());
        Assert.True(paused.GetProperty("changed").GetBoolean());
        var status = (await JsonAsync(await http.GetAsync($"/api/workflows/{id}"))).GetProperty("status");
        Assert.Equal("paused", status.GetProperty("state").GetString());
        using var restart = await http.PostAsync($"/api/workflows/{id}/restart", null);
        Assert.Equal(HttpStatusCode.Conflict, restart.StatusCode);

        var resumed = await JsonAsync(await http.PostAsync($"/api/workflows/{id}/resume", null));
        Assert.True(resumed.GetProperty("changed").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/api/workflows/no-such-workflow/pause", null)).StatusCode);
    }

    [Fact]
    public async Task Cluster_and_sharding_describe_the_one_node_cluster()
    {
        using var http = node.Operator();

        var cluster = await JsonAsync(await http.GetAsync("/api/cluster"));
        var member = Assert.Single(cluster.GetProperty("members").EnumerateArray());
        Assert.Equal(cluster.GetProperty("self").GetString(), member.GetProperty("address").GetString());
        Assert.Equal("Up", member.GetProperty("status").GetString());
        Assert.Equal("reachable", member.GetProperty("reachability").GetString());
        Assert.True(member.GetProperty("leader").GetBoolean());
        Assert.False(string.IsNullOrEmpty(member.GetProperty("appVersion").GetString()));

        var regions = await JsonAsync(await http.GetAsync("/api/sharding/regions"));
        var workflow = Assert.Single(regions.EnumerateArray());
        Assert.Equal("workflow", workflow.GetProperty("typeName").GetString());
        Assert.Equal([cluster.GetProperty("self").GetString()], workflow.GetProperty("regions").EnumerateArray().Select(r => r.GetString()));

        var stats = Assert.Single((await JsonAsync(await http.GetAsync("/api/sharding/stats"))).EnumerateArray());
        var region = Assert.Single(stats.GetProperty("nodes").EnumerateArray());
        Assert.Equal(cluster.GetProperty("self").GetString(), region.GetProperty("address").GetString());
        Assert.Equal(stats.GetProperty("entities").GetInt32(), region.GetProperty("entities").GetInt32());

        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/api/cluster/leave", new { address = "not an address" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/api/cluster/down", new { address = "127.0.0.1:1" })).StatusCode);
    }

    private static Task<HttpResponseMessage> PostYamlAsync(HttpClient http, string yaml, string fileName) =>
        http.PostAsync($"/api/workflows?file={Uri.EscapeDataString(fileName)}", new StringContent(yaml, Encoding.UTF8, "application/yaml"));

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
    }
}
