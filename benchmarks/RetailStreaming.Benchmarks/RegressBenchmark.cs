using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Samples.Retail;
using RetailStreaming.Store.Sqlite;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows;
using RetailStreaming.Workflows.Regress;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// What recording regression samples costs per 1,000 changes, in CPU time and allocations (wall
/// clock means little on a shared 2-core machine): the workflow's part (<c>Offer</c>, on the
/// workflow actor's thread) and the recorder's flush (serialization and the SQLite write, on a
/// background thread), next to the sample transform's own cost on the same changes.
/// </summary>
public static class RegressBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var batches = int.Parse(Arg(args, "--batches") ?? "200", CultureInfo.InvariantCulture);
        var size = int.Parse(Arg(args, "--batch-size") ?? "500", CultureInfo.InvariantCulture);
        var flushEvery = int.Parse(Arg(args, "--flush-every") ?? "20", CultureInfo.InvariantCulture);
        var settings = new RegressSettings();
        var changes = batches * size;

        var transform = new RetailTransform();
        var context = new TransformContext("bench", "bench-client", "1.0.0", new Dictionary<string, string>(), NullTransformLogger.Instance);
        transform.Initialize(context);
        var inputs = Enumerable.Range(0, batches).Select(b => Enumerable.Range(0, size).Select(i => Change(b * size + i)).ToList()).ToList();

        // The transform alone, as the reference.
        var done = new List<IReadOnlyList<TransformedChange>>(batches);
        var (transformCpu, _) = Measure(() =>
        {
            foreach (var batch in inputs)
                done.Add(batch.Select(c => new TransformedChange(c, transform.Transform(c, context).ToList(), false, "1.0.0")).ToList());
        });

        var directory = Path.Combine(Path.GetTempPath(), $"rs-bench-regress-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        try
        {
            using var store = new SqlitePlatformStore(Path.Combine(directory, "platform.db"));
            await store.InitializeAsync();
            var recorder = new RegressSampleRecorder(store.RegressSamples, settings, NullLogger.Instance);
            // Warm up (JIT, the store's first connection), then drop what it picked.
            recorder.Offer("warm-up", "bench-client", "RetailStreaming.Samples.Retail", done[0]);
            await recorder.FlushAsync(CancellationToken.None);

            // Offers alone (the workflow's part), over every batch in one measurement: process CPU time
            // is coarse, and per-batch readings would be mostly rounding. Once to warm up, once measured.
            for (var b = 0; b < batches; b++) recorder.Offer("warm-up", "bench-client", "RetailStreaming.Samples.Retail", done[b]);
            await recorder.FlushAsync(CancellationToken.None);
            var (offerCpu, offerBytes) = Measure(() =>
            {
                for (var b = 0; b < batches; b++) recorder.Offer("offers-only", "bench-client", "RetailStreaming.Samples.Retail", done[b]);
            });
            await recorder.FlushAsync(CancellationToken.None);

            // Offers and a flush every flushEvery batches; the flushes' cost is the difference.
            var written = 0;
            var start = Process.GetCurrentProcess().TotalProcessorTime;
            for (var b = 0; b < batches; b++)
            {
                recorder.Offer("bench", "bench-client", "RetailStreaming.Samples.Retail", done[b]);
                if ((b + 1) % flushEvery == 0 || b == batches - 1)
                    written += await recorder.FlushAsync(CancellationToken.None);
            }
            var flushCpu = Process.GetCurrentProcess().TotalProcessorTime - start - offerCpu;
            var kept = (await store.RegressSamples.ListAsync("bench")).Count;

            double Per1000(TimeSpan t) => t.TotalMicroseconds / changes * 1000;
            Console.WriteLine($"regress: recording samples, {batches} batches of {size} changes (tickets, products, catalog; insert and update), " +
                              $"a flush every {flushEvery} batches, SampleSize {settings.SampleSize}, SamplesPerFlush {settings.SamplesPerFlush}, {Environment.ProcessorCount} cores");
            Console.WriteLine();
            Console.WriteLine("| part | CPU µs / 1,000 changes | allocated bytes / 1,000 changes |");
            Console.WriteLine("|---|---:|---:|");
            Console.WriteLine($"| sample transform (reference) | {Per1000(transformCpu):0} | |");
            Console.WriteLine($"| Offer (workflow thread) | {Per1000(offerCpu):0} | {offerBytes * 1000.0 / changes:0} |");
            Console.WriteLine($"| flush (background: JSON + SQLite) | {Per1000(flushCpu):0} | |");
            Console.WriteLine();
            Console.WriteLine($"samples written {written}, kept {kept} (bound {settings.SampleSize} per table and operation)");
            Console.WriteLine(FormattableString.Invariant(
                $"transform-cpu-us-per-1000={Per1000(transformCpu):0} offer-cpu-us-per-1000={Per1000(offerCpu):0} offer-bytes-per-1000={offerBytes * 1000.0 / changes:0} flush-cpu-us-per-1000={Per1000(flushCpu):0}"));
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Process CPU time and this thread's allocations of <paramref name="action"/>.</summary>
    private static (TimeSpan Cpu, long Bytes) Measure(Action action)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var bytes = GC.GetAllocatedBytesForCurrentThread();
        action();
        return (Process.GetCurrentProcess().TotalProcessorTime - cpu, GC.GetAllocatedBytesForCurrentThread() - bytes);
    }

    private static ChangeEvent Change(int n)
    {
        var (table, operation) = (n % 4) switch
        {
            0 => ("tickets", ChangeOperation.Insert),
            1 => ("tickets", ChangeOperation.Update),
            2 => ("products", ChangeOperation.Update),
            _ => ("catalog", ChangeOperation.Update),
        };
        var row = table switch
        {
            "tickets" => new Dictionary<string, object?>
            {
                ["ticket_id"] = $"T{n:D9}", ["store_id"] = $"S{n % 20:D3}", ["sku"] = $"SKU-{n % 500}", ["quantity"] = 1L + n % 5,
                ["unit_price"] = 3.5m + n % 40, ["sold_at"] = "2026-11-26T10:00:00Z",
            },
            "products" => new Dictionary<string, object?> { ["sku"] = $"SKU-{n % 500}", ["name"] = $"Product {n % 500}", ["price"] = 9.99m, ["category"] = "food" },
            _ => new Dictionary<string, object?> { ["sku"] = $"SKU-{n % 500}", ["store_id"] = $"S{n % 20:D3}", ["listed"] = 1L },
        };
        var keyColumn = table == "tickets" ? "ticket_id" : "sku";
        return new ChangeEvent("sqlite:bench", table, operation, new RowData(new Dictionary<string, object?> { [keyColumn] = row[keyColumn] }),
            null, new RowData(row), DateTimeOffset.UnixEpoch.AddSeconds(n), new SourcePosition($"sqlite:{n:D19}"));
    }

    private static string? Arg(string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
