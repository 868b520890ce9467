using RetailStreaming.Node;
using RetailStreaming.Node.Demo;
using Serilog;

// RetailStreaming node.
//   run  (default)  a node: actor system, workflow shard region, admin API
//   demo            the whole platform on one machine, with a generator and a receiving endpoint
var command = args.FirstOrDefault(a => !a.StartsWith('-')) ?? "run";
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C: stop gracefully (drain, checkpoint). A second one kills.
    if (stop.IsCancellationRequested) return;
    e.Cancel = true;
    stop.Cancel();
};

try
{
    var options = NodeHost.ReadOptions(args, out _);
    NodeHost.ConfigureLogging(options);
    return command switch
    {
        "run" => await NodeCommand.RunAsync(options, stop.Token),
        "demo" => await DemoCommand.RunAsync(args, Console.Out, stop.Token),
        _ => Usage($"unknown command '{command}'"),
    };
}
catch (Exception e) when (e is FileNotFoundException or InvalidOperationException or NotSupportedException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
finally
{
    await Log.CloseAndFlushAsync();
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"error: {problem}");
    Console.Error.WriteLine("usage: RetailStreaming.Node [run|demo] [--env local|staging|production] [--RetailStreaming:Section:Key=value]");
    Console.Error.WriteLine("       RetailStreaming.Node demo [--for 60s] [--rate 250] [--dir demo-data] [--receiver-port 5181]");
    return 2;
}
