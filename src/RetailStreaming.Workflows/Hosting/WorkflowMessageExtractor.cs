using Akka.Cluster.Sharding;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Hosting;

/// <summary>Routes every <see cref="IWithWorkflowId"/> message to its workflow entity.</summary>
public sealed class WorkflowMessageExtractor(int maxShards = WorkflowMessageExtractor.DefaultMaxShards)
    : HashCodeMessageExtractor(maxShards)
{
    /// <summary>Shards of the <c>workflow</c> region: about ten times the largest expected node count.</summary>
    public const int DefaultMaxShards = 100;

    /// <inheritdoc />
    public override string? EntityId(object message) => message switch
    {
        IWithWorkflowId m => m.WorkflowId,
        _ => null,
    };
}
