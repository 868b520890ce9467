using System.Net;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// The retail workflows of the multi-node tests (<c>ClusterTests</c>, <c>RollingUpgradeTests</c>): one
/// SQLite client database and one receiver each, ids <c>{prefix}-00</c>…, applied through the nodes in
/// turn, and the questions those tests ask of them (where each runs, has each made progress).
/// </summary>
internal sealed class ClusterWorkflows(string idPrefix, int count)
{
    public int Count => count;

    public string Id(int i) => $"{idPrefix}-{i:D2}";

    public static int IndexOf(string id) => int.Parse(id[^2..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Creates the client databases (10 products and 10 tickets each: 20 snapshot rows) into
    /// <paramref name="databases"/>, applies each workflow through node <c>i % nodes</c>, and waits until
    /// every workflow delivered its snapshot.
    /// </summary>
    public async Task StartAsync(ProcessCluster cluster, int nodes, string work, string ticketPrefix, string secretVariable,
        List<RetailClientDatabase> databases, IReadOnlyList<WebhookReceiver> receivers)
    {
        for (var i = 0; i < count; i++)
        {
            var db = RetailClientDatabase.Create(Path.Combine(work, $"client-{i:D2}.db"));
            databases.Add(db);
            db.Write(w =>
            {
                for (var p = 1; p <= 10; p++) w.InsertProduct(RetailWriter.Sku(p), $"Product {p}", p, "grocery");
                for (var t = 1; t <= 10; t++) w.InsertTicket($"{ticketPrefix}{t:D6}", "S001", RetailWriter.Sku(t), 1, 2.0);
            });
        }
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            var node = cluster.Nodes[i % nodes];
            var yaml = WorkflowFile.Retail(Id(i), databases[i], receivers[i].Url, secretVariable)
                .Replace("pollInterval: 50ms", "pollInterval: 200ms", StringComparison.Ordinal)
                .Replace("maxWait: 50ms", "maxWait: 100ms", StringComparison.Ordinal);
            var (status, body) = await node.ApplyWorkflowAsync(yaml, $"{Id(i)}.yaml");
            // The answer first and again last: a CI log keeps only the end of a long message.
            Assert.True(status == HttpStatusCode.OK, $"{Id(i)}: POST /api/workflows on {node.Name} answered {(int)status}: {body}\n{node.OutputTail()}\n" +
                                                     $"{Id(i)}: POST /api/workflows on {node.Name} answered {(int)status}: {body}");
        }));
        await Eventually.UntilAsync("every workflow delivered its snapshot", TimeSpan.FromSeconds(120),
            () => receivers.All(r => r.DistinctPositions >= 20),
            () => $"snapshots delivered: {receivers.Count(r => r.DistinctPositions >= 20)} of {count}\n{cluster.OutputTails()}");
    }

    /// <summary>Workflow id → the node its status says it runs on, once every workflow answers from a live node.</summary>
    public async Task<Dictionary<string, string>> PlacementAsync(ProcessCluster cluster, NodeProcess asked)
    {
        var placement = new Dictionary<string, string>();
        var live = cluster.Running.Select(n => cluster.StatusNode(cluster.IndexOf(n))).ToHashSet();
        await Eventually.UntilAsync("every workflow answers from a live node", TimeSpan.FromSeconds(60), async () =>
        {
            placement.Clear();
            for (var i = 0; i < count; i++)
                placement[Id(i)] = WorkflowStatusJson.Text(await asked.WorkflowStatusAsync(Id(i)), "node");
            return placement.Values.All(live.Contains);
        }, () => Show(placement) + "\n" + cluster.OutputTails());
        return placement;
    }

    public static string Show(Dictionary<string, string> placement) =>
        string.Join(", ", placement.GroupBy(p => p.Value).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}"));

    /// <summary>Waits until each receiver got <paramref name="changes"/> more distinct positions than now.</summary>
    public static async Task WaitForProgressAsync(string what, ProcessCluster cluster, IReadOnlyList<WebhookReceiver> receivers, Task writing, int changes)
    {
        var from = receivers.Select(r => r.DistinctPositions).ToArray();
        await Eventually.UntilAsync(what, TimeSpan.FromSeconds(90),
            () => !writing.IsCompleted && receivers.Select((r, i) => r.DistinctPositions >= from[i] + changes).All(x => x),
            () => $"progress: {receivers.Select((r, i) => r.DistinctPositions - from[i]).Count(d => d >= changes)} of {receivers.Count}; writer {writing.Status}\n{cluster.OutputTails()}");
    }
}
