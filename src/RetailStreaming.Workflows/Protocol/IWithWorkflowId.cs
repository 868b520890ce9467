namespace RetailStreaming.Workflows.Protocol;

/// <summary>A message routed to one workflow; the sharding message extractor reads the id.</summary>
public interface IWithWorkflowId
{
    /// <summary>The workflow (and shard entity) the message is for.</summary>
    string WorkflowId { get; }
}

/// <summary>
/// Marks every message that is persisted or crosses the network. All of them are bound to
/// <see cref="Serialization.RetailStreamingSerializer"/>; a test checks that Akka picks it.
/// </summary>
public interface IRetailStreamingMessage;
