using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// Several <see cref="NodeProcess"/>es forming one cluster on one machine, as scripts/cluster.sh
/// starts them: each on its own fixed Akka port on 127.0.0.1, the same static seed list
/// (RS_SEED_NODES: the first <see cref="SeedCount"/> nodes; the first seed forms the cluster, so
/// it is the oldest member and holds the shard coordinator), and one shared journal and platform
/// store (<see cref="SharedEnvironment"/>, PostgreSQL).
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly List<NodeProcess> _nodes = [];
    private readonly List<int> _ports = [];

    /// <summary>Creates the cluster's first <paramref name="seedCount"/> nodes' ports (nothing started).</summary>
    public ProcessCluster(IReadOnlyDictionary<string, string> sharedEnvironment, int seedCount = 3)
    {
        SharedEnvironment = sharedEnvironment;
        SeedCount = seedCount;
        for (var i = 0; i < seedCount; i++) _ports.Add(FreePort());
    }

    /// <summary>Environment variables of every node (journal, store, secrets).</summary>
    public IReadOnlyDictionary<string, string> SharedEnvironment { get; }

    /// <summary>How many nodes are seeds.</summary>
    public int SeedCount { get; }

    /// <summary>Every node added so far, in order (running or not).</summary>
    public IReadOnlyList<NodeProcess> Nodes => _nodes;

    /// <summary>The seed list every node is given.</summary>
    public string SeedNodes => string.Join(",", _ports.Take(SeedCount).Select(AddressOf));

    /// <summary>The Akka address of the node on <paramref name="port"/>.</summary>
    public static string AddressOf(int port) => $"akka.tcp://retailstreaming@127.0.0.1:{port}";

    /// <summary>The Akka address of node <paramref name="index"/>.</summary>
    public string Address(int index) => AddressOf(_ports[index]);

    /// <summary>What the workflow status's <c>node</c> shows for node <paramref name="index"/>.</summary>
    public string StatusNode(int index) => $"127.0.0.1:{_ports[index]}";

    /// <summary>Starts the seed nodes together (the first forms the cluster, the others join it); <paramref name="nodeDll"/>: see <see cref="NodeProcess.NodeDll"/>.</summary>
    public async Task StartSeedsAsync(string? nodeDll = null)
    {
        for (var i = 0; i < SeedCount; i++) _nodes.Add(Create(i, nodeDll));
        await Task.WhenAll(_nodes.Select(n => n.StartAsync(TimeSpan.FromSeconds(120))));
    }

    /// <summary>Adds a node (not a seed) and starts it; it joins through the seeds that are up; <paramref name="nodeDll"/>: see <see cref="NodeProcess.NodeDll"/>.</summary>
    public async Task<NodeProcess> AddNodeAsync(string? nodeDll = null)
    {
        _ports.Add(FreePort());
        var node = Create(_ports.Count - 1, nodeDll);
        _nodes.Add(node);
        await node.StartAsync(TimeSpan.FromSeconds(120));
        return node;
    }

    /// <summary>The running nodes.</summary>
    public IEnumerable<NodeProcess> Running => _nodes.Where(n => n.IsRunning);

    /// <summary>The index of <paramref name="node"/>.</summary>
    public int IndexOf(NodeProcess node) => _nodes.IndexOf(node);

    /// <summary>The members with status Up, as <paramref name="node"/> sees them.</summary>
    public static async Task<List<string>> UpMembersAsync(NodeProcess node)
    {
        var cluster = await node.GetJsonAsync("/api/cluster");
        return cluster.GetProperty("members").EnumerateArray()
            .Where(m => m.GetProperty("status").GetString() == "Up" && m.GetProperty("reachability").GetString() == "reachable")
            .Select(m => m.GetProperty("address").GetString()!)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Waits until every running node sees exactly the running nodes Up and reachable.</summary>
    public Task WaitForMembersAsync(TimeSpan timeout)
    {
        var expected = Running.Select(n => Address(IndexOf(n))).Order(StringComparer.Ordinal).ToList();
        var seen = "";
        return Eventually.UntilAsync($"every running node sees {expected.Count} members Up: {string.Join(", ", expected)}", timeout, async () =>
        {
            foreach (var node in Running)
            {
                var up = await UpMembersAsync(node);
                seen = $"{node.Name} sees {string.Join(", ", up)}";
                if (!up.SequenceEqual(expected)) return false;
            }
            return true;
        }, () => seen + "\n" + OutputTails(), every: TimeSpan.FromMilliseconds(500));
    }

    /// <summary>Shards and entities of the workflow region per node address (GET /api/sharding/stats on <paramref name="node"/>).</summary>
    public static async Task<Dictionary<string, (int Shards, int Entities)>> ShardsPerNodeAsync(NodeProcess node)
    {
        var stats = await node.GetJsonAsync("/api/sharding/stats");
        var region = stats.EnumerateArray().Single(t => t.GetProperty("typeName").GetString() == "workflow");
        return region.GetProperty("nodes").EnumerateArray().ToDictionary(
            n => n.GetProperty("address").GetString()!,
            n => (n.GetProperty("shards").GetInt32(), n.GetProperty("entities").GetInt32()));
    }

    /// <summary>The tails of every node's output, for failure messages.</summary>
    public string OutputTails(int lines = 40) => string.Join("\n", _nodes.Select(n => n.OutputTail(lines)));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Killed, not stopped: a graceful stop of each would wait for hand-offs to the others.
        foreach (var node in _nodes) await node.DisposeAsync();
    }

    private NodeProcess Create(int index, string? nodeDll)
    {
        var node = new NodeProcess(environment: SharedEnvironment, name: $"node{index + 1}") { NodeDll = nodeDll };
        node.Environment["RetailStreaming__Node__Port"] = _ports[index].ToString(System.Globalization.CultureInfo.InvariantCulture);
        node.Environment["RS_SEED_NODES"] = SeedNodes;
        return node;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Reads of a workflow status object.</summary>
public static class WorkflowStatusJson
{
    /// <summary>A string property, or "".</summary>
    public static string Text(JsonElement? status, string name) =>
        status is { } s && s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
