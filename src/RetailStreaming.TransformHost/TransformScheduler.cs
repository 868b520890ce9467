namespace RetailStreaming.TransformHost;

/// <summary>
/// The node's transform slots: at most <see cref="Slots"/> transform calls run at once, whatever the
/// number of workflows, so that transforms never take every core from capture, delivery and the
/// actor system; the slots go first to the workflow that used them least lately, so that a CPU-heavy
/// transform gets its share and no more; and a light lane keeps a light workflow's latency beside a
/// heavy one close to what it is alone.
/// </summary>
/// <remarks>
/// <para>Each <see cref="TransformRunner"/> keeps its own thread (a call that overruns its budget can
/// only be abandoned, never aborted, so a shared pool thread could be lost for good) and its own
/// <see cref="Account"/>; the runner takes a slot before it runs a change and keeps it for the following
/// changes of the batch until it has held it for <see cref="Slice"/> and another runner waits: then it
/// hands the slot on and queues again. A workflow alone keeps its slot for its whole batch.</para>
/// <para><b>Least used first.</b> Each account counts the slot time its runner held, decayed with a
/// half-life of <see cref="UsageHalfLife"/> (its "recent use"). A freed slot goes to the waiting runner
/// with the least recent use (among equals, the one that asked first), not to the first in line: a
/// workflow that ran little lately goes ahead of one that ran a lot, and a waiting runner's use decays
/// while the holders' grows, so every waiting runner gets its turn (the slots converge to equal shares
/// among the runners that want them).</para>
/// <para><b>The light lane.</b> A slice cannot preempt a change that is running: beside a transform
/// whose changes take 20 ms each, a runner that goes first still waits for the change in progress. So
/// one more slot, the light lane, serves only <i>light</i> runners: those whose recent use is under
/// <see cref="LightShare"/> of one slot and whose changes take less than a slice on average (a moving
/// average over their last changes, so an unknown runner is light until its first changes say
/// otherwise; a change counts for at most four slices, so that one preempted by a busy machine does not
/// make its runner heavy). A light runner takes the lane before a general slot; it hands the lane back
/// after each slice, waiters or not, and asks again like any runner (so a runner that has turned heavy
/// on the lane leaves it after its change in progress).
/// The lane's own recent use is kept under <see cref="LightLaneMaxShare"/> of a core (it is closed
/// while above), so with the lane the transforms take at most <see cref="Slots"/> + 0.5 cores. A
/// heavy runner never gets the lane; a light one may still get a general slot (it is least used).
/// Initialize never takes the lane (its length is unknown).</para>
/// <para>Why not thread priorities: <c>Thread.Priority</c> does nothing for the default Linux policy
/// (measured on .NET 10: a Lowest and a Normal thread pinned to one core ran 0.97:1).</para>
/// <para>The time spent waiting for a slot does not count against a change's time budget. A call that
/// overruns its budget gives its slot back when it is abandoned: its thread then runs outside the bound
/// until it returns, if ever (the workflow is quarantined).</para>
/// </remarks>
public sealed class TransformScheduler
{
    /// <summary>The half-life of an account's recent use: slot time held a second ago counts half.</summary>
    public static readonly TimeSpan UsageHalfLife = TimeSpan.FromSeconds(1);

    /// <summary>The most of one core the light lane serves, on average over its recent use.</summary>
    public const double LightLaneMaxShare = 0.5;

    /// <summary>The weight of a change's time in an account's moving average of change times.</summary>
    private const double ChangeAverageWeight = 1.0 / 8;

    /// <summary>
    /// A change's time counts for at most this many slices in the average: a quick change that the
    /// machine preempted once (tens of milliseconds on a loaded host) must not make its runner heavy,
    /// while a runner whose changes are all long is heavy from its first one.
    /// </summary>
    private const int ChangeSampleMaxSlices = 4;

    private readonly object _gate = new();
    // In order of arrival; the least used is picked (a scan: waiters are at most the runners on the node).
    private readonly List<Lease> _waiting = [];
    private readonly TimeProvider _time;
    private readonly long _sliceTicks;
    // Decay rate of recent use, per timestamp tick; a slot held without end reaches a use of 1 / _decay.
    private readonly double _decay;
    private readonly Account _lane;
    private int _free;
    private bool _laneBusy;
    private int _waitingCount;

    /// <summary>Creates a scheduler.</summary>
    /// <param name="slots">The most transform calls running at once on the node outside the light lane (at least 1).</param>
    /// <param name="slice">How long a runner keeps a slot for consecutive changes while another one waits (positive).</param>
    /// <param name="lightShare">The recent use, as a share of one slot, under which a runner is light (0: no light lane; under 1).</param>
    /// <param name="time">The clock (tests pass their own); the system's by default.</param>
    public TransformScheduler(int slots, TimeSpan slice, double lightShare = DefaultLightShare, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        if (slice <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(slice), slice, "The slice must be positive.");
        if (!(lightShare >= 0 && lightShare < 1))
            throw new ArgumentOutOfRangeException(nameof(lightShare), lightShare, "The light share must be at least 0 and under 1.");
        Slots = slots;
        Slice = slice;
        LightShare = lightShare;
        _time = time ?? TimeProvider.System;
        _free = slots;
        _sliceTicks = (long)(slice.TotalSeconds * _time.TimestampFrequency);
        _decay = Math.Log(2) / (UsageHalfLife.TotalSeconds * _time.TimestampFrequency);
        _lane = new Account("light lane");
    }

    /// <summary>The default slot count: one core fewer than the machine has, at least one.</summary>
    public static int DefaultSlots => Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>The default slice: 2 ms.</summary>
    public static TimeSpan DefaultSlice => TimeSpan.FromMilliseconds(2);

    /// <summary>The default light share: a runner that used under 10 % of a slot lately is light.</summary>
    public const double DefaultLightShare = 0.1;

    /// <summary>The most transform calls running at once outside the light lane.</summary>
    public int Slots { get; }

    /// <summary>How long a runner keeps a slot for consecutive changes while another one waits.</summary>
    public TimeSpan Slice { get; }

    /// <summary>The recent use (share of one slot) under which a runner is light; 0 when there is no light lane.</summary>
    public double LightShare { get; }

    /// <summary>Slots held now, the light lane included (for tests and the benchmark).</summary>
    public int Busy
    {
        get
        {
            lock (_gate) return Slots - _free + (_laneBusy ? 1 : 0);
        }
    }

    /// <summary>True while a runner holds the light lane.</summary>
    public bool LightLaneBusy
    {
        get
        {
            lock (_gate) return _laneBusy;
        }
    }

    /// <summary>Runners waiting for a slot now.</summary>
    public int Waiting => Volatile.Read(ref _waitingCount);

    /// <summary>A new account: one per runner, kept for its lifetime (its recent use decides its turn).</summary>
    public Account Open(string name) => new(name);

    /// <summary>An account's recent use now, as a share of one slot (0 to 1).</summary>
    public double ShareOf(Account account)
    {
        ArgumentNullException.ThrowIfNull(account);
        lock (_gate) return Share(account, _time.GetTimestamp());
    }

    /// <summary>True when the account would be served by the light lane now (when the lane is free and open).</summary>
    public bool IsLight(Account account)
    {
        ArgumentNullException.ThrowIfNull(account);
        lock (_gate) return Light(account, _time.GetTimestamp());
    }

    /// <summary>
    /// Takes a slot for <paramref name="account"/>'s runner, blocking the calling (runner) thread until one
    /// is given: the light lane when the runner is light and the lane free, else a general slot; when
    /// none is free, the next one freed that it may take, least used first.
    /// </summary>
    /// <param name="account">The runner's account.</param>
    /// <param name="mayUseLightLane">False for a call of unknown length (Initialize): general slots only.</param>
    public Lease Acquire(Account account, bool mayUseLightLane = true)
    {
        ArgumentNullException.ThrowIfNull(account);
        Lease lease;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            lease = new Lease(this, account, mayUseLightLane);
            if (mayUseLightLane && !_laneBusy && Light(account, now) && LaneOpen(now))
            {
                _laneBusy = true;
                lease.Granted(now, onLane: true);
                return lease;
            }
            // A free general slot means nobody waits for one (waiters are served as slots free up).
            if (_free > 0)
            {
                _free--;
                lease.Granted(now, onLane: false);
                return lease;
            }
            lease.WillWait(now);
            _waiting.Add(lease);
            _waitingCount = _waiting.Count;
        }
        lease.WaitGranted();
        return lease;
    }

    private void Return(Lease lease)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var held = Math.Max(0, now - lease.GrantedAt);
            Charge(lease.Account, now, held);
            if (lease.OnLane)
            {
                Charge(_lane, now, held);
                _laneBusy = false;
            }
            // Handed over directly, so a thread arriving meanwhile cannot jump the queue. The lane,
            // when free and open, goes to a light waiter first (one that came while the lane was busy
            // or closed, or that has become light while waiting: its use decays), so that a freed
            // general slot goes to a heavy one.
            if (!_laneBusy && LaneOpen(now) && Pick(now, lightOnly: true) is { } light)
            {
                _laneBusy = true;
                light.Granted(now, onLane: true);
            }
            if (lease.OnLane) return;
            if (Pick(now, lightOnly: false) is { } next)
                next.Granted(now, onLane: false);
            else
                _free++;
        }
    }

    /// <summary>Removes and returns the least used waiter (the earliest among equals) that may take the slot freed; under the gate.</summary>
    private Lease? Pick(long now, bool lightOnly)
    {
        var best = -1;
        var bestUse = double.MaxValue;
        for (var i = 0; i < _waiting.Count; i++)
        {
            var waiter = _waiting[i];
            if (lightOnly && !(waiter.MayUseLightLane && Light(waiter.Account, now))) continue;
            var use = Use(waiter.Account, now);
            if (use < bestUse)
            {
                best = i;
                bestUse = use;
            }
        }
        if (best < 0) return null;
        var picked = _waiting[best];
        _waiting.RemoveAt(best);
        _waitingCount = _waiting.Count;
        return picked;
    }

    private bool Light(Account account, long now) =>
        LightShare > 0 && Share(account, now) < LightShare && account.AverageChangeTicks < _sliceTicks;

    private bool LaneOpen(long now) => Share(_lane, now) < LightLaneMaxShare;

    private double Share(Account account, long now) => Math.Min(1, Use(account, now) * _decay);

    private double Use(Account account, long now) => account.Use * Math.Exp(-_decay * Math.Max(0, now - account.UseAt));

    /// <summary>Adds <paramref name="held"/> ticks ending now to the account's decayed use; under the gate.</summary>
    private void Charge(Account account, long now, long held)
    {
        // Exact for a slot held continuously over [now - held, now]: the integral of the decayed weight.
        var added = held == 0 ? 0 : (1 - Math.Exp(-_decay * held)) / _decay;
        account.Use = Use(account, now) + added;
        account.UseAt = now;
    }

    /// <summary>One runner's standing with the scheduler: its recent slot use and its changes' average time.</summary>
    public sealed class Account
    {
        internal Account(string name) => Name = name;

        /// <summary>Whose account it is (the workflow), for diagnostics.</summary>
        public string Name { get; }

        // Decayed slot ticks as of UseAt; written under the scheduler's gate.
        internal double Use;
        internal long UseAt;
        // Moving average of change times in ticks (0: none seen); written by the runner's thread while
        // it holds a lease, read under the gate only while it does not (a waiting runner holds none).
        internal long AverageChangeTicks;
        internal bool SeenChange;

        internal void RecordChange(long ticks)
        {
            if (!SeenChange)
            {
                SeenChange = true;
                Volatile.Write(ref AverageChangeTicks, ticks);
                return;
            }
            Volatile.Write(ref AverageChangeTicks, (long)(AverageChangeTicks + (ticks - AverageChangeTicks) * ChangeAverageWeight));
        }

        /// <inheritdoc />
        public override string ToString() => Name;
    }

    /// <summary>A slot held by one runner; released once, by the runner or by whoever abandons its call.</summary>
    public sealed class Lease
    {
        private readonly TransformScheduler _scheduler;
        // Only a lease that has to wait gets an event (it is never disposed: Set may still be returning when Wait does).
        private ManualResetEventSlim? _granted;
        private long _grantedAt;
        private long _changeStartedAt;
        private int _released;

        internal Lease(TransformScheduler scheduler, Account account, bool mayUseLightLane)
        {
            _scheduler = scheduler;
            Account = account;
            MayUseLightLane = mayUseLightLane;
        }

        /// <summary>The account the slot is charged to.</summary>
        public Account Account { get; }

        /// <summary>True when the slot is the light lane.</summary>
        public bool OnLane { get; private set; }

        internal bool MayUseLightLane { get; }

        internal long GrantedAt => Volatile.Read(ref _grantedAt);

        /// <summary>How long the runner waited for the slot (zero when one was free).</summary>
        public TimeSpan Waited { get; private set; }

        /// <summary>
        /// Called by the runner after each change it ran on this lease: the change's time goes into the
        /// account's average (what makes a runner light or not). Returns true when the runner should hand
        /// the slot on now: a general slot held for a slice while another runner waits; the light lane
        /// after a slice.
        /// </summary>
        public bool ChangeFinished()
        {
            var now = _scheduler._time.GetTimestamp();
            var started = _changeStartedAt;
            _changeStartedAt = now;
            // An abandoned call returning late says nothing useful: its runner is quarantined.
            if (Volatile.Read(ref _released) == 0) Account.RecordChange(Math.Min(now - started, ChangeSampleMaxSlices * _scheduler._sliceTicks));
            var sliceUsed = now - GrantedAt >= _scheduler._sliceTicks;
            // The lane is handed back after each slice, waiters or not: whether its runner is still
            // light (a change that took a slice or more may have made it heavy) is checked when it asks again.
            return sliceUsed && (OnLane || _scheduler.Waiting > 0);
        }

        /// <summary>Gives the slot back; later calls do nothing.</summary>
        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 1) return;
            _scheduler.Return(this);
        }

        internal void WillWait(long at)
        {
            _granted = new ManualResetEventSlim(false);
            _grantedAt = at; // until granted: when it began to wait
        }

        internal void Granted(long at, bool onLane)
        {
            OnLane = onLane;
            if (_granted is not null)
                Waited = TimeSpan.FromSeconds((at - _grantedAt) / (double)_scheduler._time.TimestampFrequency);
            _changeStartedAt = at;
            Volatile.Write(ref _grantedAt, at);
            _granted?.Set();
        }

        internal void WaitGranted() => _granted!.Wait();
    }
}
