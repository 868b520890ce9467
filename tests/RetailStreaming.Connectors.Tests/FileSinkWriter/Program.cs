using System.Globalization;
using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Files;
using RetailStreaming.Connectors.Tests.FileSinkWriter;

// Usage: <directory> <workflow id> <first> <last> <batch size> <roll size in bytes>
// Writes records first..last through NdjsonFileSink in batches and prints "acked <n>" once the
// batch ending with record n is acknowledged (DeliverAsync returned), then "done".
if (args.Length != 6)
{
    Console.Error.WriteLine("usage: <directory> <workflow id> <first> <last> <batch size> <roll size in bytes>");
    return 2;
}

var (directory, workflowId) = (args[0], args[1]);
var first = long.Parse(args[2], CultureInfo.InvariantCulture);
var last = long.Parse(args[3], CultureInfo.InvariantCulture);
var batchSize = int.Parse(args[4], CultureInfo.InvariantCulture);
var rollSize = long.Parse(args[5], CultureInfo.InvariantCulture);

await using var sink = new NdjsonFileSink(new FileSinkOptions(workflowId, directory) { RollSize = rollSize, RollInterval = TimeSpan.FromHours(1) });
for (var n = first; n <= last; n += batchSize)
{
    var batch = new List<DeliveryRecord>();
    for (var i = n; i <= Math.Min(last, n + batchSize - 1); i++)
        batch.Add(FileSinkRecords.Record(workflowId, i));
    await sink.DeliverAsync(batch, CancellationToken.None);
    Console.Out.WriteLine($"acked {batch.Count + n - 1}");
    Console.Out.Flush();
}

Console.Out.WriteLine("done");
return 0;
