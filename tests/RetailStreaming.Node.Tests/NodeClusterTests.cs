using Akka.Cluster.SBR;
using Akka.Configuration;

namespace RetailStreaming.Node.Tests;

/// <summary><see cref="NodeCluster"/>: the cluster HOCON a node starts with, and its validation.</summary>
public sealed class NodeClusterTests
{
    [Fact]
    public void The_hocon_turns_on_keep_majority_the_newer_rebalance_and_a_shutdown_phase_as_long_as_the_drain()
    {
        var options = new NodeOptions();
        options.Cluster.StableAfter = TimeSpan.FromSeconds(9);
        options.Workflows = new RetailStreaming.Workflows.WorkflowSettings { DrainTimeout = TimeSpan.FromSeconds(25) };

        var config = ConfigurationFactory.ParseString(NodeCluster.Hocon(options));

        Assert.Equal("Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster", config.GetString("akka.cluster.downing-provider-class"));
        var sbr = new SplitBrainResolverSettings(config.WithFallback(ConfigurationFactory.FromResource<Akka.Cluster.Cluster>("Akka.Cluster.Configuration.Cluster.conf")));
        Assert.Equal(SplitBrainResolverSettings.KeepMajorityName, sbr.DowningStrategy);
        Assert.Equal(TimeSpan.FromSeconds(9), sbr.DowningStableAfter);
        // rebalance-absolute-limit > 0 selects the newer allocation algorithm.
        Assert.Equal(20, config.GetInt("akka.cluster.sharding.least-shard-allocation-strategy.rebalance-absolute-limit"));
        Assert.Equal(0.1, config.GetDouble("akka.cluster.sharding.least-shard-allocation-strategy.rebalance-relative-limit"));
        Assert.Equal(TimeSpan.FromSeconds(10), config.GetTimeSpan("akka.cluster.sharding.rebalance-interval"));
        Assert.Equal(TimeSpan.FromSeconds(35), config.GetTimeSpan("akka.coordinated-shutdown.phases.cluster-sharding-shutdown-region.timeout"));
        Assert.True(NodeCluster.ShutdownTimeout(options) > TimeSpan.FromSeconds(35));
    }

    [Theory]
    [InlineData("SplitBrainResolver", "static-quorum", "RetailStreaming:Cluster:SplitBrainResolver 'static-quorum' is not supported")]
    [InlineData("StableAfter", "00:00:00.500", "RetailStreaming:Cluster:StableAfter must be at least 1 s")]
    [InlineData("RebalanceAbsoluteLimit", "0", "RetailStreaming:Cluster:RebalanceAbsoluteLimit must be positive")]
    [InlineData("RebalanceRelativeLimit", "1.5", "RetailStreaming:Cluster:RebalanceRelativeLimit must be in (0, 1]")]
    public void A_setting_out_of_range_is_an_error_naming_its_key(string key, string value, string expected)
    {
        var section = new ClusterSection();
        switch (key)
        {
            case "SplitBrainResolver": section.SplitBrainResolver = value; break;
            case "StableAfter": section.StableAfter = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "RebalanceAbsoluteLimit": section.RebalanceAbsoluteLimit = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "RebalanceRelativeLimit": section.RebalanceRelativeLimit = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
        }

        var e = Assert.Throws<InvalidOperationException>(section.Validate);

        Assert.Contains(expected, e.Message);
    }
}
