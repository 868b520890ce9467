using System.Text.Json;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Cluster;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// <c>GET /api/cluster/events</c>: membership, reachability and leader changes as server-sent
/// events, from the current state on (each member as it is now first), until the caller goes, the
/// node stops, or its actor system ends. What <c>rsctl cluster tail</c> prints.
/// </summary>
internal static class ClusterEventStream
{
    // Events are small and rare; a caller that cannot keep up loses the oldest, never the node's memory.
    private const int Buffer = 256;

    public static async Task StreamAsync(HttpContext http, ActorSystem system, IHostApplicationLifetime lifetime)
    {
        var channel = Channel.CreateBounded<object>(new BoundedChannelOptions(Buffer) { FullMode = BoundedChannelFullMode.DropOldest });
        var forwarder = system.ActorOf(Props.Create(() => new Forwarder(channel.Writer)));
        // A stream open when the node stops must not hold its shutdown.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.Body.FlushAsync(ended.Token);
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(ended.Token))
            {
                await http.Response.WriteAsync($"data: {JsonSerializer.Serialize(e, JsonSerializerOptions.Web)}\n\n", ended.Token);
                await http.Response.Body.FlushAsync(ended.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            forwarder.Tell(PoisonPill.Instance);
        }
    }

    /// <summary>Subscribes to the cluster's events and passes them on; completes the stream when it stops (the actor system ending too).</summary>
    private sealed class Forwarder : ReceiveActor
    {
        private readonly ChannelWriter<object> _writer;

        public Forwarder(ChannelWriter<object> writer)
        {
            _writer = writer;
            Receive<ClusterEvent.IMemberEvent>(e => Write(e.GetType().Name, e.Member.Address, e.Member.Status.ToString(), e.Member.Roles));
            Receive<ClusterEvent.UnreachableMember>(e => Write("UnreachableMember", e.Member.Address, e.Member.Status.ToString(), e.Member.Roles));
            Receive<ClusterEvent.ReachableMember>(e => Write("ReachableMember", e.Member.Address, e.Member.Status.ToString(), e.Member.Roles));
            Receive<ClusterEvent.LeaderChanged>(e => Write("LeaderChanged", e.Leader, null, null));
            ReceiveAny(_ => { });
        }

        protected override void PreStart() =>
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.LeaderChanged));

        protected override void PostStop()
        {
            Cluster.Get(Context.System).Unsubscribe(Self);
            _writer.TryComplete();
        }

        private void Write(string type, Address? address, string? status, IEnumerable<string>? roles) =>
            _writer.TryWrite(new
            {
                at = DateTimeOffset.UtcNow,
                @event = type,
                address = address?.ToString(),
                status,
                roles = roles?.Order(StringComparer.Ordinal).ToArray(),
            });
    }
}
