using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// A RetailStreaming node (<c>RetailStreaming.Node.dll run</c>) as a separate OS process, on its own
/// data directory, with a free Akka port and a free admin port. Its stdout and stderr are kept in
/// a bounded buffer whose tail goes into failure messages (<see cref="OutputTail"/>).
/// </summary>
/// <remarks>
/// <see cref="Kill"/> is a SIGKILL (no drain, no checkpoint); <see cref="StopAsync"/> a SIGTERM
/// (drain and checkpoint); <see cref="RestartAsync"/> starts it again on the same data directory.
/// Disposing kills a running node and deletes the data directory when the node created it (set
/// RS_IT_KEEP_DATA=1 to keep it, with the node's output in node-output.log, for a post-mortem).
/// </remarks>
public sealed class NodeProcess : IAsyncDisposable
{
    private const int MaxOutputLines = 20000;
    private const int SigTerm = 15;

    // Nodes still running when the test process ends (a test that never disposed its node) are
    // killed then, so that no node outlives the run.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Process, byte> Running = new();

    static NodeProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var process in Running.Keys)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }
    };

    private readonly bool _ownsDataDirectory;
    private readonly LinkedList<string> _output = new();
    private readonly object _outputLock = new();
    private Process? _process;
    private HttpClient? _admin;
    private int _starts;

    /// <summary>Creates a node (not started) on <paramref name="dataDirectory"/>, or on a new temporary one.</summary>
    public NodeProcess(string? dataDirectory = null, IReadOnlyDictionary<string, string>? environment = null, string name = "node")
    {
        _ownsDataDirectory = dataDirectory is null;
        DataDirectory = dataDirectory ?? Directory.CreateTempSubdirectory("rs-it-node-").FullName;
        Directory.CreateDirectory(DataDirectory);
        Name = name;
        if (environment is not null)
            foreach (var (key, value) in environment) Environment[key] = value;
    }

    /// <summary>Creates a node and starts it; see <see cref="StartAsync"/>.</summary>
    public static async Task<NodeProcess> StartAsync(
        IReadOnlyDictionary<string, string>? environment = null, string? dataDirectory = null, string name = "node", TimeSpan? timeout = null)
    {
        var node = new NodeProcess(dataDirectory, environment, name);
        try
        {
            await node.StartAsync(timeout);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>A name for messages (several nodes may run in one test).</summary>
    public string Name { get; }

    /// <summary>The node's data directory (journal, platform store, admin-url, operator-token).</summary>
    public string DataDirectory { get; }

    /// <summary>
    /// Extra environment variables of the node process (secrets, settings), read at each start;
    /// they override the harness's defaults (e.g. <c>RetailStreaming__Node__Port</c> for a seed node).
    /// The node also inherits the test process's environment.
    /// </summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Extra command-line arguments after <c>run</c> (e.g. <c>--RetailStreaming:Node:Roles:0=capture</c>); read at each start.</summary>
    public List<string> Arguments { get; } = [];

    /// <summary>
    /// The node's dll to run (read at each start); null runs this build's (<see cref="NodeBinaries.NodeDll"/>).
    /// The rolling-upgrade test runs the previous release's node here (Harness/PreviousRelease.cs).
    /// </summary>
    public string? NodeDll { get; set; }

    /// <summary>How long <see cref="StartAsync"/> waits for admin-url and /health by default.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The admin API's base URL of the current run (a new port after every start).</summary>
    public Uri AdminUrl { get; private set; } = null!;

    /// <summary>The operator token the node wrote at its first start.</summary>
    public string OperatorToken { get; private set; } = "";

    /// <summary>An HttpClient on the admin API of the current run, with the operator token.</summary>
    public HttpClient Admin => _admin ?? throw new InvalidOperationException($"{Name} is not running.");

    /// <summary>The OS process id of the current run, or null.</summary>
    public int? ProcessId => _process?.Id;

    /// <summary>How many times the node was started.</summary>
    public int Starts => _starts;

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts the node and waits until it wrote admin-url and answers /health.</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (IsRunning) throw new InvalidOperationException($"{Name} is already running (pid {_process!.Id}).");
        DisposeProcess();
        var adminUrlFile = Path.Combine(DataDirectory, "admin-url");
        // The file of the previous run names a port that is gone.
        File.Delete(adminUrlFile);

        var run = Interlocked.Increment(ref _starts);
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        psi.ArgumentList.Add(NodeDll ?? NodeBinaries.NodeDll);
        psi.ArgumentList.Add("run");
        foreach (var argument in Arguments) psi.ArgumentList.Add(argument);
        psi.Environment["RS_ENVIRONMENT"] = "local";
        psi.Environment["RetailStreaming__Node__DataDirectory"] = DataDirectory;
        psi.Environment["RetailStreaming__Node__Port"] = "0";
        psi.Environment["RetailStreaming__Admin__Url"] = "http://127.0.0.1:0";
        foreach (var (key, value) in Environment) psi.Environment[key] = value;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Append($"[{Name} #{run}] {e.Data}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Append($"[{Name} #{run} stderr] {e.Data}"); };
        Append($"[{Name} #{run}] --- starting {psi.FileName} {string.Join(' ', psi.ArgumentList)} in {DataDirectory}");
        if (!process.Start())
            throw new InvalidOperationException($"{Name}: the process did not start ({psi.FileName}).");
        _process = process;
        Running.TryAdd(process, 0);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var limit = timeout ?? StartTimeout;
        var deadline = DateTime.UtcNow + limit;
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (true)
        {
            if (process.HasExited)
            {
                process.WaitForExit(); // flushes the output handlers
                throw new InvalidOperationException(
                    $"{Name} exited with code {process.ExitCode} before it was ready.\n{OutputTail()}");
            }
            if (DateTime.UtcNow > deadline)
            {
                Kill();
                throw new TimeoutException(
                    $"{Name} did not write {adminUrlFile} and answer /health within {limit.TotalSeconds:0}s; killed it.\n{OutputTail()}");
            }

            if (ReadAdminUrl(adminUrlFile) is { } url)
            {
                try
                {
                    using var health = await probe.GetAsync(new Uri(url, "/health"));
                    if (health.StatusCode == HttpStatusCode.OK)
                    {
                        AdminUrl = url;
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
            }
            await Task.Delay(100);
        }

        // admin-url is written after operator-token, which is written atomically (tmp + move).
        var tokenFile = Path.Combine(DataDirectory, "operator-token");
        if (!File.Exists(tokenFile))
            throw new InvalidOperationException($"{Name} is up but wrote no {tokenFile}.\n{OutputTail()}");
        OperatorToken = (await File.ReadAllTextAsync(tokenFile)).Trim();
        _admin?.Dispose();
        _admin = CreateClient(OperatorToken);
    }

    /// <summary>An HttpClient on the admin API of the current run with the given bearer token (none when null).</summary>
    public HttpClient CreateClient(string? bearerToken)
    {
        var client = new HttpClient { BaseAddress = AdminUrl ?? throw new InvalidOperationException($"{Name} was never started."), Timeout = TimeSpan.FromSeconds(90) };
        if (bearerToken is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearerToken);
        return client;
    }

    /// <summary>SIGKILL: the node dies at once, without draining or checkpointing.</summary>
    public void Kill()
    {
        if (_process is not { } process) return;
        if (!process.HasExited)
        {
            Append($"[{Name} #{_starts}] --- SIGKILL (pid {process.Id})");
            process.Kill(entireProcessTree: true);
        }
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            throw new TimeoutException($"{Name} (pid {process.Id}) still runs 30s after SIGKILL.");
        process.WaitForExit();
        DisposeProcess();
    }

    /// <summary>
    /// SIGTERM, then waits for the node to exit (it drains and checkpoints first); returns its exit
    /// code. When it has not exited after <paramref name="timeout"/> it is killed and a
    /// <see cref="TimeoutException"/> is thrown.
    /// </summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process is not { } process) throw new InvalidOperationException($"{Name} is not running.");
        var limit = timeout ?? TimeSpan.FromSeconds(45);
        if (!process.HasExited)
        {
            Append($"[{Name} #{_starts}] --- SIGTERM (pid {process.Id})");
            if (OperatingSystem.IsWindows())
                process.Kill(entireProcessTree: true); // no SIGTERM there; the closest is a kill
            else if (SendSignal(process.Id, SigTerm) != 0)
                throw new InvalidOperationException($"{Name}: kill(-TERM, {process.Id}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
        using var wait = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            var tail = OutputTail();
            Kill();
            throw new TimeoutException($"{Name} did not exit within {limit.TotalSeconds:0}s of SIGTERM; killed it.\n{tail}");
        }
        process.WaitForExit(); // flushes the output handlers
        var code = process.ExitCode;
        Append($"[{Name} #{_starts}] --- exited with code {code}");
        DisposeProcess();
        return code;
    }

    /// <summary>Stops the node gracefully if it runs, then starts it again on the same data directory.</summary>
    public async Task RestartAsync(TimeSpan? timeout = null)
    {
        if (IsRunning) await StopAsync();
        await StartAsync(timeout);
    }

    /// <summary>The last <paramref name="lines"/> lines the node printed (all runs), for failure messages.</summary>
    public string OutputTail(int lines = 80)
    {
        lock (_outputLock)
        {
            var tail = _output.Skip(Math.Max(0, _output.Count - lines));
            return $"--- last {Math.Min(lines, _output.Count)} lines of {Name}'s output ---\n" + string.Join('\n', tail);
        }
    }

    /// <summary>GET an admin API path as the operator; the body as JSON (throws with the body and the node's output on a non-2xx answer).</summary>
    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Admin.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}: {body}\n{OutputTail()}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    /// <summary>POSTs a workflow definition file as the operator; returns the status and the body.</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> ApplyWorkflowAsync(string yaml, string fileName)
    {
        using var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");
        using var response = await Admin.PostAsync($"/api/workflows?file={Uri.EscapeDataString(fileName)}", content);
        var body = await response.Content.ReadAsStringAsync();
        JsonElement json;
        try
        {
            using var doc = JsonDocument.Parse(body);
            json = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            json = JsonSerializer.SerializeToElement(body);
        }
        return (response.StatusCode, json);
    }

    /// <summary>The workflow's <c>status</c> object, or null while the workflow is not listed or its entity does not answer.</summary>
    public async Task<JsonElement?> WorkflowStatusAsync(string workflowId)
    {
        using var response = await Admin.GetAsync($"/api/workflows/{Uri.EscapeDataString(workflowId)}");
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"GET /api/workflows/{workflowId} answered {(int)response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.Object
            ? status.Clone()
            : null;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        finally
        {
            _admin?.Dispose();
            _admin = null;
            if (System.Environment.GetEnvironmentVariable("RS_IT_KEEP_DATA") == "1")
                File.WriteAllText(Path.Combine(DataDirectory, "node-output.log"), OutputTail(MaxOutputLines));
            else if (_ownsDataDirectory)
                NodeBinaries.TryDelete(DataDirectory);
        }
        return ValueTask.CompletedTask;
    }

    private static Uri? ReadAdminUrl(string file)
    {
        try
        {
            // The node writes the file in place, not atomically: an empty or partial read fails here
            // or at the /health probe, and is read again.
            var text = File.Exists(file) ? File.ReadAllText(file).Trim() : "";
            return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Port > 0 ? uri : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The dotnet host the test runs on (the same runtime for the node), else dotnet from PATH.</summary>
    private static string DotnetHost()
    {
        if (System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
            return host;
        var current = System.Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
            return current;
        return "dotnet";
    }

    private void Append(string line)
    {
        lock (_outputLock)
        {
            _output.AddLast(line);
            while (_output.Count > MaxOutputLines) _output.RemoveFirst();
        }
    }

    private void DisposeProcess()
    {
        if (_process is not null) Running.TryRemove(_process, out _);
        _process?.Dispose();
        _process = null;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
