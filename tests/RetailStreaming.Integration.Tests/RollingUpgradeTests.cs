using System.Diagnostics;
using System.Net;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// A rolling upgrade: two nodes of the previous release (<see cref="PreviousRelease"/>, built from
/// compat/) run workflows on one PostgreSQL journal while the clients write; a node of this build
/// joins and takes workflows over; the old nodes leave one by one (SIGTERM), a second new node
/// joining between the two leaves; at the end only this build's nodes run every workflow, the
/// reconciliation holds, and at every moment some node was up and ready.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class RollingUpgradeTests(PostgresServerFixture pg, PreviousRelease previous, ITestOutputHelper output)
    : IClassFixture<PreviousRelease>, IAsyncLifetime
{
    private const int Workflows = 10;
    private const string SecretVariable = "RS_IT_UPGRADE_SECRET";
    private static readonly ClusterWorkflows Flows = new("it-upgrade", Workflows);
    private const string TicketPrefix = "T-UP-";
    /// <summary>No moment of the upgrade may go this long without a delivery to some workflow.</summary>
    private static readonly TimeSpan LongestPauseAllowed = TimeSpan.FromSeconds(30);
    private readonly string _work = Directory.CreateTempSubdirectory("rs-it-upgrade-").FullName;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<WebhookReceiver> _receivers = [];
    private readonly List<RetailClientDatabase> _databases = [];

    [Fact]
    public async Task A_node_of_this_build_joins_a_cluster_of_the_previous_release_takes_its_workflows_over_and_the_old_nodes_leave_without_downtime_or_loss()
    {
        Log(previous.BuildTime == TimeSpan.Zero
            ? $"previous release {PreviousRelease.Commit}: its earlier build reused ({previous.NodeDll})"
            : $"previous release {PreviousRelease.Commit}: built in {previous.BuildTime.TotalSeconds:0.0}s");
        var secret = StandardWebhooks.GenerateSecret();
        var environment = await pg.NodeOnPostgresAsync();
        environment[SecretVariable] = secret;
        await using var cluster = new ProcessCluster(environment, seedCount: 2);
        var receivers = await Task.WhenAll(Enumerable.Range(0, Workflows).Select(_ => WebhookReceiver.StartAsync(secret)));
        _receivers.AddRange(receivers);
        var databases = _databases;
        using var stopWriting = new CancellationTokenSource();
        using var stopWatching = new CancellationTokenSource();
        Task writing = Task.CompletedTask;
        Task<Watch> watching = Task.FromResult(new Watch());
        try
        {
            // The cluster of the previous release: node1 and node2, both seeds.
            await cluster.StartSeedsAsync(previous.NodeDll);
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(90));
            Log("node1, node2 (previous release) up");

            await Flows.StartAsync(cluster, nodes: 2, _work, TicketPrefix, SecretVariable, databases, receivers);
            Log($"{Workflows} workflows delivered their snapshots on the previous release; per node: {ClusterWorkflows.Show(await Flows.PlacementAsync(cluster, cluster.Nodes[0]))}");

            var writer = new RoundRobinWriter(databases, TicketPrefix, firstTicket: 11, hotTickets: 10, products: 10, round: TimeSpan.FromMilliseconds(250));
            writing = writer.RunAsync(stopWriting.Token);
            watching = WatchAsync(cluster, receivers, stopWatching.Token);
            await ClusterWorkflows.WaitForProgressAsync("the streams flow on the previous release", cluster, receivers, writing, 10);

            // node3 of this build joins. While the members' app-versions differ, Akka.NET's shard
            // allocation does not rebalance (a rolling update is in progress); the shards of a
            // leaving node go to the nodes of the newest version.
            var third = await cluster.AddNodeAsync();
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(60));
            await AssertBuildsAsync(cluster, third, old: [0, 1], current: [2]);
            await WaitForRegionAsync(cluster, third, 2);
            Log($"node3 (this build) up; sharding stats: {Show(await ProcessCluster.ShardsPerNodeAsync(third))}");

            // node1 (previous release, the oldest: it holds the shard coordinator) leaves and node3
            // takes its workflows over; node4 of this build joins; node2 (previous release) leaves.
            await LeaveAsync(cluster, 0, receivers, writing, takenOverBy: [2]);
            await WaitForWorkflowsOnAsync(cluster, third, 2);
            var fourth = await cluster.AddNodeAsync();
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(60));
            await AssertBuildsAsync(cluster, fourth, old: [1], current: [2, 3]);
            await WaitForRegionAsync(cluster, fourth, 3);
            Log($"node4 (this build) up; sharding stats: {Show(await ProcessCluster.ShardsPerNodeAsync(third))}");
            await LeaveAsync(cluster, 1, receivers, writing, takenOverBy: [2, 3]);

            // Only this build now, and it runs every workflow.
            await AssertBuildsAsync(cluster, third, old: [], current: [2, 3]);
            var placement = await Flows.PlacementAsync(cluster, fourth);
            Log($"only this build runs: per node {ClusterWorkflows.Show(placement)}");
            Assert.All(placement, p => Assert.Contains(p.Value, new[] { cluster.StatusNode(2), cluster.StatusNode(3) }));
            await ClusterWorkflows.WaitForProgressAsync("every workflow delivers on this build", cluster, receivers, writing, 10);
        }
        finally
        {
            await stopWriting.CancelAsync();
            await Task.WhenAny(writing);
            await stopWatching.CancelAsync();
        }
        await writing;
        var watch = await watching;
        Log($"no downtime: {watch.Samples} samples, fewest ready nodes {watch.FewestReady}, longest time without a delivery to any workflow {watch.LongestPause.TotalSeconds:0.0}s, to one workflow {watch.LongestWorkflowPause.TotalSeconds:0.0}s");
        Assert.True(watch.NoneReady.Count == 0, $"no node was ready at: {string.Join(", ", watch.NoneReady.Take(20))}");
        Assert.True(watch.LongestPause < LongestPauseAllowed,
            $"no workflow delivered anything for {watch.LongestPause.TotalSeconds:0.0}s (from {watch.LongestPauseFrom:0.0}s of the upgrade), over the {LongestPauseAllowed.TotalSeconds:0}s allowed");

        // The reconciliation, workflow by workflow: every written change arrived, duplicates only with equal keys, per-key order.
        var reconciling = Stopwatch.StartNew();
        await Eventually.UntilAsync("every change of every workflow arrived", TimeSpan.FromSeconds(120), () =>
            Enumerable.Range(0, Workflows).All(i => receivers[i].MissingPositions(DeliveryChecks.Positions(1, databases[i].LastChangeSequence(Flows.Id(i)))).Count == 0),
            () => string.Join("\n", Enumerable.Range(0, Workflows).Select(i => (i, missing: receivers[i].MissingPositions(DeliveryChecks.Positions(1, databases[i].LastChangeSequence(Flows.Id(i))))))
                .Where(x => x.missing.Count > 0).Select(x => $"{Flows.Id(x.i)}: {x.missing.Count} missing, first {x.missing[0]}")) + "\n" + cluster.OutputTails());
        var problems = new List<string>();
        long changes = 0, received = 0;
        for (var i = 0; i < Workflows; i++)
        {
            var records = receivers[i].Records;
            var last = databases[i].LastChangeSequence(Flows.Id(i));
            changes += last;
            received += records.Count;
            if (receivers[i].BadSignatures > 0) problems.Add($"{Flows.Id(i)}: {receivers[i].BadSignatures} bad signatures");
            if (records.Select(r => r.Id).Distinct().Count() != last) problems.Add($"{Flows.Id(i)}: {records.Select(r => r.Id).Distinct().Count()} distinct ids for {last} changes");
            if (DeliveryChecks.DuplicatesWithAnotherId(records) is { Count: > 0 } otherId) problems.Add($"{Flows.Id(i)}: redelivered with another id: {DeliveryChecks.Show(otherId)}");
            if (DeliveryChecks.UnstableKeys(Flows.Id(i), records) is { Count: > 0 } unstable) problems.Add($"{Flows.Id(i)}: unstable keys: {DeliveryChecks.Show(unstable)}");
            if (DeliveryChecks.KeysGoingBackwards(records) is { Count: > 0 } backwards) problems.Add($"{Flows.Id(i)}: per-key order broken: {DeliveryChecks.Show(backwards)}");
        }
        Log($"reconciled in {reconciling.Elapsed.TotalSeconds:0.0}s: {changes} changes over {Workflows} workflows, {received} records received ({received - changes} redelivered with their keys)");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>
    /// Node <paramref name="index"/> leaves with SIGTERM and exits 0; its workflows drain, checkpoint
    /// and hand off to the other build's nodes, which resume at the checkpoint (nothing delivered
    /// before the leave comes again) and deliver.
    /// </summary>
    private async Task LeaveAsync(ProcessCluster cluster, int index, IReadOnlyList<WebhookReceiver> receivers, Task writing, int[] takenOverBy)
    {
        var leaving = cluster.Nodes[index];
        var asked = cluster.Running.First(n => n != leaving);
        var onLeaving = (await Flows.PlacementAsync(cluster, asked)).Where(p => p.Value == cluster.StatusNode(index)).Select(p => p.Key).ToList();
        var clock = Stopwatch.StartNew();
        var exitCode = await leaving.StopAsync(TimeSpan.FromSeconds(90));
        var arrivedBeforeLeave = receivers.Select(r => r.Count).ToArray();
        Log($"SIGTERM {leaving.Name} (previous release) holding {onLeaving.Count} workflows: exit code {exitCode} after {clock.Elapsed.TotalSeconds:0.0}s");
        Assert.True(exitCode == 0, $"{leaving.Name} exited with {exitCode} after SIGTERM\n{leaving.OutputTail(150)}");
        await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(60));
        await ClusterWorkflows.WaitForProgressAsync($"the workflows of {leaving.Name} deliver on this build", cluster,
            onLeaving.Select(ClusterWorkflows.IndexOf).Select(i => receivers[i]).ToArray(), writing, 10);
        foreach (var i in onLeaving.Select(ClusterWorkflows.IndexOf))
        {
            var records = receivers[i].Records;
            var before = records.Take(arrivedBeforeLeave[i]).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
            var again = records.Skip(arrivedBeforeLeave[i]).Where(r => before.Contains(r.Id)).Select(r => $"#{r.Arrival} {r.Position}").ToList();
            Assert.True(again.Count == 0,
                $"{Flows.Id(i)}: records delivered before {leaving.Name}'s graceful leave came again (the hand-off to this build did not resume at the checkpoint): {DeliveryChecks.Show(again)}\n{cluster.OutputTails(100)}");
        }
        var placement = await Flows.PlacementAsync(cluster, asked);
        var newNodes = takenOverBy.Select(cluster.StatusNode).ToHashSet();
        var elsewhere = onLeaving.Where(id => !newNodes.Contains(placement[id])).Select(id => $"{id} on {placement[id]}").ToList();
        Assert.True(elsewhere.Count == 0,
            $"workflows of {leaving.Name} did not move to this build's nodes ({string.Join(", ", newNodes)}): {string.Join(", ", elsewhere)}");
        Log($"{leaving.Name} left after {clock.Elapsed.TotalSeconds:0.0}s; its {onLeaving.Count} workflows went on on this build without redelivery; per node {ClusterWorkflows.Show(placement)}");
    }

    /// <summary>
    /// The members' app-version as the cluster gossips it: the previous release's nodes show
    /// <see cref="PreviousRelease.Version"/>, this build's another one, the same on each.
    /// </summary>
    private static async Task AssertBuildsAsync(ProcessCluster cluster, NodeProcess asked, int[] old, int[] current)
    {
        var members = (await asked.GetJsonAsync("/api/cluster")).GetProperty("members").EnumerateArray()
            .ToDictionary(m => m.GetProperty("address").GetString()!, m => m.GetProperty("appVersion").GetString()!);
        var shown = string.Join(", ", members.Select(m => $"{m.Key}={m.Value}"));
        var expectedOld = PreviousRelease.Version.Split('-')[0];
        foreach (var i in old)
            Assert.True(members.TryGetValue(cluster.Address(i), out var v) && v.StartsWith(expectedOld, StringComparison.Ordinal),
                $"{cluster.Nodes[i].Name} should run the previous release (app-version {PreviousRelease.Version}); members: {shown}");
        var currentVersions = current.Select(i => members.TryGetValue(cluster.Address(i), out var v) ? v : "").Distinct().ToList();
        Assert.True(currentVersions.Count == 1 && currentVersions[0].Length > 0 && !currentVersions[0].StartsWith(expectedOld, StringComparison.Ordinal),
            $"nodes {string.Join(", ", current.Select(i => cluster.Nodes[i].Name))} should run this build (one app-version, not the previous release's); members: {shown}");
    }

    /// <summary>Waits until the coordinator's stats show workflows (entities) on node <paramref name="index"/>.</summary>
    private async Task WaitForWorkflowsOnAsync(ProcessCluster cluster, NodeProcess asked, int index)
    {
        var address = cluster.Address(index);
        Dictionary<string, (int Shards, int Entities)> shards = [];
        await Eventually.UntilAsync($"shards with workflows move to {cluster.Nodes[index].Name}", TimeSpan.FromSeconds(90), async () =>
        {
            shards = await ProcessCluster.ShardsPerNodeAsync(asked);
            return shards.TryGetValue(address, out var s) && s.Entities > 0;
        }, () => $"shards per node: {string.Join(", ", shards.Select(s => $"{s.Key}={s.Value}"))}\n{cluster.OutputTails()}",
            every: TimeSpan.FromSeconds(1));
        Log($"sharding stats: {string.Join(", ", shards.Select(s => $"{s.Key}={s.Value}"))}");
    }

    /// <summary>What the watcher saw during the upgrade.</summary>
    private sealed class Watch
    {
        public int Samples;
        public int FewestReady = int.MaxValue;
        public List<string> NoneReady { get; } = [];
        public TimeSpan LongestPause;
        public double LongestPauseFrom;
        /// <summary>The longest time one workflow went without a new position (its hand-off, while the clients write).</summary>
        public TimeSpan LongestWorkflowPause;
    }

    /// <summary>
    /// Until <paramref name="stop"/>: every 250 ms, how many started nodes answer /health/ready, and
    /// how long no receiver got a new position (a pause of every workflow at once is downtime).
    /// </summary>
    private Task<Watch> WatchAsync(ProcessCluster cluster, IReadOnlyList<WebhookReceiver> receivers, CancellationToken stop) => Task.Run(async () =>
    {
        var watch = new Watch();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var lastTotal = receivers.Sum(r => r.DistinctPositions);
        var lastProgress = _clock.Elapsed;
        var lastPositions = receivers.Select(r => r.DistinctPositions).ToArray();
        var lastWorkflowProgress = receivers.Select(_ => lastProgress).ToArray();
        while (!stop.IsCancellationRequested)
        {
            List<NodeProcess> nodes;
            try
            {
                nodes = cluster.Running.ToList();
            }
            catch (InvalidOperationException)
            {
                continue; // the test added a node at this moment; look again
            }
            var ready = 0;
            // A node whose process started but that has not written its admin URL yet is not ready.
            foreach (var node in nodes.Where(n => n.AdminUrl is not null))
            {
                try
                {
                    using var response = await probe.GetAsync(new Uri(node.AdminUrl, "/health/ready"), stop);
                    if (response.StatusCode == HttpStatusCode.OK) ready++;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
            }
            if (stop.IsCancellationRequested) break;
            var now = _clock.Elapsed;
            watch.Samples++;
            watch.FewestReady = Math.Min(watch.FewestReady, ready);
            if (ready == 0) watch.NoneReady.Add($"{now.TotalSeconds:0.0}s ({nodes.Count} processes running)");
            for (var i = 0; i < receivers.Count; i++)
            {
                var positions = receivers[i].DistinctPositions;
                if (positions > lastPositions[i]) (lastPositions[i], lastWorkflowProgress[i]) = (positions, now);
                else if (now - lastWorkflowProgress[i] > watch.LongestWorkflowPause) watch.LongestWorkflowPause = now - lastWorkflowProgress[i];
            }
            var total = receivers.Sum(r => r.DistinctPositions);
            if (total > lastTotal)
            {
                (lastTotal, lastProgress) = (total, now);
            }
            else if (now - lastProgress > watch.LongestPause)
            {
                watch.LongestPause = now - lastProgress;
                watch.LongestPauseFrom = lastProgress.TotalSeconds;
            }
            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return watch;
    });

    /// <summary>
    /// Waits until the shard coordinator knows node <paramref name="index"/>'s region: the cluster's
    /// sharding stats are the coordinator's answer, listing the regions registered with it. Up as a
    /// member is not enough: a node that leaves before the new region has registered hands its shards
    /// to the regions the coordinator knows, the previous release's (a CI run saw node3's stats still
    /// empty 2.4 s before node1's leave).
    /// </summary>
    private static Task WaitForRegionAsync(ProcessCluster cluster, NodeProcess node, int index) =>
        Eventually.UntilAsync($"{node.Name}'s shard region is registered with the coordinator", TimeSpan.FromSeconds(60),
            async () => (await ProcessCluster.ShardsPerNodeAsync(node)).Keys.Any(a => a.EndsWith("@" + cluster.StatusNode(index), StringComparison.Ordinal)),
            () => $"sharding stats from {node.Name}: {StatsNow(node)}\n{cluster.OutputTails(40)}",
            every: TimeSpan.FromMilliseconds(500));

    private static string StatsNow(NodeProcess node)
    {
        try
        {
            return Show(ProcessCluster.ShardsPerNodeAsync(node).GetAwaiter().GetResult());
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
        {
            return $"unavailable ({e.Message})";
        }
    }

    private static string Show(Dictionary<string, (int Shards, int Entities)> shards) =>
        string.Join(", ", shards.Select(s => $"{s.Key}={s.Value}"));

    private void Log(string line) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds:0.0}s] {line}");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var receiver in _receivers) await receiver.DisposeAsync();
        foreach (var db in _databases) db.Dispose();
        NodeBinaries.TryDelete(_work);
    }
}
