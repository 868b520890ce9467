using System.Net;
using System.Security.Cryptography;
using RetailStreaming.Store;

namespace RetailStreaming.Node.Tests.Support;

/// <summary>
/// One node started in-process for a whole collection of tests (a start costs seconds): a
/// one-node cluster in a temp data directory, its admin API on a free port, tokens, and a webhook
/// endpoint for the workflows the tests apply.
/// </summary>
public sealed class NodeFixture : IAsyncLifetime
{
    /// <summary>The environment variable the workflows' <c>secretRef</c> names.</summary>
    public const string SecretVariable = "RS_NODE_TESTS_WEBHOOK_SECRET";

    public string Root { get; } = TestNode.NewTempDirectory("node");
    public string Secret { get; } = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    public NodeOptions Options { get; private set; } = null!;
    public WebApplication App { get; private set; } = null!;
    public Uri AdminUrl { get; private set; } = null!;
    public string OperatorToken { get; private set; } = null!;

    /// <summary>A client token of client <c>acme</c>.</summary>
    public string AcmeToken { get; private set; } = null!;

    internal WebhookEndpoint Endpoint { get; private set; } = null!;

    /// <summary>GET /api/workflows with the operator token before any test applied a workflow.</summary>
    public (HttpStatusCode Status, string Body) FirstList { get; private set; }

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(SecretVariable, Secret);
        Endpoint = await WebhookEndpoint.StartAsync(Secret);

        Options = TestNode.Options(Path.Combine(Root, "node"));
        App = await NodeHost.BuildAsync(Options);
        await App.StartAsync();
        AdminUrl = TestNode.BoundAddress(App);

        var tokens = App.Services.GetRequiredService<ITokenStore>();
        (OperatorToken, _) = await tokens.IssueAsync("operator", null, "node tests operator");
        (AcmeToken, _) = await tokens.IssueAsync("client", "acme", "node tests client acme");

        using var http = Operator();
        using var response = await http.GetAsync("/api/workflows");
        FirstList = (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public HttpClient Anonymous() => TestNode.Client(AdminUrl);
    public HttpClient Operator() => TestNode.Client(AdminUrl, OperatorToken);
    public HttpClient Acme() => TestNode.Client(AdminUrl, AcmeToken);

    /// <summary>A new source database for one workflow, and the workflow's definition over it.</summary>
    public string Definition(string id, string client)
    {
        var database = RetailSource.CreateDatabase(Root, id);
        return RetailSource.Definition(id, client, database, Endpoint.UrlFor(id), SecretVariable);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (App is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await App.StopAsync(timeout.Token);
                await App.DisposeAsync();
            }
            if (Endpoint is not null) await Endpoint.DisposeAsync();
        }
        finally
        {
            await TestNode.DeleteDirectoryAsync(Root);
        }
    }
}

/// <summary>The tests sharing <see cref="NodeFixture"/>; they run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class NodeCollection : ICollectionFixture<NodeFixture>
{
    public const string Name = "node";
}
