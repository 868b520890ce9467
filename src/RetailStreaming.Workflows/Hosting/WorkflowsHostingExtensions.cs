using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Serialization;

namespace RetailStreaming.Workflows.Hosting;

/// <summary>Marker for the <c>workflow</c> shard region in the actor registry.</summary>
public sealed class WorkflowRegion;

/// <summary>The Akka.Hosting wiring of the workflow actors, beside them.</summary>
public static class WorkflowsHostingExtensions
{
    /// <summary>The shard region's name.</summary>
    public const string RegionName = "workflow";

    /// <summary>
    /// Binds <see cref="RetailStreamingSerializer"/> to every <see cref="IRetailStreamingMessage"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddRetailStreamingSerialization(this AkkaConfigurationBuilder builder) =>
        builder.WithCustomSerializer("retailstreaming", [typeof(IRetailStreamingMessage)],
            system => new RetailStreamingSerializer(system));

    /// <summary>
    /// Starts the <c>workflow</c> shard region: remember-entities with the event-sourced store (the
    /// DData store fails here), entities restarted at a constant rate after a node start, and
    /// <see cref="WorkflowCommands.HandOff"/> as the hand-off stop message so that an entity
    /// drains and checkpoints before it moves.
    /// </summary>
    public static AkkaConfigurationBuilder AddWorkflows(
        this AkkaConfigurationBuilder builder,
        Func<IServiceProvider, WorkflowDependencies> dependencies,
        IServiceProvider services,
        string? role = null)
    {
        builder.AddRetailStreamingSerialization();
        builder.AddHocon(
            """
            akka.cluster.sharding {
              entity-recovery-strategy = "constant"
              entity-recovery-constant-rate-strategy {
                frequency = 100 ms
                number-of-entities = 5
              }
              # A workflow drains and checkpoints on hand-off; give it the time its drain timeout needs.
              handoff-timeout = 60 s
            }
            """, HoconAddMode.Prepend);
        var deps = dependencies(services);
        return builder.WithShardRegion<WorkflowRegion>(
            RegionName,
            entityId => WorkflowActor.Props(entityId, deps),
            new WorkflowMessageExtractor(),
            new ShardOptions
            {
                RememberEntities = true,
                RememberEntitiesStore = RememberEntitiesStore.Eventsourced,
                StateStoreMode = StateStoreMode.Persistence,
                HandOffStopMessage = WorkflowCommands.HandOff.Instance,
                Role = role,
            });
    }
}
