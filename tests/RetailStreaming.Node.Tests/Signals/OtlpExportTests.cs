using System.Collections.Concurrent;
using System.Net;
using System.Text;
using RetailStreaming.Node.Tests.Support;
using RetailStreaming.Store;

namespace RetailStreaming.Node.Tests.Signals;

/// <summary>
/// With <c>Observability:OtlpEndpoint</c> set, a node sends its workflows' spans to that OTLP
/// endpoint (here a local HTTP receiver standing in for a collector, protocol http/protobuf).
/// </summary>
public sealed class OtlpExportTests : IAsyncLifetime
{
    private const string SecretVariable = "RS_OTLP_TESTS_WEBHOOK_SECRET";
    private readonly string _root = TestNode.NewTempDirectory("otlp");
    private readonly ConcurrentQueue<(string ContentType, byte[] Body)> _exports = new();
    private WebApplication? _collector;
    private WebhookEndpoint? _endpoint;
    private WebApplication? _node;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _collector = builder.Build();
        _collector.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            _exports.Enqueue((request.ContentType ?? "", body.ToArray()));
            return Results.Ok();
        });
        await _collector.StartAsync();
        Environment.SetEnvironmentVariable(SecretVariable, "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("otlp-tests-secret-0123456789abcdef")));
        _endpoint = await WebhookEndpoint.StartAsync(Environment.GetEnvironmentVariable(SecretVariable)!);
    }

    [Fact]
    public async Task The_workflows_spans_reach_the_configured_otlp_endpoint()
    {
        const string id = "otlp-export";
        var options = TestNode.Options(Path.Combine(_root, "node"));
        options.Observability.OtlpEndpoint = new Uri(TestNode.BoundAddress(_collector!), "/v1/traces").ToString();
        options.Observability.OtlpProtocol = "http/protobuf";
        _node = await NodeHost.BuildAsync(options);
        await _node.StartAsync();
        var (token, _) = await _node.Services.GetRequiredService<ITokenStore>().IssueAsync("operator", null, "otlp tests");
        using var http = TestNode.Client(TestNode.BoundAddress(_node), token);

        var database = RetailSource.CreateDatabase(_root, id, rows: 2);
        var yaml = RetailSource.Definition(id, "otlp-client", database, _endpoint!.UrlFor(id), SecretVariable);
        using (var apply = await http.PostAsync($"/api/workflows?file={id}.yaml", new StringContent(yaml, Encoding.UTF8, "application/yaml")))
            Assert.Equal(HttpStatusCode.OK, apply.StatusCode);

        // The batch exporter sends every few seconds; protobuf keeps strings as UTF-8 bytes.
        var marker = Encoding.UTF8.GetBytes(id);
        var export = await TestNode.EventuallyAsync(
            () => Task.FromResult(_exports.FirstOrDefault(e => Contains(e.Body, marker) && Contains(e.Body, "delivery attempt"u8.ToArray()))),
            e => e.Body is not null, TimeSpan.FromSeconds(60), "an OTLP export holding the workflow's spans");
        Assert.Equal("application/x-protobuf", export.ContentType);
        Assert.True(Contains(export.Body, "capture"u8.ToArray()));
        Assert.True(Contains(export.Body, "transform"u8.ToArray()));
        Assert.True(Contains(export.Body, "deliver"u8.ToArray()));
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    public async Task DisposeAsync()
    {
        try
        {
            if (_node is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await _node.StopAsync(timeout.Token);
                await _node.DisposeAsync();
            }
            if (_endpoint is not null) await _endpoint.DisposeAsync();
            if (_collector is not null)
            {
                await _collector.StopAsync();
                await _collector.DisposeAsync();
            }
        }
        finally
        {
            await TestNode.DeleteDirectoryAsync(_root);
        }
    }
}
