using System.Diagnostics;
using System.Globalization;
using RetailStreaming.TransformHost;
using RetailStreaming.TransformHost.Isolation;
using RetailStreaming.Transforms;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// The cost of <c>transform.isolation: process</c>: the sample transform over the same changes in
/// process (<see cref="TransformRunner"/>) and in a worker process (<see cref="IsolatedTransformRunner"/>:
/// JSON frames over pipes both ways), in batches as the workflow runs them (a capture read) and one
/// change at a time (the latency of a lone change).
/// </summary>
/// <remarks>
/// CPU seconds per 1,000 changes count both processes in isolated mode (this one and the worker), so
/// they compare on a busy machine, where the wall-clock figures do not.
/// </remarks>
public static class ProcessIsolationBenchmark
{
    private const string SampleId = "RetailStreaming.Samples.Retail";
    private const string SampleType = "RetailStreaming.Samples.Retail.RetailTransform";

    /// <summary>One mode's figures.</summary>
    /// <param name="Mode">inprocess or process.</param>
    /// <param name="ChangesPerSecond">Throughput in batches of the batch size.</param>
    /// <param name="BatchP99Ms">p99 of one batch's time.</param>
    /// <param name="SingleP50Ms">p50 of one change sent alone.</param>
    /// <param name="SingleP99Ms">p99 of one change sent alone.</param>
    /// <param name="CpuSecondsPer1000">CPU seconds (this process and the worker) per 1,000 changes, in batches.</param>
    /// <param name="AllocatedKbPer1000">KB allocated in this process per 1,000 changes, in batches.</param>
    /// <param name="WorkerCpuSecondsPer1000">Of <paramref name="CpuSecondsPer1000"/>, the worker's share.</param>
    public sealed record Figures(string Mode, double ChangesPerSecond, double BatchP99Ms, double SingleP50Ms, double SingleP99Ms,
        double CpuSecondsPer1000, double AllocatedKbPer1000, double WorkerCpuSecondsPer1000);

    /// <summary>
    /// <c>isolation-process [--changes 20000] [--batch 500] [--singles 2000]</c>: prints the table and ends with
    /// <c>inprocess=&lt;changes/s&gt; process=&lt;changes/s&gt; ratio=&lt;r&gt; p99-single-inprocess=&lt;ms&gt; p99-single-process=&lt;ms&gt;</c>.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var changes = int.Parse(Arg(args, "--changes") ?? "20000", CultureInfo.InvariantCulture);
        var batch = int.Parse(Arg(args, "--batch") ?? "500", CultureInfo.InvariantCulture);
        var singles = int.Parse(Arg(args, "--singles") ?? "2000", CultureInfo.InvariantCulture);
        var (inProcess, isolated) = await MeasureAsync(changes, batch, singles);
        Console.WriteLine(Table([inProcess, isolated], batch));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"inprocess={inProcess.ChangesPerSecond:0} process={isolated.ChangesPerSecond:0} ratio={isolated.ChangesPerSecond / inProcess.ChangesPerSecond:0.00} " +
            $"p99-single-inprocess={inProcess.SingleP99Ms:0.00} p99-single-process={isolated.SingleP99Ms:0.00}"));
        return 0;
    }

    /// <summary>Measures both modes over the same generated tickets (for the <c>isolation</c> benchmark to call).</summary>
    public static async Task<(Figures InProcess, Figures Process)> MeasureAsync(int changes = 20_000, int batchSize = 500, int singles = 2_000)
    {
        var cache = Directory.CreateTempSubdirectory("rs-bench-isolation-").FullName;
        try
        {
            var store = new TransformPackageStore(Path.Combine(AppContext.BaseDirectory, "transform-packages"), cache);
            var settings = new Dictionary<string, string> { ["currency"] = "EUR", ["vatRate"] = "0.20" };
            var context = new TransformContext("bench-isolation", "bench", "1.0.0", settings, NullTransformLogger.Instance);
            var data = Tickets(changes);
            var lone = Tickets(singles);

            using var runner = new TransformRunner(new TransformLoader(store).Load(SampleId, "1.0.0", SampleType), context, TimeSpan.FromSeconds(30));
            runner.Initialize();
            var inProcess = await MeasureAsync("inprocess", data, lone, batchSize, runner.RunBatchAsync, () => TimeSpan.Zero);

            using var isolated = new IsolatedTransformRunner(store, SampleId, SampleType, context, TimeSpan.FromSeconds(30));
            isolated.Start();
            using var worker = Process.GetProcessById(isolated.WorkerProcessId!.Value);
            var process = await MeasureAsync("process", data, lone, batchSize, c => isolated.RunBatchAsync(c),
                () => { worker.Refresh(); return worker.TotalProcessorTime; });
            if (isolated.Restarts != 0) throw new InvalidOperationException($"the worker restarted {isolated.Restarts} time(s) during the benchmark");
            return (inProcess, process);
        }
        finally
        {
            try { Directory.Delete(cache, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<Figures> MeasureAsync(string mode, List<ChangeEvent> data, List<ChangeEvent> lone, int batchSize,
        Func<IReadOnlyList<ChangeEvent>, Task<IReadOnlyList<TransformResult>>> run, Func<TimeSpan> workerCpu)
    {
        // Warm-up: JIT and tiering on both sides.
        for (var i = 0; i < 3; i++) Check(await run(data.Take(batchSize).ToList()));

        var batches = data.Chunk(batchSize).Select(c => (IReadOnlyList<ChangeEvent>)c).ToList();
        var batchTimes = new List<double>(batches.Count);
        var self = Process.GetCurrentProcess();
        self.Refresh();
        var workerBefore = workerCpu();
        var cpuBefore = self.TotalProcessorTime + workerBefore;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        foreach (var b in batches)
        {
            var t = Stopwatch.GetTimestamp();
            Check(await run(b));
            batchTimes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        self.Refresh();
        var workerAfter = workerCpu();
        var cpu = self.TotalProcessorTime + workerAfter - cpuBefore;

        var singleTimes = new List<double>(lone.Count);
        foreach (var change in lone)
        {
            var t = Stopwatch.GetTimestamp();
            Check(await run([change]));
            singleTimes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }

        var per1000 = 1000.0 / data.Count;
        return new Figures(mode, data.Count / elapsed.TotalSeconds, Percentile(batchTimes, 0.99),
            Percentile(singleTimes, 0.50), Percentile(singleTimes, 0.99), cpu.TotalSeconds * per1000, allocated / 1024.0 * per1000,
            (workerAfter - workerBefore).TotalSeconds * per1000);
    }

    private static void Check(IReadOnlyList<TransformResult> results)
    {
        if (results.FirstOrDefault(r => r is not TransformResult.Ok) is TransformResult.Failed f)
            throw new InvalidOperationException($"the sample transform failed a benchmark change: {f.Kind}: {f.Reason}");
    }

    /// <summary>The table of both modes' figures.</summary>
    public static string Table(IEnumerable<Figures> rows, int batchSize)
    {
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            $"| mode | changes/s (batches of {batchSize}) | p99 batch (ms) | single change p50 (ms) | single change p99 (ms) | CPU s / 1,000 changes | of which the worker | KB allocated / 1,000 changes (this process) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        };
        lines.AddRange(rows.Select(r => string.Create(c,
            $"| {r.Mode} | {r.ChangesPerSecond:N0} | {r.BatchP99Ms:0.00} | {r.SingleP50Ms:0.000} | {r.SingleP99Ms:0.000} | {r.CpuSecondsPer1000:0.0000} | {r.WorkerCpuSecondsPer1000:0.0000} | {r.AllocatedKbPer1000:N0} |")));
        return string.Join(Environment.NewLine, lines);
    }

    internal static List<ChangeEvent> Tickets(int count)
    {
        var commit = new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
        var list = new List<ChangeEvent>(count);
        for (var i = 1; i <= count; i++)
        {
            var id = $"T-{i:D8}";
            var after = new RowData(new Dictionary<string, object?>
            {
                ["ticket_id"] = id, ["store_id"] = $"S-{i % 40:D2}", ["sku"] = $"SKU-{i % 500}",
                ["quantity"] = (long)(1 + i % 5), ["unit_price"] = 1.99m + i % 50, ["sold_at"] = "2026-11-26T07:59:58Z",
            });
            list.Add(new ChangeEvent("sqlite:retail", "tickets", ChangeOperation.Insert,
                new RowData(new Dictionary<string, object?> { ["ticket_id"] = id }), null, after, commit, new SourcePosition($"sqlite:{i:D19}")));
        }
        return list;
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
