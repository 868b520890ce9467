using System.Collections.Concurrent;
using System.Text.Json;
using RetailStreaming.Connectors.Webhooks;

namespace RetailStreaming.Cli.Tests.Support;

/// <summary>One record as the endpoint received it.</summary>
internal sealed record ReceivedRecord(string Path, string Id, string Key, bool SignatureValid, string? TransformVersion = null);

/// <summary>
/// A client's webhook endpoint: Kestrel on a free loopback port. It answers 200, except 400 (for
/// good: the record is dead-lettered) to a batch holding a key that <see cref="Refuse"/> names.
/// </summary>
internal sealed class WebhookEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRecord> _received = new();

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
            var valid = StandardWebhooks.Verify(secret, Header(StandardWebhooks.IdHeader), Header(StandardWebhooks.TimestampHeader),
                Header(StandardWebhooks.SignatureHeader), body, StandardWebhooks.DefaultTolerance, out _);
            using var doc = JsonDocument.Parse(body);
            var records = doc.RootElement.GetProperty("records").EnumerateArray()
                .Select(r => new ReceivedRecord(name, r.GetProperty("id").GetString()!, r.GetProperty("key").GetString()!, valid,
                    r.TryGetProperty("transformVersion", out var version) ? version.GetString() : null))
                .ToList();
            if (records.Any(r => Refuse(name, r.Key)))
                return Results.BadRequest(new { error = "refused by the test endpoint" });
            foreach (var r in records) _received.Enqueue(r);
            return Results.Ok();
        });
    }

    /// <summary>Which keys (of which hook path) the endpoint refuses for good.</summary>
    public Func<string, string, bool> Refuse { get; set; } = (_, _) => false;

    public Uri Url { get; private set; } = null!;

    public IReadOnlyList<ReceivedRecord> Received => _received.ToArray();

    public IReadOnlyList<ReceivedRecord> ReceivedBy(string name) => _received.Where(r => r.Path == name).ToList();

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
