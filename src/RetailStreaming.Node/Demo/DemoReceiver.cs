using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using RetailStreaming.Connectors.Webhooks;

namespace RetailStreaming.Node.Demo;

/// <summary>
/// The demo's client endpoint: checks every request's Standard Webhooks signature, counts the
/// distinct idempotency keys and source positions it received, the duplicates, and the
/// commit-to-delivery latency.
/// </summary>
public sealed class DemoReceiver : IAsyncDisposable
{
    private readonly string _secret;
    private readonly ConcurrentDictionary<string, byte> _keys = new();
    private readonly ConcurrentDictionary<string, double> _positions = new();
    private WebApplication? _app;
    private long _duplicates;
    private long _badSignatures;
    private long _requests;

    /// <summary>Creates a receiver that verifies with <paramref name="secret"/> (<c>whsec_...</c>).</summary>
    public DemoReceiver(string secret) => _secret = secret;

    /// <summary>The URL to deliver to.</summary>
    public string Url { get; private set; } = "";

    /// <summary>Records received more than once (same idempotency key).</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Requests whose signature did not verify (answered 401).</summary>
    public long BadSignatures => Interlocked.Read(ref _badSignatures);

    /// <summary>Requests received.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Distinct idempotency keys received.</summary>
    public int DistinctKeys => _keys.Count;

    /// <summary>True when a record of the change at <paramref name="position"/> arrived.</summary>
    public bool ReceivedPosition(string position) => _positions.ContainsKey(position);

    /// <summary>Distinct source positions received.</summary>
    public int DistinctPositions => _positions.Count;

    /// <summary>Commit-at-the-source to first receipt, in ms, of the change at <paramref name="position"/>, or null.</summary>
    public double? LatencyMs(string position) => _positions.TryGetValue(position, out var ms) ? ms : null;

    /// <summary>Starts listening on 127.0.0.1 at <paramref name="port"/> (0: a free port).</summary>
    public async Task StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        _app = builder.Build();
        _app.MapPost("/hooks", (Delegate)HandleAsync);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Url = address.TrimEnd('/') + "/hooks";
    }

    private async Task<IResult> HandleAsync(HttpContext http)
    {
        Interlocked.Increment(ref _requests);
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync();
        var headers = http.Request.Headers.Select(h => new KeyValuePair<string, string>(h.Key, h.Value.ToString()));
        if (!StandardWebhooks.Verify(_secret, headers, body, StandardWebhooks.DefaultTolerance))
        {
            Interlocked.Increment(ref _badSignatures);
            return Results.Unauthorized();
        }

        var now = DateTimeOffset.UtcNow;
        using var doc = JsonDocument.Parse(body);
        foreach (var record in doc.RootElement.GetProperty("records").EnumerateArray())
        {
            var key = record.GetProperty("id").GetString()!;
            if (!_keys.TryAdd(key, 0)) Interlocked.Increment(ref _duplicates);
            var latency = record.TryGetProperty("commitTime", out var ct) &&
                DateTimeOffset.TryParse(ct.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var commit)
                ? (now - commit).TotalMilliseconds
                : double.NaN;
            _positions.TryAdd(record.GetProperty("position").GetString()!, latency);
        }
        return Results.Ok();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
