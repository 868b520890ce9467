using System.Diagnostics;
using System.Globalization;
using System.Net;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using RetailStreaming.TestSupport;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// Failover: 3 node processes on one PostgreSQL journal (as scripts/cluster.sh runs them), N
/// workflows streaming from SQLite change tables; node1 (the oldest member, holding the shard
/// coordinator) is killed with SIGKILL; the time from the kill to the last of its workflows
/// delivering a new change from another node. Several rounds, each on a new cluster.
/// </summary>
public static class FailoverBenchmark
{
    private const string SecretVariable = "RS_BENCH_FAILOVER_SECRET";

    public static async Task<int> RunAsync(string[] args)
    {
        var workflows = int.Parse(Arg(args, "--workflows") ?? "30", CultureInfo.InvariantCulture);
        var rounds = int.Parse(Arg(args, "--rounds") ?? "2", CultureInfo.InvariantCulture);
        var results = new List<(int Moved, double First, double Last, long Lost)>();
        await using var server = await PostgresServer.StartAsync();
        for (var round = 1; round <= rounds; round++)
        {
            Console.Error.WriteLine($"round {round}: starting 3 nodes, {workflows} workflows");
            results.Add(await RoundAsync(server, workflows, round));
            Console.Error.WriteLine($"round {round}: failover {results[^1].Last:0.0}s");
        }

        Console.WriteLine($"failover: kill -9 of the coordinator's node (1 of 3) with {workflows} workflows streaming, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| round | workflows moved | first back s | last back s | lost |");
        Console.WriteLine("|------:|----------------:|-------------:|------------:|-----:|");
        for (var i = 0; i < results.Count; i++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {i + 1,5} | {results[i].Moved,15} | {results[i].First,12:0.0} | {results[i].Last,11:0.0} | {results[i].Lost,4} |"));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"lost={results.Sum(r => r.Lost)} failover={results.Max(r => r.Last):0.0}"));
        return results.Any(r => r.Lost > 0) ? 1 : 0;
    }

    private static async Task<(int Moved, double First, double Last, long Lost)> RoundAsync(PostgresServer server, int count, int round)
    {
        var work = Directory.CreateTempSubdirectory("rs-bench-failover-").FullName;
        var secret = StandardWebhooks.GenerateSecret();
        var db = await server.CreateDatabaseAsync("rs_failover");
        var environment = new Dictionary<string, string>
        {
            ["RetailStreaming__Persistence__Provider"] = "postgres",
            ["RetailStreaming__Persistence__ConnectionString"] = db,
            ["RetailStreaming__Store__Provider"] = "postgres",
            ["RetailStreaming__Store__ConnectionString"] = db,
            ["RetailStreaming__Logging__MinimumLevel"] = "Warning",
            [SecretVariable] = secret,
        };
        var receivers = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => WebhookReceiver.StartAsync(secret)));
        var databases = new List<RetailClientDatabase>();
        using var stop = new CancellationTokenSource();
        var writing = Task.CompletedTask;
        try
        {
            await using var cluster = new ProcessCluster(environment);
            await cluster.StartSeedsAsync();
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(120));
            for (var i = 0; i < count; i++)
            {
                var client = RetailClientDatabase.Create(Path.Combine(work, $"client-{i:D3}.db"));
                databases.Add(client);
                client.Write(w =>
                {
                    for (var p = 1; p <= 5; p++) w.InsertProduct(RetailWriter.Sku(p), $"Product {p}", p, "grocery");
                    for (var t = 1; t <= 5; t++) w.InsertTicket($"T-FO-{t:D6}", "S001", RetailWriter.Sku(t), 1, 2.0);
                });
            }
            await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                var yaml = WorkflowFile.Retail(Id(i), databases[i], receivers[i].Url, SecretVariable)
                    .Replace("pollInterval: 50ms", "pollInterval: 200ms", StringComparison.Ordinal)
                    .Replace("maxWait: 50ms", "maxWait: 100ms", StringComparison.Ordinal);
                var (status, body) = await cluster.Nodes[1 + i % 2].ApplyWorkflowAsync(yaml, $"{Id(i)}.yaml");
                if (status != HttpStatusCode.OK) throw new InvalidOperationException($"{Id(i)}: {(int)status} {body}");
            }));
            await Eventually.UntilAsync("every workflow delivered its snapshot", TimeSpan.FromSeconds(180),
                () => receivers.All(r => r.DistinctPositions >= 10), () => cluster.OutputTails());

            var writer = new RoundRobinWriter(databases, "T-FO-", 6, 5, 5, TimeSpan.FromMilliseconds(250));
            writing = writer.RunAsync(stop.Token);
            var from = receivers.Select(r => r.DistinctPositions).ToArray();
            await Eventually.UntilAsync("the streams flow", TimeSpan.FromSeconds(120),
                () => receivers.Select((r, i) => r.DistinctPositions >= from[i] + 10).All(x => x), () => cluster.OutputTails());

            var placement = new Dictionary<int, string>();
            for (var i = 0; i < count; i++)
                placement[i] = WorkflowStatusJson.Text(await cluster.Nodes[1].WorkflowStatusAsync(Id(i)), "node");
            var onKilled = placement.Where(p => p.Value == cluster.StatusNode(0)).Select(p => p.Key).ToList();
            cluster.Nodes[0].Kill();
            var clock = Stopwatch.StartNew();
            // Taken once the process is gone: what it had sent is in, so a later position comes from another node.
            var highest = receivers.Select(r => r.Records.Select(x => x.Position).DefaultIfEmpty("").Max(StringComparer.Ordinal)!).ToArray();
            var back = new Dictionary<int, double>();
            // Nothing asks the moved workflows anything: they must restart by themselves.
            await Eventually.UntilAsync("the killed node's workflows deliver again", TimeSpan.FromSeconds(180), () =>
            {
                foreach (var i in onKilled)
                    if (!back.ContainsKey(i) && receivers[i].Records.Any(r => string.CompareOrdinal(r.Position, highest[i]) > 0))
                        back[i] = clock.Elapsed.TotalSeconds;
                return back.Count == onKilled.Count;
            }, () => cluster.OutputTails(), every: TimeSpan.FromMilliseconds(50));

            await stop.CancelAsync();
            await writing;
            await Eventually.UntilAsync("every change arrived", TimeSpan.FromSeconds(120),
                () => Enumerable.Range(0, count).All(i => receivers[i].MissingPositions(DeliveryChecks.Positions(1, databases[i].LastChangeSequence(Id(i)))).Count == 0),
                () => cluster.OutputTails());
            var lost = Enumerable.Range(0, count).Sum(i => (long)receivers[i].MissingPositions(DeliveryChecks.Positions(1, databases[i].LastChangeSequence(Id(i)))).Count);
            return (onKilled.Count, back.Count == 0 ? 0 : back.Values.Min(), back.Count == 0 ? 0 : back.Values.Max(), lost);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAny(writing);
            foreach (var receiver in receivers) await receiver.DisposeAsync();
            foreach (var client in databases) client.Dispose();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static string Id(int i) => $"bench-failover-{i:D3}";

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
