using System.Net;
using System.Net.Http.Headers;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>The admin API's bearer tokens, on a real node process.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class AdminAuthTests(SharedNodeFixture fixture)
{
    [Theory]
    [InlineData("/api/workflows")]
    [InlineData("/api/workflows/it-e2e-sqlite")]
    [InlineData("/api/workflows/it-e2e-sqlite/dead-letters")]
    public async Task Without_a_token_the_api_answers_401(string path)
    {
        using var client = fixture.Node.CreateClient(bearerToken: null);
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("/api/workflows")]
    [InlineData("/api/workflows/it-e2e-sqlite")]
    public async Task With_a_wrong_token_the_api_answers_401(string path)
    {
        using var client = fixture.Node.CreateClient(bearerToken: "rs_not-a-token-the-node-issued");
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Another_scheme_carrying_the_operator_token_answers_401()
    {
        using var client = fixture.Node.CreateClient(bearerToken: null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", fixture.Node.OperatorToken);
        using var response = await client.GetAsync("/api/workflows");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Applying_a_definition_without_a_token_answers_401_and_applies_nothing()
    {
        using var client = fixture.Node.CreateClient(bearerToken: null);
        using var content = new StringContent("id: it-unauthorized\nclient: it-client\n");
        using var response = await client.PostAsync("/api/workflows?file=unauthorized.yaml", content);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var list = await fixture.Node.GetJsonAsync("/api/workflows");
        Assert.DoesNotContain(list.EnumerateArray(), w => w.GetProperty("workflowId").GetString() == "it-unauthorized");
    }

    [Fact]
    public async Task Health_needs_no_token_and_the_operator_token_is_accepted()
    {
        using var anonymous = fixture.Node.CreateClient(bearerToken: null);
        using var health = await anonymous.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var list = await fixture.Node.Admin.GetAsync("/api/workflows");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
    }
}
