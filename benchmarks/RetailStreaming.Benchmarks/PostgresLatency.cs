using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// The latency phase of the postgres benchmark, run the same way for the platform and for the bare
/// pipeline: the same paced writer, on the same server, right after the consumer drained the same
/// kind of burst (or after the same settle period).
/// </summary>
/// <remarks>
/// Two witnesses are taken beside the receiver's commit-to-2xx figures:
/// <list type="bullet">
/// <item>the server: a plain pgoutput reader on a slot of its own, created for the phase, records
/// when each transaction reaches it (commit to "received by a reader"). It runs in both phases, so
/// both carry its small cost. If the consumer's latency follows this one, the time goes in the
/// server (WAL sender, checkpoint, autovacuum), not in the consumer.</item>
/// <item>the platform's stages, from its own spans (capture, transform, deliver, delivery attempt),
/// which it emits only while someone listens (an <see cref="ActivityListener"/> here, for the phase
/// only): per read, the time from the commit of its first change to the end of the capture's offer,
/// the transform's start and end, the delivery's start, the request's start and its 2xx.</item>
/// </list>
/// </remarks>
public static partial class PostgresBenchmark
{
    /// <summary>Lets the bare pipeline pause after the throughput phase's rows, go on for the latency phase, and stop.</summary>
    private sealed class BareContinuation : IDisposable
    {
        /// <summary>Set with the seconds from connect to the last 2xx of the throughput phase's rows.</summary>
        public TaskCompletionSource<double> Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Resume { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenSource Stop { get; } = new();

        public void Dispose() => Stop.Dispose();
    }

    /// <summary>What one latency phase measured.</summary>
    private sealed record LatencyPhase(
        string Consumer,
        long Written,
        double Seconds,
        double[] Latencies,
        Dictionary<int, (int Count, double P50, double Max)> BySecond,
        double[] WitnessLatencies,
        Dictionary<int, double> WitnessBySecond,
        double CpuMsPer1000,
        IReadOnlyList<string> Stages,
        IReadOnlyList<ProcessSecond> Process,
        IReadOnlyList<string> Gc)
    {
        public double P50 => Percentile(Latencies, 0.50);
        public double P99 => Percentile(Latencies, 0.99);
        public double WitnessP50 => Percentile(WitnessLatencies, 0.50);
        public double WitnessP99 => Percentile(WitnessLatencies, 0.99);
    }

    /// <summary>
    /// Settles (when asked), then writes <paramref name="rate"/> changes per second for
    /// <paramref name="duration"/> and waits for them at the receiver; the consumer is already
    /// running and has drained everything before.
    /// </summary>
    private static async Task<LatencyPhase> MeasureLatencyAsync(string consumer, string database, BenchReceiver receiver,
        int rate, TimeSpan duration, int startAt, TimeSpan settle, bool stages)
    {
        if (settle > TimeSpan.Zero)
        {
            Console.Error.WriteLine($"{consumer}: settling {settle.TotalSeconds:0}s after the drain; server activity now:");
            foreach (var line in await ServerActivityAsync(database)) Console.Error.WriteLine("  " + line);
            await Task.Delay(settle);
            Console.Error.WriteLine("server activity after settling:");
            foreach (var line in await ServerActivityAsync(database)) Console.Error.WriteLine("  " + line);
        }

        await using var witness = await ServerWitness.StartAsync(database, "bench_witness");
        using var probe = stages ? new StageProbe() : null;
        receiver.Reset();
        witness.CountFromNow();
        receiver.RecordCommits = true;
        using var sampler = new ProcessSampler();
        using var gc = new GcWatch();
        var cpuBefore = Span.Now();
        var clock = Stopwatch.StartNew();
        var written = await WritePacedAsync(database, rate, duration, startAt);
        var writeSeconds = clock.Elapsed.TotalSeconds;
        try
        {
            await UntilAsync($"the {consumer} delivered the {written} paced changes", TimeSpan.FromSeconds(60),
                () => Task.FromResult(receiver.DistinctPositions >= written), () => $"{receiver.DistinctPositions} delivered");
        }
        catch (TimeoutException e)
        {
            // Reported, not hidden: the figures below then cover what arrived.
            Console.Error.WriteLine($"{consumer}: latency phase incomplete: {e.Message}");
        }
        var cpuAfter = Span.Now();
        if (receiver.SnapshotReads > 0) Console.Error.WriteLine($"{consumer}: {receiver.SnapshotReads} snapshot reads arrived during the latency phase");
        receiver.RecordCommits = false;
        var delivered = Math.Max(1, receiver.DistinctPositions);
        var witnessed = await witness.StopAsync();
        var stageLines = probe is null ? [] : probe.Report(receiver);

        var phase = new LatencyPhase(consumer, written, writeSeconds, receiver.Latencies(), receiver.BySecond(),
            witnessed.Select(w => w.Latency).Order().ToArray(),
            witnessed.GroupBy(w => (int)w.At).ToDictionary(g => g.Key, g => Percentile(g.Select(w => w.Latency).Order().ToArray(), 0.5)),
            (cpuAfter.Cpu - cpuBefore.Cpu).TotalMilliseconds / (delivered / 1000.0),
            stageLines,
            sampler.Stop(),
            gc.Report());
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{consumer}: latency at {rate}/s: p50 {phase.P50:0.0} ms, p99 {phase.P99:0.0} ms; server witness p50 {phase.WitnessP50:0.0} ms, p99 {phase.WitnessP99:0.0} ms"));
        return phase;
    }

    /// <summary>The two phases' latency by second of arrival, side by side, with the server witness of each.</summary>
    private static void PrintLatencyTimelines(LatencyPhase platform, LatencyPhase? bare)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("Latency by second of arrival (commit to 2xx; \"server\": commit to a plain pgoutput reader on a slot of its own, running beside the consumer):");
        Console.WriteLine();
        Console.WriteLine(bare is null
            ? "| second | platform changes | platform p50 ms | platform max ms | server p50 ms |"
            : "| second | platform changes | platform p50 ms | platform max ms | server p50 ms | bare changes | bare p50 ms | bare max ms | server p50 ms |");
        Console.WriteLine(bare is null ? "|---:|---:|---:|---:|---:|" : "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var last = Math.Max(platform.BySecond.Keys.DefaultIfEmpty(0).Max(), bare?.BySecond.Keys.DefaultIfEmpty(0).Max() ?? 0);
        static string Cells(LatencyPhase phase, int second, IFormatProvider inv) =>
            (phase.BySecond.TryGetValue(second, out var s)
                ? string.Create(inv, $"{s.Count} | {s.P50:0.0} | {s.Max:0.0}")
                : " | | ")
            + (phase.WitnessBySecond.TryGetValue(second, out var w) ? string.Create(inv, $" | {w:0.0}") : " | ");
        for (var second = 0; second <= last; second++)
            Console.WriteLine(bare is null
                ? $"| {second} | {Cells(platform, second, inv)} |"
                : $"| {second} | {Cells(platform, second, inv)} | {Cells(bare, second, inv)} |");
        Console.WriteLine();
        Console.WriteLine("This process by second of the phase (both phases: the paced writer, the receiver, the server witness; plus the platform or the bare pipeline):");
        Console.WriteLine();
        Console.WriteLine(bare is null
            ? "| second | platform CPU ms | pool threads | queued work items | GC pause ms | gen0/1/2 |"
            : "| second | platform CPU ms | pool threads | queued work items | GC pause ms | gen0/1/2 | bare CPU ms | pool threads | queued work items | GC pause ms | gen0/1/2 |");
        Console.WriteLine(bare is null ? "|---:|---:|---:|---:|---:|---|" : "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|");
        static string ProcessCells(LatencyPhase phase, int second, IFormatProvider inv) =>
            second < phase.Process.Count
                ? string.Create(inv, $"{phase.Process[second].CpuMs:0} | {phase.Process[second].Threads} | {phase.Process[second].Queued} | {phase.Process[second].GcPauseMs:0.0} | {phase.Process[second].Gen0}/{phase.Process[second].Gen1}/{phase.Process[second].Gen2}")
                : " | | | | ";
        var seconds = Math.Max(platform.Process.Count, bare?.Process.Count ?? 0);
        for (var second = 0; second < seconds; second++)
            Console.WriteLine(bare is null
                ? $"| {second} | {ProcessCells(platform, second, inv)} |"
                : $"| {second} | {ProcessCells(platform, second, inv)} | {ProcessCells(bare, second, inv)} |");
        foreach (var phase in bare is null ? [platform] : new[] { platform, bare })
        {
            Console.WriteLine();
            Console.WriteLine($"GC during the {phase.Consumer} phase (runtime events: collections by generation and reason, heap after them, allocation samples by type, about one per 100 KB):");
            foreach (var line in phase.Gc) Console.WriteLine("  " + line);
        }
        if (platform.Stages.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Platform stages (ms from the commit of a read's first change, median per second of arrival; the read's changes, its first change's batch):");
            Console.WriteLine();
            foreach (var line in platform.Stages) Console.WriteLine(line);
        }
    }

    /// <summary>The runtime's GC events for the length of a phase: why collections ran, what the heap held, what allocated.</summary>
    private sealed class GcWatch : EventListener
    {
        private readonly ConcurrentDictionary<string, long> _allocated = new();
        private readonly ConcurrentDictionary<string, int> _collections = new();
        private readonly ConcurrentQueue<string> _heaps = new();
        private volatile bool _on = true;

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (!_on || e.Payload is null || e.PayloadNames is null) return;
            object? Get(string name) => e.PayloadNames.IndexOf(name) is var i and >= 0 ? e.Payload[i] : null;
            switch (e.EventName)
            {
                case { } n when n.StartsWith("GCAllocationTick", StringComparison.Ordinal):
                    _allocated.AddOrUpdate(Get("TypeName") as string ?? "?", Convert.ToInt64(Get("AllocationAmount") ?? 0L, CultureInfo.InvariantCulture), (_, v) => v + Convert.ToInt64(Get("AllocationAmount") ?? 0L, CultureInfo.InvariantCulture));
                    break;
                case { } n when n.StartsWith("GCStart", StringComparison.Ordinal):
                    _collections.AddOrUpdate($"gen{Get("Depth")} {Get("Reason")} type {Get("Type")}", 1, (_, v) => v + 1);
                    break;
                case { } n when n.StartsWith("GCHeapStats", StringComparison.Ordinal):
                    _heaps.Enqueue(string.Create(CultureInfo.InvariantCulture,
                        $"gen0 {Mb(Get("GenerationSize0"))} gen1 {Mb(Get("GenerationSize1"))} gen2 {Mb(Get("GenerationSize2"))} LOH {Mb(Get("GenerationSize3"))} MB, promoted gen0 {Mb(Get("TotalPromotedSize0"))} gen1 {Mb(Get("TotalPromotedSize1"))} MB"));
                    break;
            }
        }

        private static string Mb(object? bytes) => (Convert.ToDouble(bytes ?? 0.0, CultureInfo.InvariantCulture) / 1048576).ToString("0.0", CultureInfo.InvariantCulture);

        public IReadOnlyList<string> Report()
        {
            _on = false;
            var lines = new List<string>();
            lines.Add("collections (reason: 0 small alloc, 1 induced, 2 low memory, 4 LOH alloc, ...; type: 0 blocking, 1 background): "
                      + string.Join(", ", _collections.OrderBy(c => c.Key).Select(c => $"{c.Key} x{c.Value}")));
            var heaps = _heaps.ToArray();
            if (heaps.Length > 0) lines.Add($"heap after the first: {heaps[0]}; after the last: {heaps[^1]}");
            var total = _allocated.Values.Sum();
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"allocated (sampled): {total / 1048576.0:0.0} MB; top types:"));
            foreach (var (type, bytes) in _allocated.OrderByDescending(a => a.Value).Take(12))
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"  {bytes / 1048576.0,8:0.0} MB  {type}"));
            return lines;
        }
    }

    /// <summary>One second of this process: CPU used, thread-pool threads and queued work items at its end, GC pause time and collections in it.</summary>
    private readonly record struct ProcessSecond(double CpuMs, int Threads, long Queued, double GcPauseMs, int Gen0, int Gen1, int Gen2);

    /// <summary>Samples this process once a second: where a slow second's time went (CPU taken by something else, a starved thread pool, GC pauses).</summary>
    private sealed class ProcessSampler : IDisposable
    {
        private readonly List<ProcessSecond> _seconds = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sampling;

        public ProcessSampler()
        {
            // A thread of its own: a starved pool must not delay its own measurement.
            _sampling = Task.Factory.StartNew(Sample, TaskCreationOptions.LongRunning);
        }

        private void Sample()
        {
            var cpu = Environment.CpuUsage.TotalTime;
            var pause = GC.GetTotalPauseDuration();
            int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
            while (!_stop.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1)))
            {
                var cpuNow = Environment.CpuUsage.TotalTime;
                var pauseNow = GC.GetTotalPauseDuration();
                int n0 = GC.CollectionCount(0), n1 = GC.CollectionCount(1), n2 = GC.CollectionCount(2);
                lock (_seconds)
                    _seconds.Add(new ProcessSecond((cpuNow - cpu).TotalMilliseconds, ThreadPool.ThreadCount, ThreadPool.PendingWorkItemCount,
                        (pauseNow - pause).TotalMilliseconds, n0 - g0, n1 - g1, n2 - g2));
                (cpu, pause, g0, g1, g2) = (cpuNow, pauseNow, n0, n1, n2);
            }
        }

        public IReadOnlyList<ProcessSecond> Stop()
        {
            _stop.Cancel();
            _sampling.Wait();
            lock (_seconds) return _seconds.ToArray();
        }

        public void Dispose()
        {
            if (!_stop.IsCancellationRequested) Stop();
            _stop.Dispose();
        }
    }

    /// <summary>
    /// A plain pgoutput reader on a slot of its own, created now (so it starts at the head of the
    /// WAL) and dropped at the end: when each transaction reached it, against its commit time.
    /// </summary>
    private sealed class ServerWitness : IAsyncDisposable
    {
        private readonly string _database;
        private readonly string _slot;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentQueue<(double At, double Latency)> _seen = new();
        private DateTimeOffset _origin = DateTimeOffset.UtcNow;
        private Task _reading = Task.CompletedTask;
        private bool _stopped;

        private ServerWitness(string database, string slot)
        {
            _database = database;
            _slot = slot;
        }

        /// <summary>Arrival seconds are counted from now (the receiver's reset).</summary>
        public void CountFromNow() => _origin = DateTimeOffset.UtcNow;

        public static async Task<ServerWitness> StartAsync(string database, string slot)
        {
            var witness = new ServerWitness(database, slot);
            var connection = new LogicalReplicationConnection(database);
            await connection.Open();
            await connection.CreatePgOutputReplicationSlot(slot, temporarySlot: true);
            witness._reading = Task.Run(() => witness.ReadAsync(connection));
            return witness;
        }

        private async Task ReadAsync(LogicalReplicationConnection connection)
        {
            await using var _ = connection;
            var changes = 0;
            DateTimeOffset commit = default;
            try
            {
                await foreach (var message in connection.StartReplication(new PgOutputReplicationSlot(_slot),
                                   new PgOutputReplicationOptions(Publication, PgOutputProtocolVersion.V1), _stop.Token))
                {
                    switch (message)
                    {
                        case BeginMessage begin:
                            commit = new DateTimeOffset(DateTime.SpecifyKind(begin.TransactionCommitTimestamp, DateTimeKind.Utc));
                            changes = 0;
                            break;
                        case InsertMessage:
                            changes++;
                            break;
                        case CommitMessage:
                            var now = DateTimeOffset.UtcNow;
                            var latency = (now - commit).TotalMilliseconds;
                            var at = (now - _origin).TotalSeconds;
                            for (var i = 0; i < changes; i++) _seen.Enqueue((Math.Max(0, at), latency));
                            break;
                    }
                    connection.SetReplicationStatus(message.WalEnd);
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // Stopped.
            }
        }

        /// <summary>Stops reading; what it saw, each change with the seconds of its arrival since <see cref="CountFromNow"/>.</summary>
        public async Task<IReadOnlyList<(double At, double Latency)>> StopAsync()
        {
            if (!_stopped)
            {
                _stopped = true;
                await _stop.CancelAsync();
                await _reading;
            }
            return _seen.ToArray();
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop.Dispose();
        }
    }

    /// <summary>
    /// Listens to the platform's spans for the length of a phase (the platform emits them only while
    /// someone listens) and keeps what the stage breakdown needs.
    /// </summary>
    private sealed class StageProbe : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentQueue<Activity> _spans = new();

        public StageProbe()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == WorkflowTelemetry.ActivitySourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _spans.Enqueue,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public void Dispose() => _listener.Dispose();

        /// <summary>
        /// One line per second of arrival at the receiver: for the reads whose first change arrived
        /// then, the median time from that change's commit to each stage.
        /// </summary>
        public IReadOnlyList<string> Report(BenchReceiver receiver)
        {
            _listener.Dispose();
            var spans = _spans.ToArray();
            static string? Tag(Activity a, string key) => a.GetTagItem(key) as string;
            var transforms = spans.Where(s => s.OperationName == "transform").ToDictionary(s => s.TraceId, s => s);
            var deliveries = spans.Where(s => s.OperationName == "deliver")
                .Select(s => (Span: s, First: new SourcePosition(Tag(s, "retailstreaming.position.first") ?? "0"),
                    Last: new SourcePosition(Tag(s, "retailstreaming.position.last") ?? "0")))
                .OrderBy(d => d.First).ToArray();
            var attempts = spans.Where(s => s.OperationName == "delivery attempt" && s.ParentSpanId != default)
                .GroupBy(s => s.ParentSpanId).ToDictionary(g => g.Key, g => g.OrderBy(s => s.StartTimeUtc).First());

            var rows = new List<(int Second, double[] Stages)>();
            foreach (var capture in spans.Where(s => s.OperationName == "capture"))
            {
                if (Tag(capture, "retailstreaming.position.first") is not { } first) continue;
                if (receiver.Arrival(first) is not { } arrival) continue;
                var commit = arrival.Commit;
                double Since(DateTime utc) => (new DateTimeOffset(utc, TimeSpan.Zero) - commit).TotalMilliseconds;
                var position = new SourcePosition(first);
                var delivery = deliveries.FirstOrDefault(d => d.First <= position && position <= d.Last);
                if (!transforms.TryGetValue(capture.TraceId, out var transform) || delivery.Span is null
                    || !attempts.TryGetValue(delivery.Span.SpanId, out var attempt)) continue;
                rows.Add(((int)arrival.At, [
                    Since(capture.StartTimeUtc + capture.Duration),
                    Since(transform.StartTimeUtc),
                    Since(transform.StartTimeUtc + transform.Duration),
                    Since(delivery.Span.StartTimeUtc),
                    Since(attempt.StartTimeUtc),
                    Since(attempt.StartTimeUtc + attempt.Duration),
                    arrival.LatencyMs,
                ]));
            }

            var lines = new List<string>
            {
                "| second | reads | captured (offered) | transform start | transform end | deliver start | request start | 2xx at the platform | at the receiver |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            };
            foreach (var second in rows.GroupBy(r => r.Second).OrderBy(g => g.Key))
            {
                var medians = Enumerable.Range(0, 7).Select(i => Percentile(second.Select(r => r.Stages[i]).Order().ToArray(), 0.5));
                lines.Add($"| {second.Key} | {second.Count()} | " + string.Join(" | ", medians.Select(m => m.ToString("0.0", CultureInfo.InvariantCulture))) + " |");
            }
            var all = Enumerable.Range(0, 7).Select(i => rows.Select(r => r.Stages[i]).Order().ToArray()).ToArray();
            if (rows.Count > 0)
            {
                lines.Add($"| p50 all | {rows.Count} | " + string.Join(" | ", all.Select(a => Percentile(a, 0.5).ToString("0.0", CultureInfo.InvariantCulture))) + " |");
                lines.Add($"| p99 all | {rows.Count} | " + string.Join(" | ", all.Select(a => Percentile(a, 0.99).ToString("0.0", CultureInfo.InvariantCulture))) + " |");
            }
            return lines;
        }
    }
}
