using System.Diagnostics;

namespace RetailStreaming.TransformHost;

/// <summary>
/// The node's transform slots: at most <see cref="Slots"/> transform calls run at once, whatever the
/// number of workflows, so that transforms never take every core from capture, delivery and the
/// actor system; and the slots go round the workflows that want one, first come first served, so that
/// one workflow's CPU-heavy transform gets its share and no more.
/// </summary>
/// <remarks>
/// <para>Each <see cref="TransformRunner"/> keeps its own thread (a call that overruns its budget can
/// only be abandoned, never aborted, so a shared pool thread could be lost for good); the runner takes
/// a slot before it runs a change and keeps it for the following changes of the batch until it has held
/// it for <see cref="Slice"/> and another runner waits: then it hands the slot on and queues again. A
/// workflow alone keeps its slot for its whole batch; beside others a cheap change waits at most about
/// one slice (or one change, when a change takes longer) per runner ahead of it.</para>
/// <para>Why not thread priorities: <c>Thread.Priority</c> does nothing for the default Linux policy
/// (measured on .NET 10: a Lowest and a Normal thread pinned to one core ran 0.97:1).</para>
/// <para>The time spent waiting for a slot does not count against a change's time budget. A call that
/// overruns its budget gives its slot back when it is abandoned: its thread then runs outside the bound
/// until it returns, if ever (the workflow is quarantined).</para>
/// </remarks>
public sealed class TransformScheduler
{
    private readonly object _gate = new();
    private readonly Queue<Lease> _waiting = new();
    private readonly long _sliceTicks;
    private int _free;
    private int _waitingCount;

    /// <summary>Creates a scheduler.</summary>
    /// <param name="slots">The most transform calls running at once on the node (at least 1).</param>
    /// <param name="slice">How long a runner keeps a slot for consecutive changes while another one waits (positive).</param>
    public TransformScheduler(int slots, TimeSpan slice)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        if (slice <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(slice), slice, "The slice must be positive.");
        Slots = slots;
        Slice = slice;
        _free = slots;
        _sliceTicks = (long)(slice.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>The default slot count: one core fewer than the machine has, at least one.</summary>
    public static int DefaultSlots => Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>The default slice: 2 ms.</summary>
    public static TimeSpan DefaultSlice => TimeSpan.FromMilliseconds(2);

    /// <summary>The most transform calls running at once.</summary>
    public int Slots { get; }

    /// <summary>How long a runner keeps a slot for consecutive changes while another one waits.</summary>
    public TimeSpan Slice { get; }

    /// <summary>Slots held now (for tests and the benchmark).</summary>
    public int Busy
    {
        get
        {
            lock (_gate) return Slots - _free;
        }
    }

    /// <summary>Runners waiting for a slot now.</summary>
    public int Waiting => Volatile.Read(ref _waitingCount);

    /// <summary>Takes a slot, blocking the calling (runner) thread until one is free; slots are handed out in the order they were asked for.</summary>
    public Lease Acquire()
    {
        Lease lease;
        lock (_gate)
        {
            lease = new Lease(this);
            if (_free > 0 && _waiting.Count == 0)
            {
                _free--;
                lease.Granted(Stopwatch.GetTimestamp());
                return lease;
            }
            lease.WillWait();
            _waiting.Enqueue(lease);
            _waitingCount = _waiting.Count;
        }
        lease.WaitGranted();
        return lease;
    }

    private void Return()
    {
        lock (_gate)
        {
            if (_waiting.TryDequeue(out var next))
            {
                // Handed over directly: a thread arriving meanwhile cannot jump the queue.
                _waitingCount = _waiting.Count;
                next.Granted(Stopwatch.GetTimestamp());
                return;
            }
            _free++;
        }
    }

    /// <summary>A slot held by one runner; released once, by the runner or by whoever abandons its call.</summary>
    public sealed class Lease
    {
        private readonly TransformScheduler _scheduler;
        // Only a lease that has to wait gets an event (it is never disposed: Set may still be returning when Wait does).
        private ManualResetEventSlim? _granted;
        private long _grantedAt;
        private int _released;

        internal Lease(TransformScheduler scheduler) => _scheduler = scheduler;

        /// <summary>True when the lease has been held for a slice and another runner waits for a slot.</summary>
        public bool ShouldYield =>
            _scheduler.Waiting > 0 && Stopwatch.GetTimestamp() - Volatile.Read(ref _grantedAt) >= _scheduler._sliceTicks;

        /// <summary>Gives the slot back; later calls do nothing.</summary>
        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 1) return;
            _scheduler.Return();
        }

        internal void WillWait() => _granted = new ManualResetEventSlim(false);

        internal void Granted(long at)
        {
            Volatile.Write(ref _grantedAt, at);
            _granted?.Set();
        }

        internal void WaitGranted() => _granted!.Wait();
    }
}
