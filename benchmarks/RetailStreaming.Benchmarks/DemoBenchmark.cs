using System.Globalization;
using RetailStreaming.Node;
using RetailStreaming.Node.Demo;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// The demo's pipeline (SQLite change-table capture, the sample transform loaded from its package,
/// Standard Webhooks delivery to a local endpoint, checkpoints in the SQLite journal) run at
/// several generator rates: what it sustains, and the commit-to-delivery latency.
/// </summary>
public static class DemoBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var duration = DemoOptions.ParseDuration(Arg(args, "--for") ?? "20s");
        var rates = (Arg(args, "--rates") ?? "250,1000,4000")
            .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray();

        var rows = new List<(int Rate, DemoResult Result)>();

        foreach (var rate in rates)
        {
            var dir = Path.Combine(Path.GetTempPath(), $"rs-bench-demo-{Guid.NewGuid():N}");
            var node = new NodeOptions();
            node.Node.Port = 0;
            node.Admin.Url = "http://127.0.0.1:0";
            node.Logging.MinimumLevel = "Warning";
            NodeHost.ConfigureLogging(node);
            try
            {
                var result = await DemoCommand.RunAsync(
                    new DemoOptions { Duration = duration, Rate = rate, Directory = dir, ReceiverPort = 0, ProgressInterval = TimeSpan.FromSeconds(10) },
                    node, TextWriter.Null, CancellationToken.None);
                rows.Add((Rate: rate, Result: result));
            }
            finally
            {
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
        }

        Console.WriteLine($"demo pipeline, {duration.TotalSeconds:0}s per rate, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        // delivered/s: distinct changes received over the time from the first write to the last
        // delivery, drain included, so a rate the pipeline cannot sustain shows as less.
        Console.WriteLine("| target/s | written | delivered/s | p50 ms | p95 ms | p99 ms | max ms | duplicates | lost |");
        Console.WriteLine("|---------:|--------:|------------:|-------:|-------:|-------:|-------:|-----------:|-----:|");
        foreach (var (rate, r) in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {rate,8} | {r.Written,7} | {r.Delivered / r.UntilDelivered.TotalSeconds,11:0} | {r.P50Ms,6:0} | {r.P95Ms,6:0} | {r.P99Ms,6:0} | {r.MaxMs,6:0} | {r.Duplicates,10} | {r.Lost,4} |"));
        Console.WriteLine();
        var best = rows.MaxBy(r => r.Result.Delivered / r.Result.UntilDelivered.TotalSeconds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"max_delivered_per_s={best.Result.Delivered / best.Result.UntilDelivered.TotalSeconds:0} p99_ms_at_{rows[0].Rate}={rows[0].Result.P99Ms:0} lost={rows.Sum(r => r.Result.Lost)} duplicates={rows.Sum(r => r.Result.Duplicates)}"));
        return rows.Any(r => r.Result.Lost > 0) ? 1 : 0;
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
