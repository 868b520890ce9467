using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// Debian's Chromium, headless, driven over the Chrome DevTools Protocol (a WebSocket, no npm, no
/// browser download): navigate, evaluate JavaScript in the page (so a test reads what the page's
/// scripts rendered), take screenshots. JavaScript exceptions and error log entries (a refused
/// script or a CSP violation) are collected in <see cref="PageErrors"/>.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    /// <summary>The browser; <c>RS_CHROMIUM</c> overrides it.</summary>
    public static string Executable => Environment.GetEnvironmentVariable("RS_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    private readonly Process _process;
    private readonly string _userDataDirectory;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _send = new(1, 1);
    private Task _reader = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(Process process, string userDataDirectory)
    {
        _process = process;
        _userDataDirectory = userDataDirectory;
    }

    /// <summary>Errors the pages raised (exceptions, error log entries, console errors).</summary>
    public IReadOnlyList<string> PageErrors => _errors.ToArray();

    /// <summary>Starts a browser with a fresh profile and one page of the given size.</summary>
    public static async Task<HeadlessChromium> StartAsync(int width = 1400, int height = 1000)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException(
                $"Chromium is missing ({Executable}): the page tests drive Debian's Chromium. Install it with " +
                "`apt-get update && apt-get install -y chromium` (.ci/run does), or set RS_CHROMIUM to a Chromium binary.");
        var profile = Directory.CreateTempSubdirectory("rs-it-chromium-").FullName;
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                     $"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                     $"--window-size={width},{height}", "about:blank",
                 })
            info.ArgumentList.Add(arg);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{Executable} did not start.");
        var output = new ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var browser = new HeadlessChromium(process, profile);
        try
        {
            // Chromium writes the port it chose (and the browser's WebSocket path) into the profile.
            var portFile = Path.Combine(profile, "DevToolsActivePort");
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            string[] lines = [];
            while (lines.Length < 1 || lines[0].Length == 0)
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                    throw new InvalidOperationException($"Chromium gave no DevTools port within 60 s (exited: {process.HasExited}).\n{string.Join('\n', output.TakeLast(30))}");
                await Task.Delay(100);
                if (File.Exists(portFile))
                    lines = (await File.ReadAllTextAsync(portFile)).Split('\n', StringSplitOptions.TrimEntries);
            }
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{lines[0]}/json/list"))!.AsArray();
            var page = targets.FirstOrDefault(t => t?["type"]?.GetValue<string>() == "page")
                       ?? throw new InvalidOperationException($"Chromium has no page target: {targets.ToJsonString()}");
            await browser._socket.ConnectAsync(new Uri(page["webSocketDebuggerUrl"]!.GetValue<string>()), CancellationToken.None);
            browser._reader = Task.Run(browser.ReadAsync);
            await browser.SendAsync("Page.enable");
            await browser.SendAsync("Runtime.enable");
            await browser.SendAsync("Log.enable");
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends a DevTools command and returns its result; a protocol error throws.</summary>
    public async Task<JsonObject> SendAsync(string method, object? parameters = null, TimeSpan? timeout = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        await _send.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, true, _stop.Token);
        }
        finally
        {
            _send.Release();
        }
        var message = await reply.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
        if (message["error"] is { } error)
            throw new InvalidOperationException($"{method}: {error.ToJsonString()}");
        return message["result"]?.AsObject() ?? [];
    }

    /// <summary>Opens a URL and waits until its document has loaded (the page's scripts then fetch their data).</summary>
    public async Task NavigateAsync(string url)
    {
        var result = await SendAsync("Page.navigate", new { url });
        if (result["errorText"] is { } error)
            throw new InvalidOperationException($"Navigating to {url} failed: {error}");
        await Eventually.UntilAsync($"{url} has loaded", TimeSpan.FromSeconds(30),
            async () => await EvaluateAsync<string>("document.readyState") == "complete", () => string.Join('\n', PageErrors));
    }

    /// <summary>Evaluates an expression in the page (promises awaited) and returns its value.</summary>
    public async Task<T?> EvaluateAsync<T>(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result["exceptionDetails"] is { } exception)
            throw new InvalidOperationException($"{expression}: {exception.ToJsonString()}");
        var value = result["result"]?["value"];
        return value is null ? default : value.Deserialize<T>();
    }

    /// <summary>The page's visible text.</summary>
    public async Task<string> TextAsync() => await EvaluateAsync<string>("document.body.innerText") ?? "";

    /// <summary>Waits until the page's visible text contains every one of <paramref name="texts"/>.</summary>
    public Task WaitForTextAsync(TimeSpan timeout, params string[] texts)
    {
        var last = "";
        return Eventually.UntilAsync($"the page shows {string.Join(", ", texts.Select(t => $"'{t}'"))}", timeout, async () =>
        {
            last = await TextAsync();
            return texts.All(t => last.Contains(t, StringComparison.Ordinal));
        }, () => $"page text:\n{last}\npage errors:\n{string.Join('\n', PageErrors)}", TimeSpan.FromMilliseconds(300));
    }

    /// <summary>Saves a PNG of the whole page.</summary>
    public async Task ScreenshotAsync(string path)
    {
        var result = await SendAsync("Page.captureScreenshot", new { format = "png", captureBeyondViewport = true });
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(result["data"]!.GetValue<string>()));
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var chunk = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (chunk.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, chunk.Count);
                if (!chunk.EndOfMessage) continue;
                var json = JsonNode.Parse(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length))!.AsObject();
                message.SetLength(0);
                if (json["id"] is { } id && _pending.TryRemove(id.GetValue<int>(), out var reply))
                    reply.TrySetResult(json);
                else
                    Observe(json);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        foreach (var reply in _pending.Values)
            reply.TrySetException(new InvalidOperationException("Chromium's DevTools connection closed."));
    }

    private void Observe(JsonObject json)
    {
        var method = json["method"]?.GetValue<string>();
        var p = json["params"];
        if (p is null) return;
        if (method == "Runtime.exceptionThrown")
        {
            var details = p["exceptionDetails"];
            _errors.Enqueue("exception: " + (details?["exception"]?["description"] ?? details?["text"]));
        }
        else if (method == "Runtime.consoleAPICalled" && (string?)p["type"] == "error")
        {
            _errors.Enqueue("console.error: " + p["args"]?.ToJsonString());
        }
        else if (method == "Log.entryAdded" && (string?)p["entry"]?["level"] == "error")
        {
            var entry = p["entry"]!;
            _errors.Enqueue("log: " + entry["text"] + " (" + entry["url"] + ")");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException)
        {
        }
        _socket.Dispose();
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
        }
        _process.Dispose();
        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        NodeBinaries.TryDelete(_userDataDirectory);
        _stop.Dispose();
    }
}
