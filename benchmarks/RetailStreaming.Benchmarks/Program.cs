using RetailStreaming.Benchmarks;

// Each benchmark is a subcommand that prints a table and ends with one line of key=value figures:
//   dotnet run -c Release --project benchmarks/RetailStreaming.Benchmarks -- <name> [options]
var benchmarks = new Dictionary<string, Func<string[], Task<int>>>
{
    ["demo"] = DemoBenchmark.RunAsync,
    ["postgres"] = PostgresBenchmark.RunAsync,
    ["delivery"] = DeliveryBenchmark.RunAsync,
    ["failover"] = FailoverBenchmark.RunAsync,
    ["scale"] = ScaleBenchmark.RunAsync,
    ["isolation"] = IsolationBenchmark.RunAsync,
    ["isolation-process"] = ProcessIsolationBenchmark.RunAsync,
    ["isolation-wire"] = WorkerWireBenchmark.RunAsync,
    ["regress"] = RegressBenchmark.RunAsync,
};

var name = args.FirstOrDefault();
if (name is null || !benchmarks.TryGetValue(name, out var run))
{
    Console.Error.WriteLine($"usage: RetailStreaming.Benchmarks <{string.Join("|", benchmarks.Keys)}> [options]");
    Console.Error.WriteLine("  demo [--for 30s] [--rates 250,1000,4000]   the demo pipeline: SQLite capture -> sample transform -> signed webhook");
    Console.Error.WriteLine("  delivery [--batches 3000] [--records 100] [--payload 200] [--rounds 3] [--gzip] [--parallelism 1]   the delivery stage vs a bare HttpClient loop");
    Console.Error.WriteLine("  postgres [--rows 200000] [--latency-for 15s] [--rate 2000] [--parallelism 4]   PostgreSQL capture: platform vs bare decode vs bare pipeline, and latency");
    Console.Error.WriteLine("  failover [--workflows 30] [--rounds 2]   3 node processes on PostgreSQL: kill -9 of the coordinator's node to its workflows delivering again");
    Console.Error.WriteLine("  scale [--workflows 100,500,1000] [--changes 100]   workflows on one node: memory per idle workflow, throughput with all active");
    Console.Error.WriteLine("  isolation [--for 20s] [--rate 100] [--spinners <cores>] [--spin-ms 20] [--unbounded-slots 64]   a workflow's latency alone and beside CPU-spinning transforms");
    Console.Error.WriteLine("  isolation-process [--changes 20000] [--batch 500] [--singles 2000]   the sample transform in process vs in a worker process (transform.isolation: process)");
    Console.Error.WriteLine("  isolation-wire [--changes 20000] [--batch 500] [--rounds 5]   process isolation's CPU stage by stage (encode, decode, transform, pipe), earlier form vs current");
    Console.Error.WriteLine("  regress [--batches 200] [--batch-size 500] [--flush-every 20]   recording regression samples: CPU and allocations per 1,000 changes");
    return 2;
}
return await run(args[1..]);
