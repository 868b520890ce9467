using System.Globalization;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.FileSinkWriter;

/// <summary>The records both this program and the test make: record n is the same in both.</summary>
public static class FileSinkRecords
{
    public static DeliveryRecord Record(string workflowId, long n)
    {
        var position = new SourcePosition("mem:" + n.ToString("D10", CultureInfo.InvariantCulture));
        return new DeliveryRecord(
            IdempotencyKey.For(workflowId, position, 0), workflowId, position, 0, "tickets", ChangeOperation.Insert,
            new DateTimeOffset(2026, 11, 26, 6, 0, 0, TimeSpan.Zero).AddSeconds(n),
            OutputRecord.Create("sale", "T" + (n % 97).ToString(CultureInfo.InvariantCulture),
                new { n, note = new string((char)('a' + (int)(n % 26)), (int)(n % 50)) }));
    }
}
