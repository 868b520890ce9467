using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Hosting;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>
/// A real webhook endpoint on 127.0.0.1 and a free port: verifies each request's signature with
/// the secrets it holds, and answers with what <see cref="Answer"/> says for the positions in the body.
/// </summary>
public sealed class HttpEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<(int Status, IReadOnlyList<string> Positions, IReadOnlyList<string> VerifiedBy)> _requests = [];

    private HttpEndpoint(WebApplication app) => _app = app;

    /// <summary>The secrets a receiver could hold; each request records which of them verify it.</summary>
    public IReadOnlyList<string> Secrets { get; set; } = [];

    /// <summary>The status for a request carrying these positions (default 200).</summary>
    public Func<IReadOnlyList<string>, int> Answer { get; set; } = _ => 200;

    public string Url { get; private set; } = "";

    public IReadOnlyList<(int Status, IReadOnlyList<string> Positions, IReadOnlyList<string> VerifiedBy)> Requests
    {
        get { lock (_requests) return _requests.ToList(); }
    }

    /// <summary>Positions of the records answered 2xx, in arrival order.</summary>
    public IReadOnlyList<string> Accepted => Requests.Where(r => r.Status == 200).SelectMany(r => r.Positions).ToList();

    public static async Task<HttpEndpoint> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var endpoint = new HttpEndpoint(app);
        app.Run(endpoint.HandleAsync);
        await app.StartAsync();
        endpoint.Url = app.Urls.Single() + "/hooks";
        return endpoint;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var stream = context.Request.Headers.ContentEncoding == "gzip"
            ? new System.IO.Compression.GZipStream(context.Request.Body, System.IO.Compression.CompressionMode.Decompress)
            : context.Request.Body;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var positions = JsonNode.Parse(body)!["records"]!.AsArray().Select(r => r!["position"]!.GetValue<string>()).ToList();
        var verifiedBy = Secrets.Where(s => StandardWebhooks.Verify(s, headers, body, StandardWebhooks.DefaultTolerance)).ToList();
        var status = verifiedBy.Count == 0 ? 401 : Answer(positions);
        lock (_requests) _requests.Add((status, positions, verifiedBy));
        context.Response.StatusCode = status;
        if (status >= 400) await context.Response.WriteAsync($"refused {string.Join(",", positions)}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The fake source and transform, and the node's real webhook sink (secrets, breaker, signing).</summary>
public sealed class WebhookConnectors(FakeConnectors fakes, DefaultWorkflowConnectors real) : IWorkflowConnectors
{
    public IChangeSource CreateSource(WorkflowDefinition definition) => fakes.CreateSource(definition);

    public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer) => real.CreateSink(definition, observer);

    public IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger) => fakes.CreateTransform(definition, logger);
}

/// <summary>The platform's dead-letter store, keeping in memory what it was given (attempts included, which the store may not keep yet).</summary>
public sealed class RecordingDeadLetters(IDeadLetterStore inner) : IDeadLetterStore
{
    private readonly List<DeadLetter> _added = [];

    public IReadOnlyList<DeadLetter> Added
    {
        get { lock (_added) return _added.ToList(); }
    }

    public Task<long> AddAsync(DeadLetter letter, CancellationToken cancellationToken = default)
    {
        lock (_added) _added.Add(letter);
        return inner.AddAsync(letter, cancellationToken);
    }

    public Task<IReadOnlyList<DeadLetter>> ListAsync(string? workflowId, long afterId = 0, int limit = 100, CancellationToken cancellationToken = default) =>
        inner.ListAsync(workflowId, afterId, limit, cancellationToken);

    public Task<DeadLetter?> GetAsync(long id, CancellationToken cancellationToken = default) => inner.GetAsync(id, cancellationToken);

    public Task<long> CountAsync(string workflowId, CancellationToken cancellationToken = default) => inner.CountAsync(workflowId, cancellationToken);

    public Task<IReadOnlyList<OpenDeadLetterRow>> ListOpenRowsAsync(string workflowId, CancellationToken cancellationToken = default) =>
        inner.ListOpenRowsAsync(workflowId, cancellationToken);

    public Task<int> MarkSupersededAsync(string workflowId, string table, string key, string byPosition, CancellationToken cancellationToken = default) =>
        inner.MarkSupersededAsync(workflowId, table, key, byPosition, cancellationToken);

    public Task<IReadOnlyList<DeadLetter>> SelectForRedriveAsync(string workflowId, DeadLetterFilter filter, int limit, CancellationToken cancellationToken = default) =>
        inner.SelectForRedriveAsync(workflowId, filter, limit, cancellationToken);

    public Task RecordRedriveAsync(long id, string outcome, string? transformVersion, DeadLetterAttempt attempt, CancellationToken cancellationToken = default) =>
        inner.RecordRedriveAsync(id, outcome, transformVersion, attempt, cancellationToken);

    public Task<IReadOnlyList<PurgedDeadLetters>> PurgeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default) =>
        inner.PurgeAsync(cutoff, cancellationToken);
}
