using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Npgsql;
using NpgsqlTypes;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Node;
using RetailStreaming.Node.Admin;
using RetailStreaming.Node.Demo;
using RetailStreaming.Samples.Retail;
using RetailStreaming.TestSupport;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// PostgreSQL capture on one WAL of N rows written into the retail tables: the platform end to end
/// (commit to endpoint 2xx), a bare pgoutput decoder, and a bare pipeline doing the platform's job
/// without it (decode, the sample transform, the same JSON and signature, the same batches to the
/// same receiver); then the platform's commit-to-2xx latency at a steady rate.
/// </summary>
/// <remarks>
/// Every consumer has its own slot, created before the WAL is written, so all of them decode the
/// same WAL. The platform's slot is created by the workflow on its first read; the workflow is
/// paused while the WAL is written (its replication connection closed, the node left running), and
/// resumed to drain it. One node serves the whole run; a cold start (the node restarted with a
/// backlog) is measured at the end and reported apart (<c>--cold off</c> skips it).
/// <para>The three throughputs are taken over the same span: from the first change a consumer
/// handed over (its first request at the receiver; for bare-decode its first row decoded) to its
/// last, counting the changes that arrived after that first request. So the resume (stream start,
/// slot checks) is not in the platform's figure, as connecting is not in the bare ones; both longer
/// spans are printed beside them. CPU time and allocations of this
/// process are taken at the same two moments (the receiver's share is in both).</para>
/// <para>Before the WAL is written, the workflow's initial snapshot of the empty tables must finish:
/// left half-way, it resumes after the pause and reads every row of the WAL again as snapshot reads, in the same stream as the drain and the latency phase. The latency phase
/// runs the same way for the platform and for the bare pipeline (see PostgresLatency.cs).</para>
/// <para>Warm-up (<c>--warmup</c>, 50,000 rows by default): before the measured WAL, each consumer runs
/// over warm-up rows of its own (the platform before its first pause, the bare ones on slots dropped
/// afterwards), so none is measured on code the JIT has not yet compiled and profiled for it. The
/// measured bare slots are created after the warm-up.</para>
/// </remarks>
public static partial class PostgresBenchmark
{
    private const string WorkflowId = "bench-pg";
    private const string Publication = "bench_pub";
    private const string SecretVariable = "RS_BENCH_PG_WEBHOOK_SECRET";
    private const int BatchRecords = 200;
    private const int CapturedTables = 4; // stores, products, catalog, tickets

    public static async Task<int> RunAsync(string[] args)
    {
        var rows = int.Parse(Arg(args, "--rows") ?? "200000", CultureInfo.InvariantCulture);
        var latencyFor = DemoOptions.ParseDuration(Arg(args, "--latency-for") ?? "15s");
        var rate = int.Parse(Arg(args, "--rate") ?? "2000", CultureInfo.InvariantCulture);
        var settle = DemoOptions.ParseDuration(Arg(args, "--settle") ?? "0s");
        var parallelism = int.Parse(Arg(args, "--parallelism") ?? "4", CultureInfo.InvariantCulture);
        // The bare pipeline's latency phase (after its own burst) and the platform's stage breakdown (its spans, listened to during its latency phase only).
        var bareLatency = Arg(args, "--bare-latency") != "off";
        // The node in a process of its own, as shipped (default), or inside this one (its spans can then be listened to, its allocations counted).
        var inProcess = (Arg(args, "--node") ?? "process") switch
        {
            "process" => false,
            "in-process" => true,
            var other => throw new ArgumentException($"--node {other}: expected process or in-process"),
        };
        var stages = inProcess && Arg(args, "--stages") != "off";
        // --node-env KEY=VALUE (repeatable): environment variables of the node process only, to compare runtime settings.
        var nodeEnvironment = args.Select((a, i) => (a, i)).Where(x => x.a == "--node-env" && x.i + 1 < args.Length)
            .Select(x => args[x.i + 1].Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "", StringComparer.Ordinal);
        var snapshotWait = Arg(args, "--snapshot-wait") != "off";
        // After the measurements, the node restarts with a backlog and drains it on cold code (reported, not in the ratio).
        var coldStart = Arg(args, "--cold") != "off";
        // Rows each consumer (the platform, bare-decode, the bare pipeline) runs over before it is measured,
        // so that every one is measured on code the JIT has warmed (and profiled) for it, not the first on cold code.
        var warmup = int.Parse(Arg(args, "--warmup") ?? "50000", CultureInfo.InvariantCulture);
        // Throughput rounds (end-to-end, then the bare pipeline, on a WAL of their own each): the two
        // rates move by up to 30 % from run to run on this machine, so the last line gives the medians.
        var rounds = int.Parse(Arg(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        if (rounds < 1) throw new ArgumentException("--rounds must be at least 1");
        var dataDirectory = Path.Combine(Path.GetTempPath(), $"rs-bench-pg-{Guid.NewGuid():N}");

        await using var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync("bench");
        await ExecuteAsync(database, $"""
            CREATE TABLE stores (store_id text PRIMARY KEY, name text NOT NULL, city text NOT NULL);
            CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, price numeric(12,2) NOT NULL, category text NOT NULL);
            CREATE TABLE catalog (store_id text NOT NULL, sku text NOT NULL, listed boolean NOT NULL, PRIMARY KEY (store_id, sku));
            CREATE TABLE tickets (ticket_id text PRIMARY KEY, store_id text NOT NULL, sku text NOT NULL,
                quantity integer NOT NULL, unit_price numeric(12,2) NOT NULL, sold_at text NOT NULL);
            CREATE PUBLICATION {Publication} FOR TABLE stores, products, catalog, tickets;
            """);
        if (warmup > 0) await CreateSlotsAsync(database, WarmDecodeSlot, WarmPipelineSlot);

        var secret = StandardWebhooks.GenerateSecret();
        Environment.SetEnvironmentVariable(SecretVariable, secret);
        await using var receiver = await BenchReceiver.StartAsync(secret);
        var node = NodeOptionsFor(dataDirectory);
        NodeHost.ConfigureLogging(node);
        var yaml = Workflow(database, receiver.Url, parallelism);
        Task<IPlatform> StartPlatformAsync() => inProcess ? InProcessPlatform.StartAsync(node) : NodeProcessPlatform.StartAsync(dataDirectory, nodeEnvironment);

        try
        {
            // One node for the whole run, as in production: the throughput rounds pause the workflow while
            // their WAL is written and resume it to drain, so the platform is measured on the code its
            // warm-up compiled, as the bare consumers are. (A node restarted for each round paid its JIT
            // during the drain: the JIT took about half a core for the drain's first 4 s.) A cold start
            // is measured separately at the end (--cold off skips it).
            await using var platform = await StartPlatformAsync();
            await platform.ApplyAsync(WorkflowId, yaml);
            await UntilAsync("the workflow's slot is active", TimeSpan.FromSeconds(60), async () => await SlotActiveAsync(database) == true);
            // The workflow's initial snapshot of the (still empty) tables must finish before the WAL is
            // written: left half-way, it would read every row of the WAL a second time as snapshot reads,
            // beside the streamed changes (work the bare consumers never do). (--snapshot-wait off shows
            // the old behaviour.)
            if (snapshotWait)
            {
                var waited = Stopwatch.StartNew();
                await UntilAsync("the workflow's initial snapshot is done", TimeSpan.FromSeconds(60), async () => await SnapshotPendingAsync(database) == 0);
                Console.Error.WriteLine($"initial snapshot of the empty tables done after {waited.Elapsed.TotalSeconds:0.0}s more");
            }
            if (warmup > 0)
            {
                receiver.Reset();
                await WriteWalAsync(database, warmup, startAt: WarmupStart);
                await UntilAsync($"the platform delivered the {warmup} warm-up changes", TimeSpan.FromMinutes(10), () => Task.FromResult(receiver.DistinctPositions >= warmup),
                    () => $"{receiver.DistinctPositions} delivered");
            }
            await PauseAsync(platform, database);
            if (warmup > 0)
            {
                await BareDecodeAsync(database, warmup, WarmDecodeSlot);
                receiver.Reset();
                await BarePipelineAsync(database, warmup, receiver.Url, secret, slot: WarmPipelineSlot);
                await ExecuteAsync(database, $"SELECT pg_drop_replication_slot('{WarmDecodeSlot}'); SELECT pg_drop_replication_slot('{WarmPipelineSlot}');");
                Console.Error.WriteLine($"warm-up: the platform, bare-decode and the bare pipeline each ran over {warmup} changes first");
            }

            // The rounds before the last: throughput only, each on a WAL and a bare slot of its own.
            var earlier = new List<(Span EndToEnd, Span Pipeline)>();
            for (var round = 1; round < rounds; round++)
            {
                var slot = $"bench_pipeline_round{round}";
                await CreateSlotsAsync(database, slot);
                await WriteWalAsync(database, rows, startAt: RoundsStart + round * rows);
                receiver.Reset();
                await platform.ResumeAsync(WorkflowId);
                await UntilAsync($"the platform delivered {rows} changes (round {round})", TimeSpan.FromMinutes(30),
                    () => Task.FromResult(receiver.DistinctPositions >= rows), () => $"{receiver.DistinctPositions} delivered");
                var e2e = receiver.Measured();
                await PauseAsync(platform, database);
                receiver.Reset();
                await BarePipelineAsync(database, rows, receiver.Url, secret, slot: slot);
                earlier.Add((e2e, receiver.Measured()));
                await ExecuteAsync(database, $"SELECT pg_drop_replication_slot('{slot}');");
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round}: end-to-end {earlier[^1].EndToEnd.Rate:0}/s, bare-pipeline {earlier[^1].Pipeline.Rate:0}/s"));
            }

            // The measured consumers' slots start here: they see the measured WAL, not the warm-up.
            await CreateSlotsAsync(database, "bench_decode", "bench_pipeline");

            var writing = Stopwatch.StartNew();
            await WriteWalAsync(database, rows, startAt: 0);
            var writeSeconds = writing.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"WAL written: {rows} rows in {writeSeconds:0.0}s");

            // End to end: the workflow resumes and drains the WAL.
            receiver.Reset();
            await platform.ResumeAsync(WorkflowId);
            await UntilAsync($"the platform delivered {rows} changes", TimeSpan.FromMinutes(30), () => Task.FromResult(receiver.DistinctPositions >= rows),
                () => $"{receiver.DistinctPositions} delivered");
            // (The receiver's clock starts at its reset, just before the resume.)
            var resumeToLastSeconds = receiver.LastArrival.TotalSeconds;
            var endToEnd = receiver.Measured();
            Console.Error.WriteLine($"end-to-end: {rows} in {resumeToLastSeconds:0.0}s from resume (first to last request {endToEnd.Seconds:0.0}s); snapshot reads received {receiver.SnapshotReads}; {receiver.Requests} requests, {rows / (double)Math.Max(1, receiver.Requests):0} records each");

            // Latency at a steady rate, on the running node.
            var platformLatency = await MeasureLatencyAsync("platform", database, receiver, rate, latencyFor, startAt: rows, settle, stages);
            var latencyChanges = platformLatency.Written;
            var p50 = platformLatency.P50;
            var p99 = platformLatency.P99;
            await PauseAsync(platform, database);

            var (decodeConnectSeconds, decode) = await BareDecodeAsync(database, rows);
            Console.Error.WriteLine($"bare-decode: {rows} in {decodeConnectSeconds:0.0}s from connect (first to last change {decode.Seconds:0.0}s)");
            receiver.Reset();
            using var then = bareLatency ? new BareContinuation() : null;
            var bareRun = BarePipelineAsync(database, rows, receiver.Url, secret, then);
            // Paused after the rows when it goes on to a latency phase; a failure ends the wait too.
            if (then is not null) await Task.WhenAny(bareRun, then.Drained.Task);
            var pipelineConnectSeconds = then is null ? await bareRun : bareRun.IsCompleted ? await bareRun : await then.Drained.Task;
            if (receiver.DistinctPositions < rows) throw new InvalidOperationException($"the bare pipeline delivered {receiver.DistinctPositions} of {rows}");
            var pipeline = receiver.Measured();
            Console.Error.WriteLine($"bare-pipeline: {rows} in {pipelineConnectSeconds:0.0}s from connect (first to last request {pipeline.Seconds:0.0}s); {receiver.Requests} requests, {rows / (double)Math.Max(1, receiver.Requests):0} records each");
            LatencyPhase? bareLatencyPhase = null;
            var coldAt = rows + (int)latencyChanges;
            if (then is not null)
            {
                // The same sequence as the platform's: a burst written while the consumer waits, drained, then the paced phase.
                var burstAt = coldAt;
                await WriteWalAsync(database, rows, startAt: burstAt);
                receiver.Reset();
                then.Resume.SetResult();
                var backlog = latencyChanges + rows;
                await UntilAsync($"the bare pipeline drained {backlog} changes", TimeSpan.FromMinutes(30),
                    () => bareRun.IsFaulted ? throw bareRun.Exception!.GetBaseException() : Task.FromResult(receiver.DistinctPositions >= backlog),
                    () => $"{receiver.DistinctPositions} delivered");
                Console.Error.WriteLine($"bare-pipeline: drained the platform's paced changes and a second burst of {rows}");
                bareLatencyPhase = await MeasureLatencyAsync("bare-pipeline", database, receiver, rate, latencyFor, startAt: burstAt + rows, settle, stages: false);
                await then.Stop.CancelAsync();
                await bareRun;
                coldAt = burstAt + rows + (int)bareLatencyPhase.Written;
            }

            // A cold start: the node restarts with a backlog (after a deploy or a crash) and drains it on code
            // the JIT compiles as it goes (the node runs without tiered compilation: every method is compiled
            // once, fully optimised, on its first call). Not in the ratio; reported beside it.
            (double StartToLast, Span Drain)? cold = null;
            if (coldStart)
            {
                await platform.StopAsync();
                await WriteWalAsync(database, rows, startAt: coldAt);
                // What the slot holds past the platform's pause: the bare pipeline's burst and paced changes, if any, then this WAL.
                var backlog = coldAt + rows - (rows + (int)latencyChanges);
                receiver.Reset();
                var startedAt = Stopwatch.GetTimestamp();
                await using var restarted = await StartPlatformAsync();
                await restarted.ResumeAsync(WorkflowId);
                await UntilAsync($"the restarted node delivered the {backlog} changes written since the pause", TimeSpan.FromMinutes(30),
                    () => Task.FromResult(receiver.DistinctPositions >= backlog), () => $"{receiver.DistinctPositions} delivered");
                cold = (Stopwatch.GetElapsedTime(startedAt).TotalSeconds, receiver.Measured());
                Console.Error.WriteLine($"cold start: the node started and drained {backlog} changes in {cold.Value.StartToLast:0.0}s (first to last request {cold.Value.Drain.Seconds:0.0}s)");
                await restarted.StopAsync();
            }

            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"postgres capture, {rows} rows in one WAL, delivery.parallelism {parallelism}, {Environment.ProcessorCount} cores");
            Console.WriteLine();
            Console.WriteLine("Rates are taken over the same span for every consumer: from the first change it handed over (the first request at the");
            Console.WriteLine("receiver; bare-decode: the first row decoded) to the last, counting the changes that arrived after the first request.");
            Console.WriteLine(inProcess
                ? "CPU is this process's (platform or bare code, and the receiver, which both share) over that span; the server's is not counted."
                : "CPU is the node process's and this one's (the receiver) for the platform, this process's (bare code and the receiver) for the bare ones, over that span;");
            if (!inProcess)
                Console.WriteLine("the server's is not counted. The node runs as shipped, in its own process (--node in-process runs it inside this one).");
            Console.WriteLine();
            Console.WriteLine("| measurement | changes | seconds | changes/s | CPU ms per 1,000 changes | KB allocated per change | notes |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---|");
            Console.WriteLine(string.Create(inv, $"| write the WAL | {rows} | {writeSeconds:0.00} | {rows / writeSeconds:0} | | | INSERT ... SELECT, 1,000 rows per transaction |"));
            Console.WriteLine(string.Create(inv, $"| end-to-end (platform) | {endToEnd.Changes} | {endToEnd.Seconds:0.00} | {endToEnd.Rate:0} | {endToEnd.CpuMsPer1000:0.0} | {(inProcess ? endToEnd.KbPerChange.ToString("0.00", inv) : "receiver " + endToEnd.KbPerChange.ToString("0.00", inv))} | {(inProcess ? "node in this process" : "node in its own process (CPU: node + this process)")}; first to last request; workflow resumed on a warm node; resume to last 2xx {resumeToLastSeconds:0.00}s ({rows / resumeToLastSeconds:0}/s) |"));
            if (cold is { } c)
                Console.WriteLine(string.Create(inv, $"| cold start (platform) | {c.Drain.Changes} | {c.Drain.Seconds:0.00} | {c.Drain.Rate:0} | {c.Drain.CpuMsPer1000:0.0} | | the node restarted with a backlog, its JIT compiling as it drains; first to last request; node start to last 2xx {c.StartToLast:0.00}s; not in the ratio |"));
            Console.WriteLine(string.Create(inv, $"| bare-decode | {decode.Changes} | {decode.Seconds:0.00} | {decode.Rate:0} | {decode.CpuMsPer1000:0.0} | {decode.KbPerChange:0.00} | pgoutput decode of every value, nothing else; connect to last {decodeConnectSeconds:0.00}s |"));
            Console.WriteLine(string.Create(inv, $"| bare-pipeline | {pipeline.Changes} | {pipeline.Seconds:0.00} | {pipeline.Rate:0} | {pipeline.CpuMsPer1000:0.0} | {pipeline.KbPerChange:0.00} | decode, RetailTransform, JSON, signature, {BatchRecords}-record batches; connect to last 2xx {pipelineConnectSeconds:0.00}s ({rows / pipelineConnectSeconds:0}/s) |"));
            Console.WriteLine(string.Create(inv, $"| latency at {rate}/s (platform) | {latencyChanges} | {platformLatency.Seconds:0.00} | {latencyChanges / platformLatency.Seconds:0} | {platformLatency.CpuMsPer1000:0.0} | | commit to 2xx: p50 {p50:0.0} ms, p99 {p99:0.0} ms; server (plain reader beside it): p50 {platformLatency.WitnessP50:0.0} ms, p99 {platformLatency.WitnessP99:0.0} ms |"));
            if (bareLatencyPhase is { } b)
                Console.WriteLine(string.Create(inv, $"| latency at {rate}/s (bare-pipeline) | {b.Written} | {b.Seconds:0.00} | {b.Written / b.Seconds:0} | {b.CpuMsPer1000:0.0} | | commit to 2xx: p50 {b.P50:0.0} ms, p99 {b.P99:0.0} ms; server (plain reader beside it): p50 {b.WitnessP50:0.0} ms, p99 {b.WitnessP99:0.0} ms |"));
            PrintLatencyTimelines(platformLatency, bareLatencyPhase);
            Console.WriteLine();
            // Every round's throughputs (the last is the one in the table above), and their medians.
            var all = earlier.Append((EndToEnd: endToEnd, Pipeline: pipeline)).ToList();
            if (all.Count > 1)
            {
                Console.WriteLine();
                Console.WriteLine("| round | end-to-end changes/s | bare-pipeline changes/s | ratio | CPU ms per 1,000 (platform / bare) |");
                Console.WriteLine("|---:|---:|---:|---:|---:|");
                for (var i = 0; i < all.Count; i++)
                    Console.WriteLine(string.Create(inv,
                        $"| {i + 1} | {all[i].EndToEnd.Rate:0} | {all[i].Pipeline.Rate:0} | {all[i].EndToEnd.Rate / all[i].Pipeline.Rate:0.00} | {all[i].EndToEnd.CpuMsPer1000:0.0} / {all[i].Pipeline.CpuMsPer1000:0.0} |"));
                Console.WriteLine();
                Console.WriteLine($"The last line gives the medians of the {all.Count} rounds (end-to-end, bare-pipeline, CPU), and ratio = median end-to-end / median bare-pipeline.");
            }
            var e2eRate = Statistics.Median(all.Select(r => r.EndToEnd.Rate));
            var pipelineRate = Statistics.Median(all.Select(r => r.Pipeline.Rate));
            Console.WriteLine(string.Create(inv, $"end-to-end / bare-decode = {e2eRate / decode.Rate:0.00}"));
            Console.WriteLine(string.Create(inv,
                $"end-to-end={e2eRate:0} bare-decode={decode.Rate:0} bare-pipeline={pipelineRate:0} ratio={e2eRate / pipelineRate:0.00} p50={p50:0.0} p99={p99:0.0} parallelism={parallelism} " +
                $"cpu-ms-per-1000-platform={Statistics.Median(all.Select(r => r.EndToEnd.CpuMsPer1000)):0.0} cpu-ms-per-1000-bare={Statistics.Median(all.Select(r => r.Pipeline.CpuMsPer1000)):0.0} rounds={all.Count}") +
                (bareLatencyPhase is { } bl ? string.Create(inv, $" p50-bare={bl.P50:0.0} p99-bare={bl.P99:0.0}") : "") +
                string.Create(inv, $" p99-server={platformLatency.WitnessP99:0.0}"));
            return 0;
        }
        finally
        {
            try { Directory.Delete(dataDirectory, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Pauses the workflow and waits until its replication connection has let the slot go.</summary>
    private static async Task PauseAsync(IPlatform platform, string database)
    {
        await platform.PauseAsync(WorkflowId);
        await UntilAsync("the workflow's slot is released", TimeSpan.FromSeconds(30), async () => await SlotActiveAsync(database) == false);
    }

    /// <summary>
    /// What a consumer did between two moments: <paramref name="Changes"/> handed over after the
    /// first moment, in <paramref name="Seconds"/>, with this process's CPU time and allocations.
    /// </summary>
    private readonly record struct Span(long Changes, double Seconds, double CpuSeconds, long AllocatedBytes)
    {
        public double Rate => Changes / Seconds;
        public double CpuMsPer1000 => CpuSeconds * 1000 / (Changes / 1000.0);
        public double KbPerChange => AllocatedBytes / 1024.0 / Changes;

        /// <summary>While the node runs in a process of its own: its CPU time, added to this process's (its allocations are not counted).</summary>
        public static volatile Func<TimeSpan>? OtherProcess;

        public static (TimeSpan Cpu, long Allocated) Now() =>
            (Environment.CpuUsage.TotalTime + (OtherProcess?.Invoke() ?? TimeSpan.Zero), GC.GetTotalAllocatedBytes());
    }

    private static NodeOptions NodeOptionsFor(string dataDirectory)
    {
        var node = new NodeOptions();
        node.Node.Port = 0;
        node.Node.DataDirectory = dataDirectory;
        node.Admin.Url = "http://127.0.0.1:0";
        node.Logging.MinimumLevel = "Warning";
        node.Transforms.PackageDirectory = PackageDirectory();
        return node;
    }

    private static string Workflow(string database, string receiverUrl, int parallelism) => $"""
        id: {WorkflowId}
        client: bench
        source:
          kind: postgres
          connection: "{database}"
          tables: [stores, products, catalog, tickets]
          batchSize: 500
        transform:
          package: RetailStreaming.Samples.Retail
          version: 1.0.0
          type: RetailStreaming.Samples.Retail.RetailTransform
          timeBudget: 5s
          settings:
            currency: EUR
            vatRate: "0.20"
        delivery:
          kind: webhook
          url: "{receiverUrl}"
          secretRef: env:{SecretVariable}
          timeout: 10s
          parallelism: {parallelism}
          batching:
            maxRecords: {BatchRecords}
            maxWait: 20ms
          retry:
            initialBackoff: 100ms
            maxBackoff: 2s
            maxAttempts: 0
        """;

    /// <summary>What else the server runs (autovacuum workers, other sessions, the walsender), one line per backend; the always-present background processes are left out.</summary>
    private static async Task<List<string>> ServerActivityAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(backend_type, '') || ': ' || coalesce(state, '') || ' ' || left(coalesce(query, ''), 80) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type NOT IN ('background writer', 'checkpointer', 'walwriter', 'logical replication launcher', 'autovacuum launcher')",
            connection);
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return lines;
    }

    /// <summary>How many of the captured tables' snapshots are not done yet, from the workflow's snapshot progress table.</summary>
    private static async Task<long> SnapshotPendingAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        var schema = PostgresCaptureNames.ObjectName(WorkflowId);
        // Counted from the done rows: the progress rows are written just after the slot is created, so an empty table is not "all done".
        await using var cmd = new NpgsqlCommand($"SELECT {CapturedTables} - count(*) FROM \"{schema}\".snapshot_progress WHERE state = 'done'", connection);
        try
        {
            return (long)(await cmd.ExecuteScalarAsync())!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable || e.SqlState == PostgresErrorCodes.InvalidSchemaName)
        {
            return -1; // not created yet
        }
    }

    private static async Task<bool?> SlotActiveAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT active FROM pg_replication_slots WHERE slot_name = @s", connection);
        cmd.Parameters.AddWithValue("s", PostgresCaptureNames.ObjectName(WorkflowId));
        return await cmd.ExecuteScalarAsync() as bool?;
    }

    /// <summary>
    /// Rows <paramref name="startAt"/>.. of the WAL: per 20 rows 14 tickets, 2 products, 3 catalog
    /// rows and 1 store, inserted 1,000 rows per transaction.
    /// </summary>
    private static async Task WriteWalAsync(string database, int rows, int startAt)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        for (var first = startAt; first < startAt + rows; first += 1000)
        {
            var last = Math.Min(first + 1000, startAt + rows) - 1;
            await using var tx = await connection.BeginTransactionAsync();
            await using var cmd = new NpgsqlCommand(InsertRangeSql, connection, tx);
            cmd.Parameters.AddWithValue("a", first);
            cmd.Parameters.AddWithValue("b", last);
            await cmd.ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }
    }

    private const string InsertRangeSql = """
        INSERT INTO tickets SELECT 'T-' || g, 'S' || (g % 50), 'SKU-' || (g % 5000), 1 + g % 9, (1 + g % 400) / 4.0, '2026-01-01T10:00:00Z'
          FROM generate_series(@a, @b) g WHERE g % 20 < 14;
        INSERT INTO products SELECT 'SKU-P' || g, 'Product ' || g, (1 + g % 800) / 8.0, CASE WHEN g % 2 = 0 THEN 'grocery' ELSE 'drinks' END
          FROM generate_series(@a, @b) g WHERE g % 20 IN (14, 15);
        INSERT INTO catalog SELECT 'S' || g, 'SKU-C' || g, g % 3 > 0
          FROM generate_series(@a, @b) g WHERE g % 20 IN (16, 17, 18);
        INSERT INTO stores SELECT 'S-' || g, 'Store ' || g, 'Lyon'
          FROM generate_series(@a, @b) g WHERE g % 20 = 19;
        """;

    /// <summary>
    /// Writes <paramref name="rate"/> changes per second (transactions of 10 rows) for <paramref name="duration"/>; returns the rows written.
    /// </summary>
    /// <remarks>
    /// The session commits with <c>synchronous_commit = on</c>, PostgreSQL's default, as a client's
    /// application would. The throwaway server runs with it off (a test-speed setting): a commit then
    /// returns before its WAL is flushed, the WAL writer flushes it up to <c>wal_writer_delay</c>
    /// (200 ms) later, and logical decoding sends only flushed WAL, so every change would wait up to
    /// 200 ms in the server before any consumer could see it.
    /// </remarks>
    private static async Task<long> WritePacedAsync(string database, int rate, TimeSpan duration, int startAt)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using (var commitMode = new NpgsqlCommand("SET synchronous_commit = on", connection))
            await commitMode.ExecuteNonQueryAsync();
        var clock = Stopwatch.StartNew();
        var written = 0;
        while (clock.Elapsed < duration)
        {
            var due = TimeSpan.FromSeconds(written / (double)rate) - clock.Elapsed;
            if (due > TimeSpan.Zero) await Task.Delay(due);
            await using var cmd = new NpgsqlCommand(InsertRangeSql, connection);
            cmd.Parameters.AddWithValue("a", startAt + written);
            cmd.Parameters.AddWithValue("b", startAt + written + 9);
            await cmd.ExecuteNonQueryAsync();
            written += 10;
        }
        return written;
    }

    /// <summary>
    /// A plain pgoutput reader on its own slot: every value of every row decoded as text, nothing
    /// more. Returns the seconds from connect to the last row, and the span from the first row decoded to the last.
    /// </summary>
    private const string WarmDecodeSlot = "bench_warm_decode";
    private const string WarmPipelineSlot = "bench_warm_pipeline";
    private const int WarmupStart = 50_000_000; // keys of the warm-up rows: apart from every later phase's
    private const int RoundsStart = 60_000_000; // keys of the rounds before the last, round r from RoundsStart + r x rows

    /// <summary>Creates pgoutput slots (each then sees the WAL written after it).</summary>
    private static async Task CreateSlotsAsync(string database, params string[] slots)
    {
        await using var replication = new LogicalReplicationConnection(database);
        await replication.Open();
        foreach (var slot in slots) await replication.CreatePgOutputReplicationSlot(slot);
    }


    private static async Task<(double ConnectToLast, Span Span)> BareDecodeAsync(string database, int rows, string slot = "bench_decode")
    {
        var clock = Stopwatch.StartNew();
        await using var connection = new LogicalReplicationConnection(database);
        await connection.Open();
        using var stop = new CancellationTokenSource();
        long changes = 0, chars = 0;
        var first = TimeSpan.Zero;
        (TimeSpan Cpu, long Allocated) atFirst = default;
        await foreach (var message in connection.StartReplication(new PgOutputReplicationSlot(slot),
                           new PgOutputReplicationOptions(Publication, PgOutputProtocolVersion.V1), stop.Token))
        {
            if (message is InsertMessage insert)
            {
                await foreach (var value in insert.NewRow)
                    if (value.Kind == TupleDataKind.TextValue) chars += (await value.Get<string>()).Length;
                if (++changes == 1)
                {
                    first = clock.Elapsed;
                    atFirst = Span.Now();
                }
                if (changes >= rows) break;
            }
        }
        var last = clock.Elapsed;
        var atLast = Span.Now();
        await stop.CancelAsync();
        if (chars == 0) throw new InvalidOperationException("nothing was decoded");
        return (last.TotalSeconds, new Span(changes - 1, (last - first).TotalSeconds, (atLast.Cpu - atFirst.Cpu).TotalSeconds, atLast.Allocated - atFirst.Allocated));
    }

    /// <summary>
    /// The least code doing the platform's job: decode, the sample transform called directly, the
    /// platform's JSON and Standard Webhooks signature, batches of <see cref="BatchRecords"/> posted
    /// one at a time with one HttpClient. Written once, simply; not tuned.
    /// </summary>
    /// <remarks>
    /// With <paramref name="then"/>, the pipeline pauses after <paramref name="rows"/> changes
    /// (reporting the seconds from connect), waits to be resumed and then streams on until stopped:
    /// the latency phase uses the same code. A transaction's last records leave at its commit, so
    /// a paced change waits for no other (a no-op for the WAL's 1,000-change transactions, which fill
    /// whole batches).
    /// </remarks>
    private static async Task<double> BarePipelineAsync(string database, int rows, string url, string secret, BareContinuation? then = null, string slot = "bench_pipeline")
    {
        var clock = Stopwatch.StartNew();
        var context = new TransformContext(WorkflowId, "bench", "1.0.0",
            new Dictionary<string, string> { ["currency"] = "EUR", ["vatRate"] = "0.20" }, NullTransformLogger.Instance);
        var transform = new RetailTransform();
        transform.Initialize(context);
        var key = StandardWebhooks.DecodeSecret(secret);
        using var http = new HttpClient();
        var relations = new Dictionary<uint, RelationMessage>();
        var batch = new List<DeliveryRecord>(BatchRecords);

        async Task SendAsync()
        {
            var body = WebhookPayload.Serialize(batch);
            var messageId = WebhookPayload.MessageId(batch);
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Headers.TryAddWithoutValidation(StandardWebhooks.IdHeader, messageId);
            request.Headers.TryAddWithoutValidation(StandardWebhooks.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation(StandardWebhooks.SignatureHeader, StandardWebhooks.Sign(key, messageId, timestamp, body));
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
            batch.Clear();
        }

        await using var connection = new LogicalReplicationConnection(database);
        await connection.Open();
        using var stop = new CancellationTokenSource();
        long changes = 0;
        ulong commitLsn = 0;
        var commitTime = DateTimeOffset.MinValue;
        var index = 0;
        var paused = false;
        try
        {
            await foreach (var message in connection.StartReplication(new PgOutputReplicationSlot(slot),
                               new PgOutputReplicationOptions(Publication, PgOutputProtocolVersion.V1), then?.Stop.Token ?? stop.Token))
            {
                switch (message)
                {
                    case CommitMessage when batch.Count > 0:
                        await SendAsync();
                        break;
                    case RelationMessage relation:
                        relations[relation.RelationId] = relation;
                        break;
                    case BeginMessage begin:
                        commitLsn = (ulong)begin.TransactionFinalLsn;
                        commitTime = begin.TransactionCommitTimestamp;
                        index = 0;
                        break;
                    case InsertMessage insert:
                    {
                        var relation = insert.Relation;
                        var values = new Dictionary<string, object?>(relation.Columns.Count);
                        var keys = new Dictionary<string, object?>();
                        var column = 0;
                        await foreach (var value in insert.NewRow)
                        {
                            var col = relation.Columns[column++];
                            object? v = value.IsDBNull ? null : await value.Get<string>();
                            v = v is string s ? col.DataTypeId switch
                            {
                                20 or 21 or 23 => long.Parse(s, CultureInfo.InvariantCulture),
                                1700 => decimal.Parse(s, CultureInfo.InvariantCulture),
                                16 => s == "t",
                                _ => s,
                            } : null;
                            values[col.ColumnName] = v;
                            if (col.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey)) keys[col.ColumnName] = v;
                        }
                        var table = $"{relation.Namespace}.{relation.RelationName}";
                        var position = PostgresPosition.Of(commitLsn, index++);
                        var change = new ChangeEvent("postgres:bench", table, ChangeOperation.Insert, new RowData(keys), null, new RowData(values), commitTime, position);
                        var outputIndex = 0;
                        foreach (var output in transform.Transform(change, context))
                        {
                            batch.Add(new DeliveryRecord(IdempotencyKey.For(WorkflowId, position, outputIndex), WorkflowId, position, outputIndex,
                                table, ChangeOperation.Insert, commitTime, output));
                            outputIndex++;
                        }
                        changes++;
                        if (batch.Count >= BatchRecords || changes == rows) await SendAsync();
                        break;
                    }
                }
                if (changes >= rows && !paused)
                {
                    if (then is null) break;
                    paused = true;
                    then.Drained.TrySetResult(clock.Elapsed.TotalSeconds);
                    await then.Resume.Task;
                }
            }
        }
        catch (Exception) when (then is not null && then.Stop.IsCancellationRequested)
        {
            // Stopped after the latency phase.
        }
        var seconds = clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        return seconds;
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static async Task UntilAsync(string what, TimeSpan timeout, Func<Task<bool>> condition, Func<string>? describe = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting until {what}. {describe?.Invoke()}");
            await Task.Delay(20);
        }
    }

    private static async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    private static string PackageDirectory() => RetailStreaming.TestSupport.SamplePackages.Directory();

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>
    /// The endpoint of all measurements: verifies every signature, keeps the first arrival of each
    /// source position with its commit-to-2xx latency (receipt time minus the record's commitTime).
    /// </summary>
    private sealed class BenchReceiver : IAsyncDisposable
    {
        private readonly string _secret;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Lock _moments = new();
        private ConcurrentDictionary<string, double> _positions = new();
        private ConcurrentDictionary<string, (DateTimeOffset Commit, double At)> _arrivals = new();
        private ConcurrentQueue<(double At, double Latency)> _timeline = new();
        private WebApplication? _app;
        private Moment? _first;
        private Moment? _last;
        private TimeSpan _offset;

        private BenchReceiver(string secret) => _secret = secret;

        /// <summary>A request's arrival: when (the benchmark's clock), changes received so far, this process's CPU time and allocations.</summary>
        private sealed record Moment(TimeSpan At, long Changes, TimeSpan Cpu, long Allocated);

        public string Url { get; private set; } = "";

        public int DistinctPositions => _positions.Count;

        private long _reads;
        private long _requests;

        /// <summary>Requests received since <see cref="Reset"/> (the records per request tell how the consumer batches).</summary>
        public long Requests => Interlocked.Read(ref _requests);

        /// <summary>Snapshot reads (records of operation read) received since <see cref="Reset"/>: none are expected in these measurements.</summary>
        public long SnapshotReads => Interlocked.Read(ref _reads);

        /// <summary>While true, each position's commit time and arrival second are kept too (for the stage breakdown of a latency phase).</summary>
        public bool RecordCommits { get; set; }

        /// <summary>A position's first arrival since <see cref="Reset"/>, when <see cref="RecordCommits"/> was on.</summary>
        public (DateTimeOffset Commit, double At, double LatencyMs)? Arrival(string position) =>
            _arrivals.TryGetValue(position, out var a) && _positions.TryGetValue(position, out var latency) ? (a.Commit, a.At, latency) : null;

        /// <summary>The latencies by second of arrival since <see cref="Reset"/>: changes, p50, max.</summary>
        public Dictionary<int, (int Count, double P50, double Max)> BySecond() =>
            _timeline.Where(t => double.IsFinite(t.Latency)).GroupBy(t => (int)t.At).ToDictionary(g => g.Key, g =>
            {
                var sorted = g.Select(t => t.Latency).Order().ToArray();
                return (sorted.Length, Percentile(sorted, 0.5), sorted[^1]);
            });

        /// <summary>Since the receiver started, as the benchmark's clock counts (which starts after it).</summary>
        public TimeSpan LastArrival
        {
            get { lock (_moments) return (_last?.At ?? TimeSpan.Zero) - _offset; }
        }

        /// <summary>From the first request since <see cref="Reset"/> to the last: the changes that arrived after the first one's, the time, CPU and allocations between them.</summary>
        public Span Measured()
        {
            lock (_moments)
            {
                if (_first is null || _last is null || _last.Changes <= _first.Changes)
                    throw new InvalidOperationException("fewer than two requests arrived: nothing to measure");
                return new Span(_last.Changes - _first.Changes, (_last.At - _first.At).TotalSeconds,
                    (_last.Cpu - _first.Cpu).TotalSeconds, _last.Allocated - _first.Allocated);
            }
        }

        public static async Task<BenchReceiver> StartAsync(string secret)
        {
            var receiver = new BenchReceiver(secret);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            receiver._app = builder.Build();
            receiver._app.MapPost("/hooks", (Delegate)receiver.HandleAsync);
            await receiver._app.StartAsync();
            receiver.Url = receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/hooks";
            return receiver;
        }

        /// <summary>Forgets what arrived; arrival times are then counted from now.</summary>
        public void Reset()
        {
            lock (_moments)
            {
                _positions = new ConcurrentDictionary<string, double>();
                _timeline = new ConcurrentQueue<(double At, double Latency)>();
                _arrivals = new ConcurrentDictionary<string, (DateTimeOffset Commit, double At)>();
                Interlocked.Exchange(ref _reads, 0);
                Interlocked.Exchange(ref _requests, 0);
                _offset = _clock.Elapsed;
                _first = null;
                _last = null;
            }
        }

        public double[] Latencies() => _positions.Values.Where(double.IsFinite).Order().ToArray();

        private async Task<IResult> HandleAsync(HttpContext http)
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var headers = http.Request.Headers.Select(h => new KeyValuePair<string, string>(h.Key, h.Value.ToString()));
            if (!StandardWebhooks.Verify(_secret, headers, body, StandardWebhooks.DefaultTolerance))
                return Results.Unauthorized();
            var now = DateTimeOffset.UtcNow;
            Interlocked.Increment(ref _requests);
            var positions = _positions;
            var timeline = _timeline;
            double at;
            lock (_moments) at = (_clock.Elapsed - _offset).TotalSeconds;
            using var doc = System.Text.Json.JsonDocument.Parse(body);
            foreach (var record in doc.RootElement.GetProperty("records").EnumerateArray())
            {
                // Only streamed changes count: the WAL holds inserts, an initial snapshot's rows are reads.
                if (record.GetProperty("operation").GetString() != "insert")
                {
                    Interlocked.Increment(ref _reads);
                    continue;
                }
                var latency = DateTimeOffset.TryParse(record.GetProperty("commitTime").GetString(), CultureInfo.InvariantCulture,
                    DateTimeStyles.RoundtripKind, out var commit) ? (now - commit).TotalMilliseconds : double.NaN;
                var position = record.GetProperty("position").GetString()!;
                if (positions.TryAdd(position, latency))
                {
                    timeline.Enqueue((at, latency));
                    if (RecordCommits && double.IsFinite(latency)) _arrivals.TryAdd(position, (commit, at));
                }
            }
            var (cpu, allocated) = Span.Now();
            lock (_moments)
            {
                if (positions == _positions)
                {
                    var moment = new Moment(_clock.Elapsed, positions.Count, cpu, allocated);
                    _first ??= moment;
                    _last = moment;
                }
            }
            return Results.Ok();
        }

        public async ValueTask DisposeAsync()
        {
            if (_app is not null) await _app.DisposeAsync();
        }
    }
}
