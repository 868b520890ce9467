using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace RetailStreaming.Cli;

/// <summary>An answer of the admin API: its status and its JSON body.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Body">The parsed body (<see cref="JsonValueKind.Undefined"/> when it is not JSON).</param>
/// <param name="Text">The raw body.</param>
public sealed record ApiResponse(HttpStatusCode Status, JsonElement Body, string Text)
{
    /// <summary>A 2xx answer.</summary>
    public bool Ok => (int)Status is >= 200 and < 300;

    /// <summary>The error detail the API sends with a refusal (<c>detail</c>, else <c>error</c>, else the text).</summary>
    public string Detail =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()!
        : Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()!
        : string.IsNullOrWhiteSpace(Text) ? $"HTTP {(int)Status}" : Text.Trim();
}

/// <summary>The admin API of one node, over HTTP.</summary>
public sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _hasToken;

    /// <summary>A client of the node at <paramref name="node"/>, sending <paramref name="token"/> when set.</summary>
    public AdminClient(Uri node, string? token, HttpMessageHandler? handler)
    {
        Node = node;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = node;
        // A pause waits for the workflow to drain (bounded by the node's drain timeout).
        _http.Timeout = TimeSpan.FromMinutes(2);
        _hasToken = !string.IsNullOrEmpty(token);
        if (_hasToken)
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>The node's base URL.</summary>
    public Uri Node { get; }

    /// <summary>GET.</summary>
    public Task<ApiResponse> GetAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Get, path));

    /// <summary>POST with a JSON body (none when null).</summary>
    public Task<ApiResponse> PostJsonAsync(string path, object? body = null) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = body is null ? null : new StringContent(JsonSerializer.Serialize(body, JsonSerializerOptions.Web), Encoding.UTF8, "application/json"),
        });

    /// <summary>POST with a text body.</summary>
    public Task<ApiResponse> PostTextAsync(string path, string text, string mediaType) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(text, Encoding.UTF8, mediaType) });

    /// <summary>POST with a binary body.</summary>
    public Task<ApiResponse> PostBytesAsync(string path, byte[] content, string mediaType) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new ByteArrayContent(content) { Headers = { ContentType = new MediaTypeHeaderValue(mediaType) } },
        });

    /// <summary>DELETE.</summary>
    public Task<ApiResponse> DeleteAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Delete, path));

    /// <summary>
    /// Reads a server-sent event stream: yields the data of each event until the node ends the
    /// stream or <paramref name="cancellationToken"/> is cancelled. A refusal ends the command.
    /// </summary>
    public async IAsyncEnumerable<string> EventsAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new CliException(ExitCodes.Failed,
                $"cannot reach the node at {Node} ({e.Message}); check --node or the context (rsctl context list)");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(CancellationToken.None);
                var body = default(JsonElement);
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    body = doc.RootElement.Clone();
                }
                catch (JsonException)
                {
                }
                if (response.StatusCode == HttpStatusCode.Unauthorized && !_hasToken)
                    throw new CliException(ExitCodes.NotFoundOrNotAllowed,
                        "no token given; pass --token, set RS_TOKEN, or add one to the context (rsctl context add NAME --node URL --token TOKEN)");
                throw Refusal(new ApiResponse(response.StatusCode, body, text));
            }
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var reader = new StreamReader(stream);
            while (true)
            {
                string? line;
                try
                {
                    line = await reader.ReadLineAsync(cancellationToken);
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    // The node went away mid-stream (it stopped or left): the stream is over.
                    yield break;
                }
                if (line is null) yield break;
                if (line.StartsWith("data: ", StringComparison.Ordinal)) yield return line["data: ".Length..];
            }
        }
    }

    private async Task<ApiResponse> SendAsync(HttpRequestMessage request)
    {
        using (request)
        {
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request);
            }
            catch (HttpRequestException e)
            {
                throw new CliException(ExitCodes.Failed,
                    $"cannot reach the node at {Node} ({e.Message}); check --node or the context (rsctl context list)");
            }
            catch (TaskCanceledException)
            {
                throw new CliException(ExitCodes.Failed,
                    $"the node at {Node} did not answer within {_http.Timeout.TotalSeconds:0}s; check its health (GET /health/ready) and try again");
            }
            using (response)
            {
                var text = await response.Content.ReadAsStringAsync();
                var body = default(JsonElement);
                if (!string.IsNullOrWhiteSpace(text))
                {
                    try
                    {
                        using var doc = JsonDocument.Parse(text);
                        body = doc.RootElement.Clone();
                    }
                    catch (JsonException)
                    {
                        // Not JSON (a proxy's page, a framework error): the text is the detail.
                    }
                }
                if (response.StatusCode == HttpStatusCode.Unauthorized && !_hasToken)
                    throw new CliException(ExitCodes.NotFoundOrNotAllowed,
                        "no token given; pass --token, set RS_TOKEN, or add one to the context (rsctl context add NAME --node URL --token TOKEN)");
                return new ApiResponse(response.StatusCode, body, text);
            }
        }
    }

    /// <summary>
    /// The body of a successful answer; a refusal ends the command with its exit code and a line
    /// saying what to do.
    /// </summary>
    /// <param name="response">The answer.</param>
    /// <param name="notFoundHint">What to do after a 404, in rsctl's terms (replaces the API's own hint, which names routes).</param>
    public static JsonElement Expect(ApiResponse response, string? notFoundHint = null)
    {
        if (response.Ok) return response.Body;
        throw Refusal(response, notFoundHint);
    }

    /// <summary>The error a refusal ends the command with.</summary>
    public static CliException Refusal(ApiResponse response, string? notFoundHint = null) => response.Status switch
    {
        // The API's details read "what happened; what to do": keep the first part.
        HttpStatusCode.NotFound when notFoundHint is not null => new CliException(ExitCodes.NotFoundOrNotAllowed,
            $"{response.Detail.Split("; ")[0].TrimEnd('.')}; {notFoundHint}"),
        HttpStatusCode.Unauthorized => new CliException(ExitCodes.NotFoundOrNotAllowed,
            $"the node refused the token: {response.Detail} Pass --token, set RS_TOKEN, or update the context (rsctl context add)"),
        HttpStatusCode.Forbidden => new CliException(ExitCodes.NotFoundOrNotAllowed, $"not allowed: {response.Detail}"),
        HttpStatusCode.NotFound => new CliException(ExitCodes.NotFoundOrNotAllowed, response.Detail),
        _ => new CliException(ExitCodes.Failed, response.Detail),
    };

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
