using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Node.Admin;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Node.Demo;

/// <summary>Options of <c>RetailStreaming.Node demo</c>.</summary>
public sealed record DemoOptions
{
    /// <summary>Stop writing after this long, drain, stop and print the summary; null: run until Ctrl+C.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Changes the generator writes per second.</summary>
    public int Rate { get; init; } = 250;

    /// <summary>Where the demo keeps its files.</summary>
    public string Directory { get; init; } = "demo-data";

    /// <summary>The receiving endpoint's port (fixed, so that a second run applies the same definition).</summary>
    public int ReceiverPort { get; init; } = 5181;

    /// <summary>How often progress is printed.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait for pending changes to arrive after the generator stops.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Reads <c>--for 60s --rate 250 --dir demo-data --receiver-port 5181</c>.</summary>
    public static DemoOptions Parse(string[] args)
    {
        var options = new DemoOptions();
        if (NodeHost.ArgValue(args, "--for") is { } d) options = options with { Duration = ParseDuration(d) };
        if (NodeHost.ArgValue(args, "--rate") is { } r) options = options with { Rate = int.Parse(r, CultureInfo.InvariantCulture) };
        if (NodeHost.ArgValue(args, "--dir") is { } dir) options = options with { Directory = dir };
        if (NodeHost.ArgValue(args, "--receiver-port") is { } p) options = options with { ReceiverPort = int.Parse(p, CultureInfo.InvariantCulture) };
        return options;
    }

    /// <summary>Parses 90s, 2m, 1h, 500ms or a plain number of seconds.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        text = text.Trim();
        double N(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (text.EndsWith("ms", StringComparison.Ordinal)) return TimeSpan.FromMilliseconds(N(text[..^2]));
        if (text.EndsWith('s')) return TimeSpan.FromSeconds(N(text[..^1]));
        if (text.EndsWith('m')) return TimeSpan.FromMinutes(N(text[..^1]));
        if (text.EndsWith('h')) return TimeSpan.FromHours(N(text[..^1]));
        return TimeSpan.FromSeconds(N(text));
    }
}

/// <summary>What a demo run measured.</summary>
/// <param name="Elapsed">How long the generator wrote.</param>
/// <param name="UntilDelivered">From the generator's start to the last delivery (drain included).</param>
public sealed record DemoResult(long Written, long Delivered, long Duplicates, long Lost, long BadSignatures,
    TimeSpan Elapsed, TimeSpan UntilDelivered, double P50Ms, double P95Ms, double P99Ms, double MaxMs)
{
    /// <summary>The summary line the issue asks for.</summary>
    public string SummaryLine => $"written={Written} delivered={Delivered} duplicates={Duplicates} lost={Lost}";
}

/// <summary>
/// <c>RetailStreaming.Node demo</c>: the whole platform on one machine. Creates the demo retail
/// database and a generator writing to it, runs a node, applies the demo workflow with the sample
/// transform, receives the deliveries on a local signed-webhook endpoint, prints progress, and at
/// the end a summary of what was written, delivered, duplicated and lost.
/// </summary>
public static class DemoCommand
{
    private const string WorkflowId = "demo-retail";

    /// <summary>Runs the demo; returns the process exit code (0 when nothing was lost).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken stop)
    {
        var demo = DemoOptions.Parse(args);
        var result = await RunAsync(demo, NodeHost.ReadOptions(args, out _), output, stop);
        return result.Lost == 0 && result.BadSignatures == 0 ? 0 : 1;
    }

    /// <summary>Runs the demo with explicit options (the benchmarks use this).</summary>
    public static async Task<DemoResult> RunAsync(DemoOptions demo, NodeOptions node, TextWriter output, CancellationToken stop)
    {
        var root = Path.GetFullPath(demo.Directory);
        node.Node.DataDirectory = Path.Combine(root, "node");
        var databasePath = Path.Combine(root, "retail.db");

        // The signing secret lives in the environment, as a secret reference names it; a run
        // that resumes keeps the one the endpoint already knows.
        var secretFile = Path.Combine(root, "webhook-secret");
        Directory.CreateDirectory(root);
        if (!File.Exists(secretFile)) await File.WriteAllTextAsync(secretFile, StandardWebhooks.GenerateSecret(), stop);
        var secret = (await File.ReadAllTextAsync(secretFile, stop)).Trim();
        Environment.SetEnvironmentVariable("RS_DEMO_WEBHOOK_SECRET", secret);

        RetailDemoDatabase.EnsureCreated(databasePath);
        await using var receiver = new DemoReceiver(secret);
        await receiver.StartAsync(demo.ReceiverPort);

        // Install the capture (triggers, and the snapshot of the seed rows) before the generator
        // starts: every change the generator writes then has a sequence above this one, which is
        // how the summary tells which positions must arrive.
        var connection = $"Data Source={databasePath}";
        var template = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "demo", "workflow.yaml"), stop);
        var yaml = template.Replace("{{DATABASE}}", databasePath).Replace("{{RECEIVER_URL}}", receiver.Url);
        await using (var capture = new SqliteChangeTableSource(WorkflowId, connection, ["stores", "products", "catalog", "tickets"], NullLogger.Instance))
            await capture.PrepareAsync(stop);
        var firstSequence = MaxSequence(databasePath) + 1;

        var app = await NodeHost.BuildAsync(node);
        await app.StartAsync(stop);
        var adminUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var tokens = app.Services.GetRequiredService<ITokenStore>();
        var (token, _) = await tokens.IssueAsync("operator", null, "demo operator", stop);
        var queries = app.Services.GetRequiredService<WorkflowQueries>();

        output.WriteLine($"admin API:      {adminUrl}  (curl -H 'Authorization: Bearer {token}' {adminUrl}/api/workflows)");
        output.WriteLine($"operator token: {token}");
        // The token rides in the fragment, which the browser never sends; the page keeps it in the tab.
        output.WriteLine($"dashboard:      {adminUrl}/ui/#token={token}  (support: /ui/support, client status: /ui/status)");
        output.WriteLine($"endpoint:       {receiver.Url}");
        output.WriteLine($"database:       {databasePath}");

        // SIGTERM stops the host (its console lifetime) rather than raising Ctrl+C: the demo then
        // stops too, instead of generating on for a node that is gone.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stop);
        using var onHostStopping = app.Lifetime.ApplicationStopping.Register(stopping.Cancel);
        stop = stopping.Token;

        var applied = await ApplyWithRetryAsync(queries, yaml, stop);
        output.WriteLine($"workflow:       {WorkflowId} {applied}");

        var generator = new DemoGenerator(databasePath, demo.Rate);
        using var generatorStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var started = DateTime.UtcNow;
        var generatorTask = generator.RunAsync(generatorStop.Token);
        output.WriteLine($"generator:      {demo.Rate} changes/s{(demo.Duration is { } d ? $" for {d.TotalSeconds:0}s" : " until Ctrl+C")}");

        long Delivered() => CountReceived(receiver, firstSequence, generator.Written);

        try
        {
            var until = demo.Duration is { } duration ? started + duration : DateTime.MaxValue;
            while (DateTime.UtcNow < until && !stop.IsCancellationRequested)
            {
                await Task.Delay(Min(demo.ProgressInterval, until - DateTime.UtcNow), stop).ContinueWith(_ => { });
                await PrintProgressAsync(output, queries, generator, receiver, Delivered(), started);
                if (generatorTask.IsFaulted) throw generatorTask.Exception!.InnerException!;
            }
        }
        finally
        {
            await generatorStop.CancelAsync();
            await generatorTask.ContinueWith(_ => { });
        }
        var elapsed = DateTime.UtcNow - started;

        // Let what is pending arrive, within a bound.
        output.WriteLine($"generator stopped after {generator.Written} changes; draining...");
        var drainUntil = DateTime.UtcNow + (stop.IsCancellationRequested ? TimeSpan.FromSeconds(10) : demo.DrainTimeout);
        while (Delivered() < generator.Written && DateTime.UtcNow < drainUntil && !app.Lifetime.ApplicationStopped.IsCancellationRequested)
            await Task.Delay(50);
        var untilDelivered = DateTime.UtcNow - started;

        await app.StopAsync();
        await app.DisposeAsync();

        var delivered = Delivered();
        // Latency of the generator's changes only (the seed snapshot was committed before the run).
        var lat = Enumerable.Range(0, (int)generator.Written)
            .Select(i => receiver.LatencyMs(SqliteChangeTableSource.PositionOf(firstSequence + i).Value))
            .OfType<double>().Where(double.IsFinite).Order().ToArray();
        double Pct(double p) => lat.Length == 0 ? 0 : lat[Math.Min(lat.Length - 1, (int)(p * lat.Length))];
        var result = new DemoResult(generator.Written, delivered, receiver.Duplicates, generator.Written - delivered,
            receiver.BadSignatures, elapsed, untilDelivered, Pct(0.50), Pct(0.95), Pct(0.99), lat.Length == 0 ? 0 : lat[^1]);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rate={generator.Written / Math.Max(1, elapsed.TotalSeconds):0} changes/s  latency p50={result.P50Ms:0}ms p95={result.P95Ms:0}ms p99={result.P99Ms:0}ms  bad-signatures={receiver.BadSignatures}"));
        output.WriteLine(result.SummaryLine);
        return result;
    }

    private static async Task<string> ApplyWithRetryAsync(WorkflowQueries queries, string yaml, CancellationToken stop)
    {
        // The shard region needs the one-node cluster to be up; retry briefly while it forms.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await queries.ApplyAsync(WorkflowId, yaml, "demo/workflow.yaml", stop) switch
                {
                    WorkflowReplies.DefinitionApplied a => $"definition v{a.Version} applied",
                    WorkflowReplies.DefinitionUnchanged u => $"definition v{u.Version} unchanged (resuming from its checkpoint)",
                    WorkflowReplies.DefinitionRejected r => throw new InvalidOperationException("The demo workflow was rejected:\n" + string.Join("\n", r.Errors)),
                    var other => throw new InvalidOperationException($"Unexpected reply {other}"),
                };
            }
            catch (Akka.Actor.AskTimeoutException) when (attempt < 5)
            {
            }
        }
    }

    private static long CountReceived(DemoReceiver receiver, long firstSequence, long written)
    {
        long count = 0;
        for (var seq = firstSequence; seq < firstSequence + written; seq++)
            if (receiver.ReceivedPosition(SqliteChangeTableSource.PositionOf(seq).Value)) count++;
        return count;
    }

    private static long MaxSequence(string databasePath)
    {
        using var connection = RetailDemoDatabase.Open(databasePath);
        using var cmd = connection.CreateCommand();
        // AUTOINCREMENT keeps the highest sequence ever used in sqlite_sequence, even after pruning.
        cmd.CommandText = "SELECT seq FROM sqlite_sequence WHERE name = $name";
        cmd.Parameters.AddWithValue("$name", SqliteChangeTableSource.ChangeTableNameFor(WorkflowId));
        return cmd.ExecuteScalar() is long seq ? seq : 0;
    }

    private static async Task PrintProgressAsync(TextWriter output, WorkflowQueries queries, DemoGenerator generator,
        DemoReceiver receiver, long delivered, DateTime started)
    {
        var view = await queries.GetAsync(WorkflowId, null, CancellationToken.None);
        var s = view?.Status;
        var secs = Math.Max(1, (DateTime.UtcNow - started).TotalSeconds);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{secs,5:0}s] written={generator.Written} captured={s?.CapturedChanges ?? 0} delivered={delivered} " +
            $"pending={generator.Written - delivered} in-flight={s?.InFlight ?? 0} lag={s?.SourcePendingChanges ?? 0} changes " +
            $"latency={s?.LastCommitToDeliveryMs ?? 0:0}ms state={s?.State ?? view?.Problem ?? "?"} " +
            $"dead-letters={s?.DeadLetters ?? 0} duplicates={receiver.Duplicates}"));
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? (a < TimeSpan.Zero ? TimeSpan.Zero : a) : (b < TimeSpan.Zero ? TimeSpan.Zero : b);
}
