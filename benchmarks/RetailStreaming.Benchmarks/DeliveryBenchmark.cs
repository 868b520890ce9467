using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Configuration;
using DeadLetter = RetailStreaming.Store.DeadLetter;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows;
using RetailStreaming.Workflows.Delivery;
using RetailStreaming.Workflows.Hosting;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// The delivery stage alone: the same batches posted to one local endpoint (a) through the
/// platform's delivery stage, as a workflow's stream runs it (Sink.ActorRefWithAck with an input
/// buffer of one batch, the DeliveryActor, the webhook sink the node builds from a definition:
/// secret resolution, Standard Webhooks signing, byte bounds, the endpoint's breaker and rate
/// state), and (b) by a bare HttpClient loop doing the least a correct client does (serialize,
/// sign, POST, await), one batch at a time in both cases.
/// </summary>
/// <remarks>
/// Latency: both run one batch at a time and the source is never the bottleneck, so a batch's
/// cycle (from the previous batch's end to its own) is its time in the stage. The figure
/// <c>added-p99</c> is the p99 of the platform's cycles minus the p99 of the bare loop's.
/// With <c>--parallelism</c> above 1 the platform has several batches in flight and a cycle is the
/// gap between two batches reported done (in order): throughput is then the figure to compare.
/// </remarks>
public static class DeliveryBenchmark
{
    private const string WorkflowId = "bench-delivery";
    private const string SecretVariable = "RS_BENCH_DELIVERY_SECRET";

    public static async Task<int> RunAsync(string[] args)
    {
        var batches = int.Parse(Arg(args, "--batches") ?? "3000", CultureInfo.InvariantCulture);
        var records = int.Parse(Arg(args, "--records") ?? "100", CultureInfo.InvariantCulture);
        var payload = int.Parse(Arg(args, "--payload") ?? "200", CultureInfo.InvariantCulture);
        var rounds = int.Parse(Arg(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        var gzip = args.Contains("--gzip");
        var parallelism = int.Parse(Arg(args, "--parallelism") ?? "1", CultureInfo.InvariantCulture);

        var secret = StandardWebhooks.GenerateSecret();
        Environment.SetEnvironmentVariable(SecretVariable, secret);
        await using var endpoint = await Endpoint.StartAsync();
        var data = Enumerable.Range(0, batches).Select(b => Batch(b, records, payload)).ToList();
        var definition = WorkflowDefinitionReader.Parse($"""
            id: {WorkflowId}
            client: bench
            source: {"{"} kind: sqlite, connection: "Data Source=/nonexistent.db", tables: [tickets] {"}"}
            transform: {"{"} package: Bench.Transforms, version: 1.0.0, type: Bench.Transforms.Identity {"}"}
            delivery:
              kind: webhook
              url: {endpoint.Url}
              secretRef: env:{SecretVariable}
              compression: {(gzip ? "gzip" : "none")}
              batching: {"{"} maxRecords: {records} {"}"}
              parallelism: {parallelism}
            """, "bench.yaml");

        var work = Path.Combine(Path.GetTempPath(), $"rs-bench-delivery-{Guid.NewGuid():N}");
        using var connectors = new DefaultWorkflowConnectors(Path.Combine(work, "packages"), Path.Combine(work, "cache"));
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };
        var system = ActorSystem.Create("bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"));
        // One materializer for every run, as a workflow keeps one for its life.
        var materializer = system.Materializer(namePrefix: "bench");
        try
        {
            // Warm-up: JIT, connection pools.
            await PlatformAsync(system, materializer, connectors, definition, data.Take(200).ToList(), endpoint);
            await BareAsync(http, endpoint.Url, secret, data.Take(200).ToList(), gzip, endpoint);

            var rows = new List<(string Name, int Round, Run Run)>();
            for (var round = 1; round <= rounds; round++)
            {
                rows.Add(("platform", round, await PlatformAsync(system, materializer, connectors, definition, data, endpoint)));
                rows.Add(("bare", round, await BareAsync(http, endpoint.Url, secret, data, gzip, endpoint)));
            }

            Console.WriteLine($"delivery stage: {batches} batches of {records} records ({payload}-byte payloads{(gzip ? ", gzip" : "")}) to a local endpoint, {Environment.ProcessorCount} cores; the platform with delivery.parallelism {parallelism}, the bare loop one batch at a time");
            Console.WriteLine();
            Console.WriteLine("| path | lanes | round | records/s | batch p50 ms | batch p99 ms | batch max ms | received |");
            Console.WriteLine("|------|------:|------:|----------:|-------------:|-------------:|-------------:|---------:|");
            foreach (var (name, round, run) in rows)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name,-8} | {(name == "platform" ? parallelism : 1),5} | {round,5} | {run.RecordsPerSecond,9:0} | {run.P50Ms,12:0.00} | {run.P99Ms,12:0.00} | {run.MaxMs,12:0.00} | {run.Received,8} |"));
            Console.WriteLine();

            var platform = rows.Where(r => r.Name == "platform").Select(r => r.Run).ToList();
            var bare = rows.Where(r => r.Name == "bare").Select(r => r.Run).ToList();
            var platformRate = Statistics.Median(platform.Select(r => r.RecordsPerSecond));
            var bareRate = Statistics.Median(bare.Select(r => r.RecordsPerSecond));
            var addedP99 = Statistics.Median(platform.Select(r => r.P99Ms)) - Statistics.Median(bare.Select(r => r.P99Ms));
            var lost = rows.Any(r => r.Run.Received != (long)batches * records);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"platform={platformRate:0} bare={bareRate:0} ratio={platformRate / bareRate:0.00} added-p99={addedP99:0.00} parallelism={parallelism}"));
            return lost ? 1 : 0;
        }
        finally
        {
            await system.Terminate();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private sealed record Run(double RecordsPerSecond, double P50Ms, double P99Ms, double MaxMs, long Received);

    private static async Task<Run> PlatformAsync(ActorSystem system, IMaterializer materializer, DefaultWorkflowConnectors connectors, WorkflowDefinition definition,
        IReadOnlyList<IReadOnlyList<TransformedChange>> data, Endpoint endpoint)
    {
        var received = endpoint.Reset();
        var done = new TaskCompletionSource<List<long>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var probe = system.ActorOf(Props.Create(() => new BatchProbe(data.Count, done)));
        var sink = connectors.CreateSink(definition, NullDeliveryObserver.Instance);
        var delivery = system.ActorOf(Props.Create(() => new DeliveryActor(
            sink, NoDeadLetters.Instance, WorkflowId, "bench", 1, probe, system.Log, CancellationToken.None,
            definition.Delivery.Parallelism, definition.Delivery.OnRefused, definition.Delivery.Batching.MaxRecords)));

        var watch = Stopwatch.StartNew();
        probe.Tell(watch);
        // As WorkflowActor joins the stream to its delivery child.
        Source.From(data)
            .To(Sink.ActorRefWithAck<IReadOnlyList<TransformedChange>>(
                    delivery, new StreamInit(), Ack.Instance, new StreamCompleted(1), ex => new StreamFailed(1, ex))
                .WithAttributes(Attributes.CreateInputBuffer(1, 1)))
            .Run(materializer);
        var ends = await done.Task;
        var elapsed = watch.Elapsed;
        system.Stop(delivery);
        system.Stop(probe);
        return Summarize(ends, elapsed, data.Sum(b => b.Count), endpoint.Received - received);
    }

    private static async Task<Run> BareAsync(HttpClient http, string url, string secret, IReadOnlyList<IReadOnlyList<TransformedChange>> data, bool gzip, Endpoint endpoint)
    {
        var received = endpoint.Reset();
        var key = StandardWebhooks.DecodeSecret(secret);
        var ends = new List<long>(data.Count);
        var watch = Stopwatch.StartNew();
        foreach (var batch in data)
        {
            var records = batch.Select(c => new DeliveryRecord(IdempotencyKey.For(WorkflowId, c.Change.Position, 0), WorkflowId,
                c.Change.Position, 0, c.Change.Table, c.Change.Operation, c.Change.CommitTime, c.Outputs[0])).ToList();
            var body = WebhookPayload.Serialize(records);
            var id = WebhookPayload.MessageId(records);
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            using var request = new HttpRequestMessage(HttpMethod.Post, url);
            var content = body;
            if (gzip)
            {
                using var output = new MemoryStream();
                using (var zip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                    zip.Write(body);
                content = output.ToArray();
            }
            request.Content = new ByteArrayContent(content);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            if (gzip) request.Content.Headers.ContentEncoding.Add("gzip");
            request.Headers.TryAddWithoutValidation("webhook-id", id);
            request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation("webhook-signature", StandardWebhooks.Sign(key, id, timestamp, body));
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
            ends.Add(watch.ElapsedTicks);
        }
        return Summarize(ends, watch.Elapsed, data.Sum(b => b.Count), endpoint.Received - received);
    }

    private static Run Summarize(List<long> ends, TimeSpan elapsed, int records, long received)
    {
        var cycles = new List<double>(ends.Count);
        for (var i = 0; i < ends.Count; i++)
            cycles.Add((ends[i] - (i == 0 ? 0 : ends[i - 1])) * 1000.0 / Stopwatch.Frequency);
        cycles.Sort();
        double Percentile(double p) => cycles[Math.Min(cycles.Count - 1, (int)Math.Ceiling(p * cycles.Count) - 1)];
        return new Run(records / elapsed.TotalSeconds, Percentile(0.5), Percentile(0.99), cycles[^1], received);
    }

    private static IReadOnlyList<TransformedChange> Batch(int batch, int records, int payload)
    {
        var commit = DateTimeOffset.UtcNow;
        return Enumerable.Range(0, records).Select(i =>
        {
            var n = (long)batch * records + i + 1;
            var key = new RowData(new Dictionary<string, object?> { ["ticket_id"] = $"T-{n}" });
            var change = new ChangeEvent("bench", "tickets", ChangeOperation.Insert, key, null, key, commit,
                new SourcePosition("bench:" + n.ToString("D19", CultureInfo.InvariantCulture)));
            var output = new OutputRecord("sale", $"T-{n}", new JsonObject { ["ticket"] = n, ["note"] = new string('x', payload) });
            return new TransformedChange(change, [output], false, "1.0.0");
        }).ToList();
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Stands in for the workflow actor: records when each batch is done.</summary>
    private sealed class BatchProbe : ReceiveActor
    {
        public BatchProbe(int expected, TaskCompletionSource<List<long>> done)
        {
            var ends = new List<long>(expected);
            Stopwatch? watch = null;
            Receive<Stopwatch>(w => watch = w);
            Receive<BatchDone>(_ =>
            {
                ends.Add(watch!.ElapsedTicks);
                if (ends.Count == expected) done.TrySetResult(ends);
            });
            Receive<StreamFailed>(f => done.TrySetException(f.Cause));
            ReceiveAny(_ => { });
        }
    }

    private sealed class NoDeadLetters : IDeadLetterStore
    {
        public static NoDeadLetters Instance { get; } = new();

        public Task<long> AddAsync(DeadLetter letter, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException($"the benchmark endpoint refused a record: {letter.Reason}");

        public Task<IReadOnlyList<DeadLetter>> ListAsync(string? workflowId, long afterId = 0, int limit = 100, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<DeadLetter>>([]);

        public Task<DeadLetter?> GetAsync(long id, CancellationToken cancellationToken = default) => Task.FromResult<DeadLetter?>(null);

        public Task<long> CountAsync(string workflowId, CancellationToken cancellationToken = default) => Task.FromResult(0L);

        public Task<IReadOnlyList<OpenDeadLetterRow>> ListOpenRowsAsync(string workflowId, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<OpenDeadLetterRow>>([]);

        public Task<int> MarkSupersededAsync(string workflowId, string table, string key, string byPosition, CancellationToken cancellationToken = default) =>
            Task.FromResult(0);

        public Task<IReadOnlyList<DeadLetter>> SelectForRedriveAsync(string workflowId, DeadLetterFilter filter, int limit, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<DeadLetter>>([]);

        public Task RecordRedriveAsync(long id, string outcome, string? transformVersion, DeadLetterAttempt attempt, CancellationToken cancellationToken = default) =>
            Task.CompletedTask;

        public Task<IReadOnlyList<PurgedDeadLetters>> PurgeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<PurgedDeadLetters>>([]);
    }

    /// <summary>A local endpoint that reads each body, counts its records and answers 200.</summary>
    private sealed class Endpoint : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private long _received;

        private Endpoint(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        public long Received => Interlocked.Read(ref _received);

        public long Reset() => Received;

        public static async Task<Endpoint> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var endpoint = new Endpoint(app);
            app.Run(async context =>
            {
                var stream = context.Request.Headers.ContentEncoding == "gzip"
                    ? new System.IO.Compression.GZipStream(context.Request.Body, System.IO.Compression.CompressionMode.Decompress)
                    : context.Request.Body;
                using var buffer = new MemoryStream();
                await stream.CopyToAsync(buffer);
                // Count records by their "id" keys: cheap, and enough to see that nothing is lost.
                var body = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
                var count = 0;
                var marker = "{\"id\":"u8;
                for (var at = body.IndexOf(marker); at >= 0; at = body.IndexOf(marker))
                {
                    count++;
                    body = body[(at + marker.Length)..];
                }
                Interlocked.Add(ref endpoint._received, count);
                context.Response.StatusCode = 200;
            });
            await app.StartAsync();
            endpoint.Url = app.Urls.Single() + "/hooks";
            return endpoint;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
