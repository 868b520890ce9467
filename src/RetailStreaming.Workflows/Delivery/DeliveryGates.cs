using System.Collections.Concurrent;
using Akka.Actor;

namespace RetailStreaming.Workflows.Delivery;

/// <summary>
/// One gate per workflow (per actor system) that the stream's delivery holds for each batch and a
/// redrive holds for each dead letter, from reading whether it is superseded to recording what
/// became of it. So a redrive never sends a row's old record while the stream is delivering a later
/// change of that row: it waits, then sees the letter superseded.
/// </summary>
internal sealed class DeliveryGates : IExtension
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    /// <summary>The gates of <paramref name="system"/>.</summary>
    public static DeliveryGates Get(ActorSystem system) => system.WithExtension<DeliveryGates, DeliveryGatesProvider>();

    /// <summary>The gate of one workflow.</summary>
    public SemaphoreSlim For(string workflowId) => _gates.GetOrAdd(workflowId, _ => new SemaphoreSlim(1, 1));

    private sealed class DeliveryGatesProvider : ExtensionIdProvider<DeliveryGates>
    {
        public override DeliveryGates CreateExtension(ExtendedActorSystem system) => new();
    }
}

/// <summary>Holding a gate for the length of a <c>using</c>.</summary>
internal static class GateExtensions
{
    public static async Task<IDisposable> EnterAsync(this SemaphoreSlim gate, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Held(gate);
    }

    private sealed class Held(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release();
        }
    }
}
