using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>What the endpoint does with one request.</summary>
public sealed record ChaosAnswer(int Status = 200, TimeSpan Delay = default, int? RetryAfterSeconds = null, bool Drop = false)
{
    public static ChaosAnswer Ok { get; } = new();
}

/// <summary>One record the endpoint saw in a request body.</summary>
public sealed record SeenRecord(string Id, string Type, string Key, string Position);

/// <summary>
/// A real webhook endpoint on 127.0.0.1 that can be told to fail: each request's answer comes from
/// <see cref="Answer"/> (status, delay, Retry-After, or a dropped connection). Records of requests
/// answered 2xx are kept in the order the answers were given; the most requests in progress at once
/// is kept too.
/// </summary>
public sealed class ChaosEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<SeenRecord> _accepted = [];
    private int _inProgress;
    private int _maxInProgress;
    private int _requests;

    private ChaosEndpoint(WebApplication app) => _app = app;

    /// <summary>The answer to a request (its records, and its number from 1); the default accepts.</summary>
    public Func<IReadOnlyList<SeenRecord>, int, ChaosAnswer> Answer { get; set; } = (_, _) => ChaosAnswer.Ok;

    public string Url { get; private set; } = "";

    public IReadOnlyList<SeenRecord> Accepted
    {
        get { lock (_accepted) return _accepted.ToList(); }
    }

    public int MaxInProgress => Volatile.Read(ref _maxInProgress);

    public int RequestCount => Volatile.Read(ref _requests);

    public static async Task<ChaosEndpoint> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var endpoint = new ChaosEndpoint(app);
        app.Run(endpoint.HandleAsync);
        await app.StartAsync();
        endpoint.Url = app.Urls.Single() + "/hooks";
        return endpoint;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var now = Interlocked.Increment(ref _inProgress);
        try
        {
            int seen;
            while ((seen = Volatile.Read(ref _maxInProgress)) < now && Interlocked.CompareExchange(ref _maxInProgress, now, seen) != seen) { }
            var number = Interlocked.Increment(ref _requests);
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var records = JsonNode.Parse(body)!["records"]!.AsArray()
                .Select(r => new SeenRecord(r!["id"]!.GetValue<string>(), r["type"]!.GetValue<string>(), r["key"]!.GetValue<string>(), r["position"]!.GetValue<string>()))
                .ToList();
            var answer = Answer(records, number);
            if (answer.Delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(answer.Delay, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return; // the client gave up waiting (its timeout): it saw no answer
                }
            }
            if (answer.Drop)
            {
                context.Abort();
                return;
            }
            if (answer.RetryAfterSeconds is { } seconds)
                context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (answer.Status is >= 200 and < 300)
                lock (_accepted) _accepted.AddRange(records);
            context.Response.StatusCode = answer.Status;
            if (answer.Status >= 400) await context.Response.WriteAsync($"refused {string.Join(",", records.Select(r => r.Key))}");
        }
        finally
        {
            Interlocked.Decrement(ref _inProgress);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
