using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Transforms;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>Checks over what a receiver got, each returning the violations found (empty when fine).</summary>
public static class DeliveryChecks
{
    /// <summary>The positions of the change sequences <paramref name="first"/>..<paramref name="last"/>.</summary>
    public static List<string> Positions(long first, long last) =>
        Enumerable.Range(0, (int)Math.Max(0, last - first + 1))
            .Select(i => SqliteChangeTableSource.PositionOf(first + i).Value)
            .ToList();

    /// <summary>Records whose id is not IdempotencyKey.For(workflow, position, outputIndex).</summary>
    public static List<string> UnstableKeys(string workflowId, IEnumerable<ReceivedRecord> records) =>
        records
            .Where(r => r.Id != IdempotencyKey.For(workflowId, new SourcePosition(r.Position), r.OutputIndex))
            .Select(r => $"#{r.Arrival} {r.Position}/{r.OutputIndex} key {r.Key}: id {r.Id}, expected {IdempotencyKey.For(workflowId, new SourcePosition(r.Position), r.OutputIndex)}")
            .ToList();

    /// <summary>Records delivered again with an id that differs from the first delivery of the same (position, output index).</summary>
    public static List<string> DuplicatesWithAnotherId(IEnumerable<ReceivedRecord> records)
    {
        var first = new Dictionary<(string, int), ReceivedRecord>();
        var problems = new List<string>();
        foreach (var r in records)
        {
            if (!first.TryGetValue((r.Position, r.OutputIndex), out var f))
                first.Add((r.Position, r.OutputIndex), r);
            else if (f.Id != r.Id || f.Key != r.Key)
                problems.Add($"#{r.Arrival} {r.Position}/{r.OutputIndex}: id {r.Id} key {r.Key}, first delivered (#{f.Arrival}) as id {f.Id} key {f.Key}");
        }
        return problems;
    }

    /// <summary>
    /// Per business key, the positions of the records' first arrivals must increase: a key's later
    /// change never arrives before an earlier one (redeliveries of a record already seen are not
    /// first arrivals).
    /// </summary>
    public static List<string> KeysGoingBackwards(IEnumerable<ReceivedRecord> records)
    {
        var seen = new HashSet<(string, int)>();
        var lastByKey = new Dictionary<string, ReceivedRecord>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var r in records)
        {
            if (!seen.Add((r.Position, r.OutputIndex))) continue;
            if (lastByKey.TryGetValue(r.Key, out var previous) && string.CompareOrdinal(r.Position, previous.Position) <= 0)
                problems.Add($"key {r.Key}: {r.Position} (#{r.Arrival}) arrived first after {previous.Position} (#{previous.Arrival})");
            lastByKey[r.Key] = r;
        }
        return problems;
    }

    /// <summary>Formats up to 20 violations for an assertion message.</summary>
    public static string Show(IReadOnlyCollection<string> problems) =>
        $"{problems.Count} found; first ones:\n  " + string.Join("\n  ", problems.Take(20));
}
