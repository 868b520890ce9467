using Akka.Hosting;
using RetailStreaming.Workflows.Hosting;

namespace RetailStreaming.Workflows.Observation;

/// <summary>The Akka.Hosting wiring of the node's observation actor and record trails.</summary>
public static class ObservationHostingExtensions
{
    /// <summary>
    /// Starts <see cref="ObservationActor"/> (samples every <paramref name="sampleInterval"/>) and sizes
    /// the record trails (<paramref name="trailRecords"/> changes per workflow). Call after AddWorkflows.
    /// </summary>
    public static AkkaConfigurationBuilder AddObservations(this AkkaConfigurationBuilder builder, TimeSpan sampleInterval, int trailRecords) =>
        builder.WithActors((system, registry) =>
        {
            RecordTrails.Get(system).Capacity = trailRecords;
            var region = registry.Get<WorkflowRegion>();
            system.ActorOf(ObservationActor.Props(region, sampleInterval), ObservationActor.Name);
        });
}
