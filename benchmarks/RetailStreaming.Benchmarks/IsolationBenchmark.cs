using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using RetailStreaming.Node;
using RetailStreaming.Node.Admin;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// Transform isolation in process: workflow A (the retail sample) at a fixed rate, its
/// commit-to-delivery latency alone, then beside as many CPU-spinning workflows (the spinner sample)
/// as the machine has cores, on the node's transform slots (<c>Transforms:Slots</c>, default cores - 1);
/// and, for comparison, beside the same spinners with a slot per workflow (<c>--slots</c> of the
/// last row: as if every transform ran unbounded on its own thread, as before the slots).
/// Latency is receipt at the endpoint minus the change's commit time (SQLite, millisecond precision;
/// the source polls every 50 ms). Each round runs on a fresh node (in this process, SQLite journal) with its own client databases.
/// </summary>
public static class IsolationBenchmark
{
    private const string SecretVariable = "RS_BENCH_ISOLATION_SECRET";

    public static async Task<int> RunAsync(string[] args)
    {
        var duration = TimeSpan.FromSeconds(double.Parse((Arg(args, "--for") ?? "20s").TrimEnd('s'), CultureInfo.InvariantCulture));
        var rate = int.Parse(Arg(args, "--rate") ?? "100", CultureInfo.InvariantCulture);
        var spinners = int.Parse(Arg(args, "--spinners") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var spinMs = int.Parse(Arg(args, "--spin-ms") ?? "20", CultureInfo.InvariantCulture);
        var unbounded = int.Parse(Arg(args, "--unbounded-slots") ?? "64", CultureInfo.InvariantCulture);

        var rounds = new List<(string Name, int Slots, Result Result)>();
        foreach (var (name, count, slots) in new[]
                 {
                     ("alone", 0, 0),
                     ($"beside {spinners} spinners", spinners, 0),
                     ($"beside {spinners} spinners, {unbounded} slots", spinners, unbounded),
                 })
        {
            Console.Error.WriteLine($"isolation: {name} ...");
            var result = await RoundAsync(duration, rate, count, spinMs, slots);
            rounds.Add((name, result.Slots, result));
            Console.Error.WriteLine($"isolation: {name}: p99 {result.P99:0.0} ms over {result.Measured} changes");
        }

        Console.WriteLine($"isolation: workflow A (retail sample) at {rate}/s for {duration.TotalSeconds:0}s; spinners burn {spinMs} ms per change; {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| round | transform slots | A changes | A p50 ms | A p99 ms | A max ms | spinner changes | process CPU s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, slots, r) in rounds)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {slots} | {r.Measured} | {r.P50:0.0} | {r.P99:0.0} | {r.Max:0.0} | {r.SpinnerChanges} | {r.CpuSeconds:0.0} |"));
        Console.WriteLine();
        var lost = rounds.Sum(r => r.Result.Lost);
        if (lost > 0) Console.WriteLine($"lost={lost}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"p99-alone={rounds[0].Result.P99:0.0} p99-beside-spinner={rounds[1].Result.P99:0.0}"));
        return lost > 0 ? 1 : 0;
    }

    private sealed record Result(int Slots, long Measured, double P50, double P99, double Max, long SpinnerChanges, double CpuSeconds, long Lost);

    private static async Task<Result> RoundAsync(TimeSpan duration, int rate, int spinners, int spinMs, int slots)
    {
        var dir = Directory.CreateTempSubdirectory("rs-bench-isolation-").FullName;
        var secret = StandardWebhooks.GenerateSecret();
        Environment.SetEnvironmentVariable(SecretVariable, secret);
        var options = new NodeOptions();
        options.Node.DataDirectory = Path.Combine(dir, "node");
        options.Node.Port = 0;
        options.Admin.Url = "http://127.0.0.1:0";
        options.Logging.MinimumLevel = "Warning";
        options.Transforms.Slots = slots;
        NodeHost.ConfigureLogging(options);
        await using var receiver = await LatencyReceiver.StartAsync();
        await using var spinnerReceiver = await LatencyReceiver.StartAsync(everything: true);
        var databases = new List<RetailClientDatabase>();
        var app = await NodeHost.BuildAsync(options);
        try
        {
            await app.StartAsync();
            var usedSlots = app.Services.GetRequiredService<RetailStreaming.Workflows.IWorkflowConnectors>() is RetailStreaming.Workflows.Hosting.DefaultWorkflowConnectors c
                ? c.TransformSlots.Slots : -1;
            var queries = app.Services.GetRequiredService<WorkflowQueries>();
            var a = RetailClientDatabase.Create(Path.Combine(dir, "client-a.db"));
            databases.Add(a);
            a.Write(w => w.InsertProduct(RetailWriter.Sku(1), "Product 1", 1, "grocery"));
            await queries.ApplyAsync("bench-iso-a", WorkflowFile.Retail("bench-iso-a", a, receiver.Url, SecretVariable), "bench-iso-a.yaml", CancellationToken.None);
            // The snapshot (the product, a read) first: a row written before the capture is installed is part of it.
            await WaitAsync(() => receiver.Records >= 1, TimeSpan.FromSeconds(120), "workflow A's snapshot");
            a.Write(w => w.InsertTicket("T-ISO-WARMUP", "S001", RetailWriter.Sku(1), 1, 2.0));
            await WaitAsync(() => receiver.Count >= 1, TimeSpan.FromSeconds(120), "workflow A's first change");

            // Each spinner gets enough changes to spin through the whole round.
            var spinnerChanges = (int)(duration.TotalSeconds * 1000 / Math.Max(1, spinMs) * 2) + 100;
            for (var i = 0; i < spinners; i++)
            {
                var db = RetailClientDatabase.Create(Path.Combine(dir, $"spinner-{i}.db"));
                databases.Add(db);
                db.Write(w =>
                {
                    w.InsertProduct(RetailWriter.Sku(1), "Product 1", 1, "grocery");
                    for (var t = 0; t < spinnerChanges; t++) w.InsertTicket($"T-SPIN-{t:D7}", "S001", RetailWriter.Sku(1), 1, 1.0);
                });
                var id = $"bench-iso-spinner-{i}";
                await queries.ApplyAsync(id, SpinnerYaml(id, db, spinnerReceiver.Url, spinMs), id + ".yaml", CancellationToken.None);
            }
            if (spinners > 0)
                await WaitAsync(() => spinnerReceiver.Count >= spinners, TimeSpan.FromSeconds(120), "every spinner delivering");

            receiver.Reset();
            var spinnerBefore = spinnerReceiver.Count;
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var written = await WritePacedAsync(a, rate, duration);
            // Still spinning at the end: the spinners contended for the whole round.
            if (spinners > 0 && spinnerReceiver.Count >= spinners * (long)(spinnerChanges + 1))
                Console.Error.WriteLine("isolation: the spinners ran out of changes before the round ended; raise --for or lower --spin-ms");
            await WaitAsync(() => receiver.Count >= written, TimeSpan.FromSeconds(120), $"workflow A's {written} paced changes");
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            var latencies = receiver.Latencies();
            return new Result(usedSlots, latencies.Length, Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies.Length > 0 ? latencies[^1] : double.NaN,
                spinnerReceiver.Count - spinnerBefore, cpu, Math.Max(0, written - receiver.Count));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            foreach (var db in databases) db.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static string SpinnerYaml(string id, RetailClientDatabase db, string url, int spinMs) => $"""
        id: {id}
        client: {WorkflowFile.ClientId}
        source:
          kind: sqlite
          connection: "{db.ConnectionString}"
          tables: [products, tickets]
          batchSize: 20
          pollInterval: 50ms
        transform:
          package: RetailStreaming.Samples.Spinner
          version: 1.0.0
          type: RetailStreaming.Samples.Spinner.SpinnerTransform
          timeBudget: 5s
          settings:
            spinMilliseconds: "{spinMs}"
        delivery:
          kind: webhook
          url: "{url}"
          secretRef: env:{SecretVariable}
          timeout: 10s
          batching:
            maxRecords: 100
            maxWait: 50ms
        """;

    /// <summary>Writes tickets to workflow A's database at <paramref name="rate"/> per second, one transaction every 10 ms.</summary>
    private static async Task<long> WritePacedAsync(RetailClientDatabase db, int rate, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        long written = 0;
        while (clock.Elapsed < duration)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * rate);
            if (due > written)
            {
                var from = written;
                db.Write(w =>
                {
                    for (var t = from; t < due; t++) w.InsertTicket($"T-ISO-{t:D7}", "S001", RetailWriter.Sku(1), 1, 2.0);
                });
                written = due;
            }
            await Task.Delay(10);
        }
        return written;
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"isolation: {what} not delivered within {timeout.TotalSeconds:0}s");
            await Task.Delay(100);
        }
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Keeps the first arrival of each inserted ticket with its commit-to-2xx latency (receipt time minus the record's commitTime).</summary>
    private sealed class LatencyReceiver : IAsyncDisposable
    {
        private ConcurrentDictionary<string, double> _positions = new();
        private WebApplication? _app;
        private bool _everything;

        public string Url { get; private set; } = "";

        public int Count => _positions.Count;

        /// <summary>Every record received, of any operation.</summary>
        public long Records => Interlocked.Read(ref _records);

        private long _records;

        public static async Task<LatencyReceiver> StartAsync(bool everything = false)
        {
            var receiver = new LatencyReceiver { _everything = everything };
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            receiver._app = builder.Build();
            receiver._app.MapPost("/hooks", (Delegate)receiver.HandleAsync);
            await receiver._app.StartAsync();
            receiver.Url = receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/hooks";
            return receiver;
        }

        public void Reset() => _positions = new ConcurrentDictionary<string, double>();

        public double[] Latencies() => _positions.Values.Where(double.IsFinite).Order().ToArray();

        private async Task<IResult> HandleAsync(HttpContext http)
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var now = DateTimeOffset.UtcNow;
            var positions = _positions;
            using var doc = System.Text.Json.JsonDocument.Parse(body);
            foreach (var record in doc.RootElement.GetProperty("records").EnumerateArray())
            {
                Interlocked.Increment(ref _records);
                // Only streamed changes count (the snapshot's rows are reads), unless the receiver counts everything.
                if (!_everything && record.GetProperty("operation").GetString() != "insert") continue;
                var latency = DateTimeOffset.TryParse(record.GetProperty("commitTime").GetString(), CultureInfo.InvariantCulture,
                    DateTimeStyles.RoundtripKind, out var commit) ? (now - commit).TotalMilliseconds : double.NaN;
                positions.TryAdd(record.GetProperty("position").GetString()!, latency);
            }
            return Results.Ok();
        }

        public async ValueTask DisposeAsync()
        {
            if (_app is not null) await _app.DisposeAsync();
        }
    }
}
