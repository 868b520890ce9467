using System.Reflection;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using RetailStreaming.Node.Tests.Support;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Node.Tests;

/// <summary>
/// The <c>workflow</c> shard region of the real node: remember-entities on the event-sourced store
/// (the DData store hangs here), entities restarted at a constant rate after a start, and the
/// hand-off message that lets a workflow drain and checkpoint.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class ShardingTests(NodeFixture node)
{
    private ActorSystem System => node.App.Services.GetRequiredService<ActorSystem>();

    [Fact]
    public async Task The_workflow_region_is_registered_and_running()
    {
        var region = await node.App.Services.GetRequiredService<IRequiredActor<WorkflowRegion>>().GetAsync();

        Assert.Equal(WorkflowsHostingExtensions.RegionName, region.Path.Name);
        Assert.Equal("/system/sharding/workflow", region.Path.ToStringWithoutAddress());
        Assert.Contains(WorkflowsHostingExtensions.RegionName, ClusterSharding.Get(System).ShardTypeNames);
    }

    [Fact]
    public void The_node_configuration_restarts_remembered_entities_at_a_constant_rate()
    {
        var config = System.Settings.Config;

        Assert.Equal("constant", config.GetString("akka.cluster.sharding.entity-recovery-strategy"));
        Assert.Equal(5, config.GetInt("akka.cluster.sharding.entity-recovery-constant-rate-strategy.number-of-entities"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), config.GetTimeSpan("akka.cluster.sharding.entity-recovery-constant-rate-strategy.frequency"));
        Assert.Equal(TimeSpan.FromSeconds(60), config.GetTimeSpan("akka.cluster.sharding.handoff-timeout"));
    }

    [Fact]
    public async Task The_running_region_remembers_its_entities_in_the_event_sourced_store()
    {
        var region = await node.App.Services.GetRequiredService<IRequiredActor<WorkflowRegion>>().GetAsync();
        // The settings a region runs with are private to it; reading them is the only way to see
        // what Akka.Hosting made of ShardOptions and the HOCON together.
        var actor = ActorOf(region);
        var settings = (ClusterShardingSettings)Field(actor, "_settings");

        Assert.True(settings.RememberEntities);
        Assert.Equal(RememberEntitiesStore.Eventsourced, settings.RememberEntitiesStore);
        Assert.Equal(StateStoreMode.Persistence, settings.StateStoreMode);
        Assert.Equal("constant", settings.TuningParameters.EntityRecoveryStrategy);
        Assert.Equal(5, settings.TuningParameters.EntityRecoveryConstantRateStrategyNumberOfEntities);
        Assert.Equal(TimeSpan.FromMilliseconds(100), settings.TuningParameters.EntityRecoveryConstantRateStrategyFrequency);
        Assert.Equal(TimeSpan.FromSeconds(60), settings.TuningParameters.HandOffTimeout);
        Assert.Contains("EventSourced", Field(actor, "_rememberEntitiesProvider").GetType().Name, StringComparison.OrdinalIgnoreCase);
        Assert.IsType<WorkflowCommands.HandOff>(Field(actor, "_handOffStopMessage"));
    }

    private static object ActorOf(IActorRef actorRef)
    {
        var cell = Assert.IsAssignableFrom<ActorRefWithCell>(actorRef).Underlying;
        var property = cell.GetType().GetProperty("Actor", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
        return property?.GetValue(cell) ?? throw new InvalidOperationException($"No actor instance behind {actorRef}.");
    }

    private static object Field(object instance, string name)
    {
        var field = instance.GetType().GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)
                    ?? throw new InvalidOperationException($"{instance.GetType().Name} has no field {name} (Akka internals changed?).");
        return field.GetValue(instance) ?? throw new InvalidOperationException($"{instance.GetType().Name}.{name} is null.");
    }
}
