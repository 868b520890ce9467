using System.Globalization;

namespace RetailStreaming.Node;

/// <summary>
/// Cluster settings (<c>RetailStreaming:Cluster</c>): the split brain resolver that downs a node that
/// is gone (a kill -9, a lost machine) so that its workflows start elsewhere, and the rebalance of
/// shards onto nodes that join.
/// </summary>
public sealed class ClusterSection
{
    /// <summary>
    /// The split brain resolver's strategy: <c>keep-majority</c> (the default: the side holding the
    /// majority of nodes stays up), <c>keep-oldest</c> or <c>down-all</c>.
    /// </summary>
    public string SplitBrainResolver { get; set; } = "keep-majority";

    /// <summary>
    /// How long membership must be stable before the resolver downs unreachable nodes (and, again,
    /// before a downed node's singletons such as the shard coordinator move). Akka's guidance: 7 s
    /// up to about 5 nodes, 10 s for 10, 20 s for 100. Shorter is a faster failover and a higher
    /// risk of downing a node that only paused (a long GC).
    /// </summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromSeconds(7);

    /// <summary>
    /// How long a node's heartbeats may pause before the others hold it unreachable (Akka's
    /// default is 3 s). Longer rides out a loaded machine's pauses (on a busy 2-core host heartbeats
    /// arrive 2 s apart) and adds as much to a failover.
    /// </summary>
    public TimeSpan AcceptableHeartbeatPause { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the shard coordinator looks for shards to move onto less loaded nodes.</summary>
    public TimeSpan RebalanceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The newer rebalance algorithm: at most this many shards move per round (with
    /// <see cref="RebalanceRelativeLimit"/>, the lower of the two); must be positive.
    /// </summary>
    public int RebalanceAbsoluteLimit { get; set; } = 20;

    /// <summary>At most this fraction of all shards moves per round (0 &lt; value ≤ 1).</summary>
    public double RebalanceRelativeLimit { get; set; } = 0.1;

    private static readonly string[] Strategies = ["keep-majority", "keep-oldest", "down-all"];

    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public void Validate()
    {
        if (!Strategies.Contains(SplitBrainResolver?.Trim().ToLowerInvariant()))
            throw new InvalidOperationException(
                $"RetailStreaming:Cluster:SplitBrainResolver '{SplitBrainResolver}' is not supported; use one of {string.Join(", ", Strategies)}.");
        if (StableAfter < TimeSpan.FromSeconds(1))
            throw new InvalidOperationException($"RetailStreaming:Cluster:StableAfter must be at least 1 s (e.g. 00:00:07); got {StableAfter}.");
        if (AcceptableHeartbeatPause < TimeSpan.FromSeconds(1))
            throw new InvalidOperationException($"RetailStreaming:Cluster:AcceptableHeartbeatPause must be at least 1 s (e.g. 00:00:05); got {AcceptableHeartbeatPause}.");
        if (RebalanceInterval <= TimeSpan.Zero)
            throw new InvalidOperationException($"RetailStreaming:Cluster:RebalanceInterval must be positive (e.g. 00:00:10); got {RebalanceInterval}.");
        if (RebalanceAbsoluteLimit <= 0)
            throw new InvalidOperationException($"RetailStreaming:Cluster:RebalanceAbsoluteLimit must be positive (e.g. 20); got {RebalanceAbsoluteLimit}.");
        if (RebalanceRelativeLimit is <= 0 or > 1)
            throw new InvalidOperationException($"RetailStreaming:Cluster:RebalanceRelativeLimit must be in (0, 1] (e.g. 0.1); got {RebalanceRelativeLimit}.");
    }
}

/// <summary>The HOCON and host settings that make a node a well-behaved cluster member.</summary>
public static class NodeCluster
{
    /// <summary>
    /// Time a stopping node (SIGTERM, <c>rsctl cluster leave</c>) has to hand its workflows off:
    /// each drains and checkpoints within <c>Workflows:DrainTimeout</c>, plus a margin for the
    /// shard hand-off messages and the journal writes.
    /// </summary>
    public static TimeSpan HandOffTimeout(NodeOptions options) => options.Workflows.DrainTimeout + TimeSpan.FromSeconds(10);

    /// <summary>
    /// The whole graceful stop: the hand-off, then leaving the cluster (exiting, singletons moving)
    /// and the actor system's end. The host waits this long for it (its default, 30 s, would cut it).
    /// </summary>
    public static TimeSpan ShutdownTimeout(NodeOptions options) => HandOffTimeout(options) + TimeSpan.FromSeconds(25);

    /// <summary>
    /// Split brain resolver (Akka's SBR), the newer least-shard allocation algorithm, and a
    /// coordinated shutdown whose sharding phase lasts as long as a workflow's drain: on SIGTERM
    /// the node hands its shards off (each workflow drains and checkpoints), then leaves.
    /// </summary>
    public static string Hocon(NodeOptions options)
    {
        var c = options.Cluster;
        c.Validate();
        static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        return $$"""
            akka.cluster {
              downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
              split-brain-resolver {
                active-strategy = {{c.SplitBrainResolver.Trim().ToLowerInvariant()}}
                stable-after = {{Ms(c.StableAfter)}}
              }
              failure-detector.acceptable-heartbeat-pause = {{Ms(c.AcceptableHeartbeatPause)}}
              sharding {
                # A shard loads its remembered workflows from the journal (event-sourced store); on a
                # shared, busy PostgreSQL the 5 s default fails shards at start and after a failover.
                waiting-for-state-timeout = 30s
                updating-state-timeout = 30s
                rebalance-interval = {{Ms(c.RebalanceInterval)}}
                least-shard-allocation-strategy {
                  rebalance-absolute-limit = {{c.RebalanceAbsoluteLimit.ToString(CultureInfo.InvariantCulture)}}
                  rebalance-relative-limit = {{c.RebalanceRelativeLimit.ToString(CultureInfo.InvariantCulture)}}
                }
              }
            }
            akka.coordinated-shutdown.phases {
              cluster-sharding-shutdown-region.timeout = {{Ms(HandOffTimeout(options))}}
            }
            """;
    }
}
