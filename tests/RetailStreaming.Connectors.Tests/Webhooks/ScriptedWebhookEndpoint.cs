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
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        ReceivedRequest request;
        lock (_requests)
        {
            request = new ReceivedRequest(_requests.Count, headers, body, DateTimeOffset.UtcNow);
            _requests.Add(request);
        }
        var reply = Script(request);
        request.Status = reply.Status;
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
