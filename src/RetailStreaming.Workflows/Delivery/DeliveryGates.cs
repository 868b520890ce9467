using System.Collections.Concurrent;
using Akka.Actor;

namespace RetailStreaming.Workflows.Delivery;

/// <summary>
/// One gate per workflow (per actor system) that the stream's delivery holds, shared, for each
/// batch in flight (its lanes deliver several at once) and a redrive holds, alone, for each dead
/// letter, from reading whether it is superseded to recording what became of it. So a redrive never
/// sends a row's old record while the stream is delivering a later change of that row: it waits,
/// then sees the letter superseded.
/// </summary>
internal sealed class DeliveryGates : IExtension
{
    private readonly ConcurrentDictionary<string, DeliveryGate> _gates = new(StringComparer.Ordinal);

    /// <summary>The gates of <paramref name="system"/>.</summary>
    public static DeliveryGates Get(ActorSystem system) => system.WithExtension<DeliveryGates, DeliveryGatesProvider>();

    /// <summary>The gate of one workflow.</summary>
    public DeliveryGate For(string workflowId) => _gates.GetOrAdd(workflowId, _ => new DeliveryGate());

    private sealed class DeliveryGatesProvider : ExtensionIdProvider<DeliveryGates>
    {
        public override DeliveryGates CreateExtension(ExtendedActorSystem system) => new();
    }
}

/// <summary>
/// A readers-writer gate: the stream's batches enter shared, a redrive's letter enters alone.
/// A waiting redrive lets no new batch in (so a busy stream cannot starve it); when it leaves,
/// the waiting batches go first. <see cref="ExclusiveEntries"/> counts the exclusive entries, so
/// the stream can tell that a redrive ran since it last looked (and reload what it changed).
/// </summary>
internal sealed class DeliveryGate
{
    private readonly object _lock = new();
    private readonly LinkedList<TaskCompletionSource<IDisposable>> _sharedWaiting = new();
    private readonly LinkedList<TaskCompletionSource<IDisposable>> _exclusiveWaiting = new();
    private int _shared;
    private bool _exclusive;
    private long _exclusiveEntries;

    /// <summary>How many times the gate was entered alone (by a redrive) so far.</summary>
    public long ExclusiveEntries
    {
        get { lock (_lock) return _exclusiveEntries; }
    }

    /// <summary>Enters beside the other shared holders (a batch of the stream).</summary>
    public Task<IDisposable> EnterSharedAsync(CancellationToken cancellationToken) => Enter(exclusive: false, cancellationToken);

    /// <summary>Enters alone (a redrive's letter).</summary>
    public Task<IDisposable> EnterAsync(CancellationToken cancellationToken) => Enter(exclusive: true, cancellationToken);

    private Task<IDisposable> Enter(bool exclusive, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        TaskCompletionSource<IDisposable> waiter;
        LinkedListNode<TaskCompletionSource<IDisposable>> node;
        lock (_lock)
        {
            if (exclusive ? !_exclusive && _shared == 0 : !_exclusive && _exclusiveWaiting.Count == 0)
                return Task.FromResult(Grant(exclusive));
            waiter = new TaskCompletionSource<IDisposable>(TaskCreationOptions.RunContinuationsAsynchronously);
            node = (exclusive ? _exclusiveWaiting : _sharedWaiting).AddLast(waiter);
        }
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() =>
            {
                lock (_lock)
                {
                    if (node.List is null) return; // granted already
                    node.List.Remove(node);
                    WakeLocked(batchesFirst: false); // a cancelled redrive must not keep batches waiting
                }
                waiter.TrySetCanceled(cancellationToken);
            });
            waiter.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return waiter.Task;
    }

    // Under the lock.
    private IDisposable Grant(bool exclusive)
    {
        if (exclusive)
        {
            _exclusive = true;
            _exclusiveEntries++;
        }
        else
        {
            _shared++;
        }
        return new Held(this, exclusive);
    }

    private void Leave(bool exclusive)
    {
        lock (_lock)
        {
            if (exclusive) _exclusive = false;
            else _shared--;
            WakeLocked(batchesFirst: exclusive);
        }
    }

    // Under the lock. Waiters are completed asynchronously (RunContinuationsAsynchronously).
    // After a redrive's letter the waiting batches go first, then the next letter waits for them:
    // neither side starves the other.
    private void WakeLocked(bool batchesFirst)
    {
        if (_exclusive) return;
        if (batchesFirst || _exclusiveWaiting.Count == 0)
        {
            while (_sharedWaiting.First is { } next)
            {
                _sharedWaiting.RemoveFirst();
                next.Value.TrySetResult(Grant(exclusive: false));
            }
        }
        if (_shared == 0 && _exclusiveWaiting.First is { } first)
        {
            _exclusiveWaiting.RemoveFirst();
            first.Value.TrySetResult(Grant(exclusive: true));
        }
    }

    private sealed class Held(DeliveryGate gate, bool exclusive) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Leave(exclusive);
        }
    }
}
