using Akka.Actor;
using Akka.Cluster.Sharding;

namespace RetailStreaming.Workflows.Hosting;

/// <summary>
/// Stands in for a shard region where no cluster is wanted (unit tests, tools): routes each
/// message with the same <see cref="IMessageExtractor"/> to a child per entity id, creating it
/// on first use.
/// </summary>
public sealed class GenericChildPerEntityParent : ReceiveActor
{
    /// <summary>Props for the parent.</summary>
    public static Props Props(IMessageExtractor extractor, Func<string, Props> propsFactory) =>
        Akka.Actor.Props.Create(() => new GenericChildPerEntityParent(extractor, propsFactory));

    /// <summary>Creates the parent.</summary>
    public GenericChildPerEntityParent(IMessageExtractor extractor, Func<string, Props> propsFactory)
    {
        // As a shard does: an entity that passivates gets its stop message.
        Receive<Passivate>(p => Sender.Tell(p.StopMessage));
        ReceiveAny(message =>
        {
            var id = extractor.EntityId(message);
            if (id is null)
            {
                Unhandled(message);
                return;
            }
            var child = Context.Child(Uri.EscapeDataString(id));
            if (child.IsNobody())
                child = Context.ActorOf(propsFactory(id), Uri.EscapeDataString(id));
            child.Forward(extractor.EntityMessage(message));
        });
    }
}
