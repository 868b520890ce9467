using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace RetailStreaming.Connectors.Tests.Webhooks;

/// <summary>What the endpoint received.</summary>
public sealed record ReceivedRequest(int Index, IReadOnlyDictionary<string, string> Headers, string Body, DateTimeOffset ReceivedAt)
{
    /// <summary>The body as it came over the wire (compressed when Content-Encoding says so).</summary>
    public byte[] RawBody { get; init; } = [];

    /// <summary>The JSON body's size in bytes (after decoding).</summary>
    public int BodyBytes => Encoding.UTF8.GetByteCount(Body);

    /// <summary>The status the script answered.</summary>
    public int Status { get; set; }

    /// <summary>The business keys of the records in the body, in order.</summary>
    public IReadOnlyList<string> RecordKeys =>
        JsonNode.Parse(Body)!["records"]!.AsArray().Select(r => r!["key"]!.GetValue<string>()).ToList();
}

/// <summary>What the endpoint answers.</summary>
public sealed record Reply(int Status, string Body = "", IReadOnlyDictionary<string, string>? Headers = null, TimeSpan? Delay = null)
{
    public static Reply Ok { get; } = new(200);

    /// <summary>Closes the connection without an answer.</summary>
    public static Reply Drop { get; } = new(-1);
}

/// <summary>
/// A real HTTP endpoint on 127.0.0.1 and a free port (Kestrel), which records every request and
/// answers as its script says.
/// </summary>
public sealed class ScriptedWebhookEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ReceivedRequest> _requests = [];

    private ScriptedWebhookEndpoint(WebApplication app) => _app = app;

    /// <summary>The answer to each request (default: 200).</summary>
    public Func<ReceivedRequest, Reply> Script { get; set; } = _ => Reply.Ok;

    public Uri Url { get; private set; } = null!;

    public IReadOnlyList<ReceivedRequest> Requests
    {
        get { lock (_requests) return _requests.ToList(); }
    }

    public static async Task<ScriptedWebhookEndpoint> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var endpoint = new ScriptedWebhookEndpoint(app);
        app.Run(endpoint.HandleAsync);
        await app.StartAsync();
        endpoint.Url = new Uri(app.Urls.Single() + "/hooks/retail?token=not-for-logs");
        return endpoint;
    }

    /// <summary>A loopback port nothing listens on.</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var raw = new MemoryStream();
        await context.Request.Body.CopyToAsync(raw);
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var bytes = raw.ToArray();
        var decoded = bytes;
        if (headers.TryGetValue("Content-Encoding", out var encoding) && encoding == "gzip")
        {
            using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(bytes), System.IO.Compression.CompressionMode.Decompress);
            using var plain = new MemoryStream();
            await gzip.CopyToAsync(plain);
            decoded = plain.ToArray();
        }
        ReceivedRequest request;
        lock (_requests)
        {
            request = new ReceivedRequest(_requests.Count, headers, Encoding.UTF8.GetString(decoded), DateTimeOffset.UtcNow) { RawBody = bytes };
            _requests.Add(request);
        }
        var reply = Script(request);
        request.Status = reply.Status;
        if (reply.Status < 0)
        {
            context.Abort();
            return;
        }
        if (reply.Delay is { } delay)
        {
            try { await Task.Delay(delay, context.RequestAborted); }
            catch (OperationCanceledException) { return; }
        }
        context.Response.StatusCode = reply.Status;
        foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
            context.Response.Headers[name] = value;
        if (reply.Body.Length > 0)
            await context.Response.WriteAsync(reply.Body);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
