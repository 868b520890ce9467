using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Node.Signals;

/// <summary>
/// The cluster gauges: members by status, as this node sees them (read from the cluster's state on
/// each scrape, no ask), and this node's shards and workflow entities, sampled in the background
/// from its own shard region every interval, so that a scrape never waits on an actor.
/// </summary>
public sealed class ClusterSignals : BackgroundService
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);
    private readonly IServiceProvider _services;
    private readonly TimeSpan _interval;
    private volatile ActorSystem? _system;
    private volatile LocalShards? _shards;

    private sealed record LocalShards(string Node, int Shards, int Entities);

    /// <summary>Creates the gauges on the node's meter.</summary>
    public ClusterSignals(WorkflowTelemetry telemetry, IServiceProvider services, TimeSpan interval)
    {
        _services = services;
        _interval = interval > TimeSpan.Zero ? interval : TimeSpan.FromSeconds(10);
        var meter = telemetry.Meter;
        meter.CreateObservableGauge("retailstreaming_cluster_members", ObserveMembers, "{member}",
            "Cluster members by status (up, joining, leaving, exiting, down, weaklyup), as this node sees them.");
        meter.CreateObservableGauge("retailstreaming_cluster_unreachable_members", ObserveUnreachable, "{member}",
            "Members this node sees unreachable.");
        meter.CreateObservableGauge("retailstreaming_shards", () => ObserveShards(s => s.Shards), "{shard}",
            "Workflow shards hosted by this node (label node).");
        meter.CreateObservableGauge("retailstreaming_shard_entities", () => ObserveShards(s => s.Entities), "{workflow}",
            "Workflow entities running in this node's shards (label node).");
    }

    private IEnumerable<Measurement<long>> ObserveMembers()
    {
        if (_system is not { } system) yield break;
        var counts = Cluster.Get(system).State.Members
            .GroupBy(m => m.Status.ToString().ToLowerInvariant())
            .ToDictionary(g => g.Key, g => g.Count());
        counts.TryAdd("up", 0);
        foreach (var (status, count) in counts)
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("status", status));
    }

    private IEnumerable<Measurement<long>> ObserveUnreachable()
    {
        if (_system is not { } system) yield break;
        yield return new Measurement<long>(Cluster.Get(system).State.Unreachable.Count);
    }

    private IEnumerable<Measurement<long>> ObserveShards(Func<LocalShards, int> read)
    {
        if (_shards is not { } shards) yield break;
        yield return new Measurement<long>(read(shards), new KeyValuePair<string, object?>("node", shards.Node));
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var system = _services.GetRequiredService<ActorSystem>();
        _system = system;
        var registry = _services.GetRequiredService<ActorRegistry>();
        using var timer = new PeriodicTimer(_interval);
        do
        {
            try
            {
                var region = await registry.GetAsync<WorkflowRegion>(stoppingToken);
                var state = await region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, AskTimeout, stoppingToken);
                var self = Cluster.Get(system).SelfAddress;
                _shards = new LocalShards($"{self.Host}:{self.Port}", state.Shards.Count, state.Shards.Sum(s => s.EntityIds.Count));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is AskTimeoutException or OperationCanceledException)
            {
                // Keeps the last sample: a slow region shows stale figures, never a hung scrape.
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
