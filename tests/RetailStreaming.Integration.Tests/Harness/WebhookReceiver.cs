using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RetailStreaming.Connectors.Webhooks;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>One record of a webhook request, as the receiver got it.</summary>
/// <param name="Arrival">0-based index among all records the receiver accepted, in arrival order.</param>
/// <param name="Id">The idempotency key (<c>id</c>).</param>
/// <param name="Position">The source position.</param>
/// <param name="OutputIndex">The record's index among its change's outputs.</param>
/// <param name="Key">The record's business key.</param>
/// <param name="Type">The record type (<c>sale</c>, <c>catalog-entry</c>, ...).</param>
/// <param name="Table">The source table.</param>
/// <param name="Operation">insert, update, delete or read.</param>
/// <param name="Data">The record's payload.</param>
/// <param name="MessageId">The request's <c>webhook-id</c>.</param>
public sealed record ReceivedRecord(
    long Arrival, string Id, string Position, int OutputIndex, string Key, string Type, string Table, string Operation,
    JsonElement Data, string MessageId)
{
    /// <summary>A string field of <see cref="Data"/>, or null.</summary>
    public string? DataString(string name) =>
        Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>
/// A client endpoint for the tests: Kestrel on 127.0.0.1 and a free port. It checks every request
/// with <see cref="StandardWebhooks.Verify(string, IEnumerable{KeyValuePair{string, string}}, string, TimeSpan, out string?, TimeProvider?)"/>
/// (a bad signature is counted and answered 401), keeps every record of the requests it accepts
/// in arrival order, and answers 400 to any request holding a record that <see cref="Refuse"/>
/// matches (the webhook sink then splits the batch until only that record is refused).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly object _lock = new();
    private readonly List<ReceivedRecord> _records = [];
    private readonly HashSet<string> _positions = new(StringComparer.Ordinal);
    private readonly List<IReadOnlyList<ReceivedRecord>> _refused = [];
    private readonly List<string> _signatureFailures = [];
    private WebApplication? _app;
    private long _requests;

    private WebhookReceiver(string secret) => Secret = secret;

    /// <summary>Starts a receiver that verifies with <paramref name="secret"/> (<c>whsec_...</c>).</summary>
    public static async Task<WebhookReceiver> StartAsync(string secret, Func<ReceivedRecord, bool>? refuse = null)
    {
        var receiver = new WebhookReceiver(secret) { Refuse = refuse };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        // Cast to Delegate: as a RequestDelegate the IResult (400, 401) would be discarded and every request answered 200.
        app.MapPost("/hooks", (Delegate)receiver.HandleAsync);
        await app.StartAsync();
        receiver._app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = address.TrimEnd('/') + "/hooks";
        return receiver;
    }

    /// <summary>The URL to deliver to.</summary>
    public string Url { get; private set; } = "";

    /// <summary>The signing secret the receiver verifies with.</summary>
    public string Secret { get; }

    /// <summary>Requests holding a record this matches are answered 400 and their records not kept.</summary>
    public Func<ReceivedRecord, bool>? Refuse { get; set; }

    /// <summary>Requests received (all outcomes).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests whose signature did not verify.</summary>
    public int BadSignatures
    {
        get { lock (_lock) return _signatureFailures.Count; }
    }

    /// <summary>Why signatures failed (first 20).</summary>
    public IReadOnlyList<string> SignatureFailures
    {
        get { lock (_lock) return _signatureFailures.Take(20).ToList(); }
    }

    /// <summary>Every accepted record, in arrival order (duplicates included).</summary>
    public IReadOnlyList<ReceivedRecord> Records
    {
        get { lock (_lock) return _records.ToList(); }
    }

    /// <summary>Accepted records so far.</summary>
    public int Count
    {
        get { lock (_lock) return _records.Count; }
    }

    /// <summary>The records of every request answered 400 by <see cref="Refuse"/>, one list per request.</summary>
    public IReadOnlyList<IReadOnlyList<ReceivedRecord>> RefusedBatches
    {
        get { lock (_lock) return _refused.ToList(); }
    }

    /// <summary>Distinct source positions accepted so far.</summary>
    public int DistinctPositions
    {
        get { lock (_lock) return _positions.Count; }
    }

    /// <summary>True when a record of the change at <paramref name="position"/> was accepted.</summary>
    public bool HasPosition(string position)
    {
        lock (_lock) return _positions.Contains(position);
    }

    /// <summary>The positions of <paramref name="expected"/> no accepted record carries.</summary>
    public List<string> MissingPositions(IEnumerable<string> expected)
    {
        lock (_lock) return expected.Where(p => !_positions.Contains(p)).ToList();
    }

    private async Task<IResult> HandleAsync(HttpContext http)
    {
        Interlocked.Increment(ref _requests);
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync();
        var headers = http.Request.Headers.Select(h => new KeyValuePair<string, string>(h.Key, h.Value.ToString()));
        if (!StandardWebhooks.Verify(Secret, headers, body, StandardWebhooks.DefaultTolerance, out var failure))
        {
            lock (_lock) _signatureFailures.Add(failure ?? "?");
            return Results.Unauthorized();
        }

        var messageId = http.Request.Headers[StandardWebhooks.IdHeader].ToString();
        List<ReceivedRecord> batch;
        try
        {
            using var doc = JsonDocument.Parse(body);
            batch = doc.RootElement.GetProperty("records").EnumerateArray().Select(r => new ReceivedRecord(
                -1,
                r.GetProperty("id").GetString()!,
                r.GetProperty("position").GetString()!,
                r.GetProperty("outputIndex").GetInt32(),
                r.GetProperty("key").GetString()!,
                r.GetProperty("type").GetString()!,
                r.GetProperty("table").GetString()!,
                r.GetProperty("operation").GetString()!,
                r.GetProperty("data").Clone(),
                messageId)).ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            // A malformed body is a platform bug: counted with the signature failures so that tests see it.
            lock (_lock) _signatureFailures.Add($"malformed body: {e.Message}");
            return Results.Text($"malformed body: {e.Message}", statusCode: 400);
        }

        if (Refuse is { } refuse && batch.FirstOrDefault(refuse) is { } refused)
        {
            lock (_lock) _refused.Add(batch);
            return Results.Text($"record {refused.Id} (key {refused.Key}) refused by the test endpoint", statusCode: 400);
        }

        lock (_lock)
        {
            foreach (var record in batch)
            {
                _records.Add(record with { Arrival = _records.Count });
                _positions.Add(record.Position);
            }
        }
        return Results.Ok();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
