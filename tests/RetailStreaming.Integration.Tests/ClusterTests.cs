using System.Diagnostics;
using System.Net;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// A cluster of node processes on one PostgreSQL journal and platform store, 30 workflows streaming
/// from SQLite change tables (a replication slot per workflow on one PostgreSQL beside three nodes is
/// more than 2 cores carry; the failover path is the same for every source): the node holding the
/// shard coordinator is killed with SIGKILL mid-stream, a fourth node joins and takes shards over, a
/// node leaves with SIGTERM; every workflow goes on and the reconciliation holds.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusterTests(PostgresServerFixture pg, ITestOutputHelper output) : IAsyncLifetime
{
    private const int Workflows = 30;
    private const string SecretVariable = "RS_IT_CLUSTER_SECRET";
    private static readonly ClusterWorkflows Flows = new("it-cluster", Workflows);
    private const string TicketPrefix = "T-CL-";
    private static readonly TimeSpan FailoverLimit = TimeSpan.FromSeconds(60);
    private readonly string _work = Directory.CreateTempSubdirectory("rs-it-cluster-").FullName;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<WebhookReceiver> _receivers = [];
    private readonly List<RetailClientDatabase> _databases = [];

    [Fact]
    public async Task Kill_9_of_the_coordinator_node_a_fourth_node_and_a_graceful_leave_lose_nothing()
    {
        var secret = StandardWebhooks.GenerateSecret();
        var environment = await pg.NodeOnPostgresAsync();
        environment[SecretVariable] = secret;
        await using var cluster = new ProcessCluster(environment);
        var receivers = await Task.WhenAll(Enumerable.Range(0, Workflows).Select(_ => WebhookReceiver.StartAsync(secret)));
        _receivers.AddRange(receivers);
        var databases = _databases;
        using var stopWriting = new CancellationTokenSource();
        Task writing = Task.CompletedTask;
        try
        {
            await cluster.StartSeedsAsync();
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(90));
            Log($"3 nodes up: {string.Join(", ", cluster.Nodes.Select(n => n.AdminUrl))}");

            // 30 client databases, each with 10 products and 10 tickets (20 snapshot rows), and their workflows,
            // applied through the three nodes in turn.
            await Flows.StartAsync(cluster, nodes: 3, _work, TicketPrefix, SecretVariable, databases, receivers);
            var placement = await Flows.PlacementAsync(cluster, cluster.Nodes[1]);
            Log($"30 workflows delivered their snapshots; per node: {ClusterWorkflows.Show(placement)}");
            Assert.True(placement.Values.Distinct().Count() == 3, $"the workflows are not spread over the 3 nodes: {ClusterWorkflows.Show(placement)}");

            var writer = new RoundRobinWriter(databases, TicketPrefix, firstTicket: 11, hotTickets: 10, products: 10, round: TimeSpan.FromMilliseconds(250));
            writing = writer.RunAsync(stopWriting.Token);
            await ClusterWorkflows.WaitForProgressAsync("the streams flow", cluster, receivers, writing, 20);

            // SIGKILL of node1: the first seed, so the oldest member, which holds the shard coordinator.
            // Its workflows are not asked anything until they deliver again: a question would start
            // them through the shard region; they must come back by themselves (remember-entities).
            var killed = cluster.Nodes[0];
            var onKilled = placement.Where(p => p.Value == cluster.StatusNode(0)).Select(p => p.Key).ToList();
            Assert.NotEmpty(onKilled);
            killed.Kill();
            var killedAt = Stopwatch.StartNew();
            // Taken once the process is gone: what it had sent is in, so a later position comes from another node.
            var highestBeforeKill = receivers.Select(r => r.Records.Select(x => x.Position).DefaultIfEmpty("").Max(StringComparer.Ordinal)!).ToArray();
            Log($"SIGKILL node1 (coordinator) holding {onKilled.Count} workflows; {writer.Total} changes written");
            var back = new Dictionary<int, TimeSpan>();
            await Eventually.UntilAsync($"the {onKilled.Count} workflows of the killed node deliver again within {FailoverLimit.TotalSeconds:0}s", FailoverLimit, () =>
            {
                foreach (var i in onKilled.Select(ClusterWorkflows.IndexOf))
                    if (!back.ContainsKey(i) && receivers[i].Records.Any(r => string.CompareOrdinal(r.Position, highestBeforeKill[i]) > 0))
                        back[i] = killedAt.Elapsed;
                return back.Count == onKilled.Count;
            }, () => $"back: {back.Count} of {onKilled.Count}; still waiting: {string.Join(", ", onKilled.Where(id => !back.ContainsKey(ClusterWorkflows.IndexOf(id))))}\n{cluster.OutputTails(60)}",
                every: TimeSpan.FromMilliseconds(100));
            var failover = back.Values.Max();
            Log($"failover={failover.TotalSeconds:0.0} (kill -9 of the coordinator's node to the last of its {onKilled.Count} workflows delivering again; first after {back.Values.Min().TotalSeconds:0.0}s)");
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(30));
            placement = await Flows.PlacementAsync(cluster, cluster.Nodes[1]);
            Assert.DoesNotContain(cluster.StatusNode(0), placement.Values);
            Log($"after the failover, per node: {ClusterWorkflows.Show(placement)}");

            // A fourth node joins (through the seeds that are still up) and shards move onto it.
            var fourth = await cluster.AddNodeAsync();
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(60));
            Log("node4 up");
            var fourthAddress = cluster.Address(3);
            Dictionary<string, (int Shards, int Entities)> shards = [];
            await Eventually.UntilAsync("shards with workflows move to node4", TimeSpan.FromSeconds(90), async () =>
            {
                shards = await ProcessCluster.ShardsPerNodeAsync(cluster.Nodes[1]);
                return shards.TryGetValue(fourthAddress, out var s) && s.Entities > 0;
            }, () => $"shards per node: {string.Join(", ", shards.Select(s => $"{s.Key}={s.Value}"))}\n{cluster.OutputTails()}",
                every: TimeSpan.FromSeconds(1));
            placement = await Flows.PlacementAsync(cluster, fourth);
            var onFourth = placement.Where(p => p.Value == cluster.StatusNode(3)).Select(p => p.Key).ToList();
            Log($"rebalanced: shards per node {string.Join(", ", shards.Select(s => $"{s.Key}={s.Value}"))}; workflows per node {ClusterWorkflows.Show(placement)}");
            Assert.NotEmpty(onFourth);
            await ClusterWorkflows.WaitForProgressAsync("the moved workflows deliver on node4", cluster, onFourth.Select(ClusterWorkflows.IndexOf).Select(i => receivers[i]).ToArray(), writing, 10);

            // node2 leaves with SIGTERM: its workflows drain, checkpoint and hand off; the nodes that
            // take them over resume at the checkpoint, so nothing delivered before is delivered again.
            var leaving = cluster.Nodes[1];
            var onLeaving = placement.Where(p => p.Value == cluster.StatusNode(1)).Select(p => p.Key).ToList();
            var exitCode = await leaving.StopAsync(TimeSpan.FromSeconds(90));
            var arrivedBeforeLeave = receivers.Select(r => r.Count).ToArray();
            Log($"SIGTERM node2 holding {onLeaving.Count} workflows: exit code {exitCode}");
            Assert.True(exitCode == 0, $"node2 exited with {exitCode} after SIGTERM\n{leaving.OutputTail(150)}");
            await cluster.WaitForMembersAsync(TimeSpan.FromSeconds(60));
            await ClusterWorkflows.WaitForProgressAsync("the workflows of node2 deliver elsewhere", cluster,
                onLeaving.Select(ClusterWorkflows.IndexOf).Select(i => receivers[i]).ToArray(), writing, 10);
            foreach (var i in onLeaving.Select(ClusterWorkflows.IndexOf))
            {
                var records = receivers[i].Records;
                var before = records.Take(arrivedBeforeLeave[i]).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
                var again = records.Skip(arrivedBeforeLeave[i]).Where(r => before.Contains(r.Id)).Select(r => $"#{r.Arrival} {r.Position}").ToList();
                Assert.True(again.Count == 0,
                    $"{Flows.Id(i)}: records delivered before node2's graceful leave came again (the hand-off did not drain and checkpoint): {DeliveryChecks.Show(again)}\n{leaving.OutputTail(100)}");
            }
            Log($"node2 left; its {onLeaving.Count} workflows went on elsewhere without redelivery");
        }
        finally
        {
            await stopWriting.CancelAsync();
            await Task.WhenAny(writing);
        }
        await writing;

        // The reconciliation, workflow by workflow: every written change arrived, under its stable key, in per-key order.
        var problems = new List<string>();
        await Eventually.UntilAsync("every change of every workflow arrived", TimeSpan.FromSeconds(120), () =>
            Enumerable.Range(0, Workflows).All(i => receivers[i].MissingPositions(DeliveryChecks.Positions(1, databases[i].LastChangeSequence(Flows.Id(i)))).Count == 0),
            () => string.Join("\n", Enumerable.Range(0, Workflows).Select(i => (i, missing: receivers[i].MissingPositions(DeliveryChecks.Positions(1, databases[i].LastChangeSequence(Flows.Id(i))))))
                .Where(x => x.missing.Count > 0).Select(x => $"{Flows.Id(x.i)}: {x.missing.Count} missing, first {x.missing[0]}")) + "\n" + cluster.OutputTails());
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
        Log($"{changes} changes over {Workflows} workflows, {received} records received ({received - changes} redelivered with their keys)");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private void Log(string line) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds:0.0}s] {line}");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var receiver in _receivers) await receiver.DisposeAsync();
        foreach (var db in _databases) db.Dispose();
        NodeBinaries.TryDelete(_work);
    }
}
