using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using RetailStreaming.Node;
using RetailStreaming.Node.Admin;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// Workflows per node: one node (in this process, SQLite journal) with N workflows, each on its own
/// SQLite change-table source (a PostgreSQL replication slot per workflow is not realistic at these
/// counts on one server on 2 cores: each slot holds a walsender process and a connection, and
/// max_replication_slots/max_wal_senders bound them), all delivering to one signed endpoint.
/// Memory per idle workflow (managed heap after a full GC, and the process's working set, over the
/// node with none), then the throughput with all of them active (every source gets the same
/// number of changes at once).
/// </summary>
public static class ScaleBenchmark
{
    private const string SecretVariable = "RS_BENCH_SCALE_SECRET";

    public static async Task<int> RunAsync(string[] args)
    {
        var counts = (Arg(args, "--workflows") ?? "100,500,1000").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        var changesEach = int.Parse(Arg(args, "--changes") ?? "100", CultureInfo.InvariantCulture);
        var rows = new List<(int N, double HeapKb, double WorkingSetKb, double Start, long Changes, double PerSecond, long Lost)>();
        foreach (var n in counts)
        {
            Console.Error.WriteLine($"{n} workflows ...");
            rows.Add(await RoundAsync(n, changesEach));
            Console.Error.WriteLine($"{n} workflows: {rows[^1].HeapKb:0} KB heap per idle workflow, {rows[^1].PerSecond:0} changes/s");
        }

        Console.WriteLine($"scale: workflows on one node, SQLite change-table sources, {changesEach} changes per workflow when active, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| workflows | start s | heap KB / idle workflow | working set KB / idle workflow | changes | all active: changes/s | lost |");
        Console.WriteLine("|----------:|--------:|------------------------:|-------------------------------:|--------:|----------------------:|-----:|");
        foreach (var r in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.N,9} | {r.Start,7:0.0} | {r.HeapKb,23:0} | {r.WorkingSetKb,30:0} | {r.Changes,7} | {r.PerSecond,21:0} | {r.Lost,4} |"));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"heap_kb_per_idle_workflow={rows[^1].HeapKb:0} changes_per_s_at_{rows[^1].N}={rows[^1].PerSecond:0} lost={rows.Sum(r => r.Lost)}"));
        return rows.Any(r => r.Lost > 0) ? 1 : 0;
    }

    private static async Task<(int, double, double, double, long, double, long)> RoundAsync(int count, int changesEach)
    {
        var dir = Directory.CreateTempSubdirectory("rs-bench-scale-").FullName;
        var secret = StandardWebhooks.GenerateSecret();
        Environment.SetEnvironmentVariable(SecretVariable, secret);
        var options = new NodeOptions();
        options.Node.DataDirectory = Path.Combine(dir, "node");
        options.Node.Port = 0;
        options.Admin.Url = "http://127.0.0.1:0";
        options.Logging.MinimumLevel = "Warning";
        NodeHost.ConfigureLogging(options);
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        var databases = new List<RetailClientDatabase>();
        var app = await NodeHost.BuildAsync(options);
        try
        {
            await app.StartAsync();
            var queries = app.Services.GetRequiredService<WorkflowQueries>();
            for (var i = 0; i < count; i++)
            {
                var db = RetailClientDatabase.Create(Path.Combine(dir, $"client-{i:D4}.db"));
                databases.Add(db);
                db.Write(w => w.InsertProduct(RetailWriter.Sku(1), "Product 1", 1, "grocery"));
            }
            // A first workflow warms the node up (transform package loaded, journal tables made).
            await ApplyAsync(queries, 0, databases[0], receiver.Url);
            await WaitAsync(() => Distinct(receiver) >= 1, TimeSpan.FromSeconds(120), "the first workflow");
            var (heapBefore, setBefore) = Memory();

            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(1, count - 1), new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (i, _) => await ApplyAsync(queries, i, databases[i], receiver.Url));
            await WaitAsync(() => Distinct(receiver) >= count, TimeSpan.FromMinutes(10), $"{count} snapshots");
            var start = clock.Elapsed.TotalSeconds;
            // Idle: every workflow streaming, nothing to read.
            await Task.Delay(TimeSpan.FromSeconds(5));
            var (heapAfter, setAfter) = Memory();

            var expected = count + (long)count * changesEach;
            clock.Restart();
            await Parallel.ForEachAsync(databases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, (db, _) =>
            {
                db.Write(w =>
                {
                    for (var t = 1; t <= changesEach; t++) w.InsertTicket($"T-SC-{t:D6}", "S001", RetailWriter.Sku(1), 1, 2.0);
                });
                return ValueTask.CompletedTask;
            });
            await WaitAsync(() => Distinct(receiver) >= expected, TimeSpan.FromMinutes(10), $"{expected} records");
            var seconds = clock.Elapsed.TotalSeconds;
            var lost = expected - Distinct(receiver);
            return (count, (heapAfter - heapBefore) / 1024.0 / (count - 1), (setAfter - setBefore) / 1024.0 / (count - 1), start,
                (long)count * changesEach, count * (double)changesEach / seconds, Math.Max(0, lost));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            foreach (var db in databases) db.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static Task ApplyAsync(WorkflowQueries queries, int i, RetailClientDatabase db, string url)
    {
        var yaml = WorkflowFile.Retail($"bench-scale-{i:D4}", db, url, SecretVariable)
            .Replace("pollInterval: 50ms", "pollInterval: 1s", StringComparison.Ordinal)
            .Replace("maxWait: 50ms", "maxWait: 200ms", StringComparison.Ordinal);
        return queries.ApplyAsync($"bench-scale-{i:D4}", yaml, $"bench-scale-{i:D4}.yaml", CancellationToken.None);
    }

    private static long Distinct(WebhookReceiver receiver) => receiver.Records.Select(r => r.Id).Distinct().LongCount();

    private static (long Heap, long WorkingSet) Memory()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(false), self.WorkingSet64);
    }

    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"scale: {what} not delivered within {timeout.TotalSeconds:0}s");
            await Task.Delay(200);
        }
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
