using System.Collections.Concurrent;
using RetailStreaming.Connectors.Webhooks;

namespace RetailStreaming.Node.Tests.Support;

/// <summary>A webhook request as the endpoint received it.</summary>
internal sealed record ReceivedWebhook(string Path, string? Id, string? Timestamp, string? Signature, string Body, bool SignatureValid);

/// <summary>A client's webhook endpoint: Kestrel on a free loopback port, answering 200 to every POST.</summary>
internal sealed class WebhookEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();

    private WebhookEndpoint(string secret)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapPost("/hooks/{name}", async (string name, HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync();
            string? Header(string header) => request.Headers.TryGetValue(header, out var v) ? v.ToString() : null;
            var id = Header(StandardWebhooks.IdHeader);
            var timestamp = Header(StandardWebhooks.TimestampHeader);
            var signature = Header(StandardWebhooks.SignatureHeader);
            var valid = StandardWebhooks.Verify(secret, id, timestamp, signature, body, StandardWebhooks.DefaultTolerance, out _);
            _received.Enqueue(new ReceivedWebhook(name, id, timestamp, signature, body, valid));
            return Results.Ok();
        });
    }

    /// <summary>The base address; workflows deliver to <c>{Url}/hooks/&lt;name&gt;</c>.</summary>
    public Uri Url { get; private set; } = null!;

    public IReadOnlyList<ReceivedWebhook> Received => _received.ToArray();

    public string UrlFor(string name) => new Uri(Url, $"/hooks/{name}").ToString();

    public static async Task<WebhookEndpoint> StartAsync(string secret)
    {
        var endpoint = new WebhookEndpoint(secret);
        await endpoint._app.StartAsync();
        endpoint.Url = TestNode.BoundAddress(endpoint._app);
        return endpoint;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
