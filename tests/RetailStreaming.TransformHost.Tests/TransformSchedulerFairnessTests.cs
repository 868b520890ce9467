using System.Collections.Concurrent;
using RetailStreaming.Transforms;
using BlockingTransform = RetailStreaming.TransformHost.Tests.TransformSchedulerTests.BlockingTransform;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>
/// Fairness of the transform slots: a light runner beside a heavy one is served by the light lane
/// while the heavy change runs (it never waits for it), a freed slot goes to the least used waiter,
/// a runner that uses a lot (or whose changes are long) loses the lane and gets it back once its use
/// decays, the lane itself closes past its share of a core, and Initialize takes a general slot.
/// The scheduler-level tests run on a manual clock: the times they assert are the clock's, not the machine's.
/// </summary>
public sealed class TransformSchedulerFairnessTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly ManualClock _clock = new();
    private readonly List<TransformRunner> _runners = [];

    public void Dispose()
    {
        foreach (var runner in _runners) runner.Dispose();
    }

    /// <summary>Runs <paramref name="changes"/> changes of <paramref name="each"/> on the clock on one lease, and gives it back.</summary>
    private TransformScheduler.Lease Run(TransformScheduler scheduler, TransformScheduler.Account account, int changes, TimeSpan each)
    {
        var lease = scheduler.Acquire(account);
        for (var i = 0; i < changes; i++)
        {
            _clock.Advance(each);
            lease.ChangeFinished();
        }
        lease.Release();
        return lease;
    }

    /// <summary>Acquires on another thread, so that a test that would block forever fails instead.</summary>
    /// <summary>
    /// Holds the scheduler's only slot while the runners of <paramref name="askers"/> ask for it in that
    /// order (each once the one before waits), then frees it: the order in which they were served.
    /// </summary>
    private static string[] ServedOrder(TransformScheduler scheduler, params TransformScheduler.Account[] askers)
    {
        var held = scheduler.Acquire(scheduler.Open("holder"));
        var order = new ConcurrentQueue<string>();
        var threads = new List<Thread>();
        for (var i = 0; i < askers.Length; i++)
        {
            var account = askers[i];
            var thread = new Thread(() =>
            {
                var lease = scheduler.Acquire(account);
                order.Enqueue(account.Name);
                lease.Release();
            });
            threads.Add(thread);
            thread.Start();
            var waiting = i + 1;
            Assert.True(SpinWait.SpinUntil(() => scheduler.Waiting == waiting, Wait));
        }
        held.Release();
        foreach (var thread in threads) Assert.True(thread.Join(Wait));
        return order.ToArray();
    }

    private static TransformScheduler.Lease AcquireWithin(TransformScheduler scheduler, TransformScheduler.Account account, TimeSpan within, string what)
    {
        var acquire = Task.Factory.StartNew(() => scheduler.Acquire(account), TaskCreationOptions.LongRunning);
        Assert.True(acquire.Wait(within), $"{what}: no slot within {within.TotalSeconds:0} s");
        return acquire.Result;
    }

    [Fact]
    public void A_light_runner_beside_a_heavy_one_never_waits_for_the_heavy_change_in_progress()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, time: _clock);
        var heavy = scheduler.Open("heavy");
        var light = scheduler.Open("light");
        // The heavy runner's first change (20 ms, like the benchmark's spinner) says what it is.
        Run(scheduler, heavy, 1, TimeSpan.FromMilliseconds(20));
        Assert.False(scheduler.IsLight(heavy));

        for (var round = 0; round < 50; round++)
        {
            // The heavy runner holds the only general slot for a 20 ms change that nothing can preempt.
            var held = scheduler.Acquire(heavy);
            Assert.False(held.OnLane);
            // The light runner's change (50 us) is served at once, beside it, on the lane.
            var lease = AcquireWithin(scheduler, light, Wait, $"round {round}: the light runner beside the heavy change");
            Assert.True(lease.OnLane, $"round {round}: the light runner did not get the lane");
            Assert.Equal(TimeSpan.Zero, lease.Waited);
            _clock.Advance(TimeSpan.FromMicroseconds(50));
            lease.ChangeFinished();
            lease.Release();
            _clock.Advance(TimeSpan.FromMilliseconds(20));
            held.ChangeFinished();
            held.Release();
        }

        Assert.True(scheduler.IsLight(light));
        Assert.InRange(scheduler.ShareOf(light), 0, 0.01);
        Assert.InRange(scheduler.ShareOf(heavy), 0.4, 1);
        Assert.Equal(0, scheduler.Busy);
    }

    [Fact]
    public void A_freed_slot_goes_to_the_least_used_waiter_not_the_first_in_line()
    {
        // No light lane: the order among waiters alone decides.
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, lightShare: 0, time: _clock);
        var heavy = scheduler.Open("heavy");
        var light = scheduler.Open("light");
        Run(scheduler, heavy, 25, TimeSpan.FromMilliseconds(20)); // half a second of slot time
        Run(scheduler, light, 1, TimeSpan.FromMicroseconds(50));

        var order = ServedOrder(scheduler, heavy, light);

        Assert.Equal(["light", "heavy"], order);
        Assert.Equal(0, scheduler.Busy);
    }

    [Fact]
    public void A_waiter_used_a_lot_lately_still_gets_its_turn_once_its_use_has_decayed_below_the_others()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, lightShare: 0, time: _clock);
        var a = scheduler.Open("a");
        var b = scheduler.Open("b");
        Run(scheduler, a, 50, TimeSpan.FromMilliseconds(20)); // 1 s of use, then b's use ends later
        _clock.Advance(TimeSpan.FromSeconds(3));
        Run(scheduler, b, 10, TimeSpan.FromMilliseconds(20)); // 0.2 s, recent

        // a used more in all, but longer ago: its recent use is below b's, so it goes first.
        Assert.True(scheduler.ShareOf(a) < scheduler.ShareOf(b), $"a {scheduler.ShareOf(a):0.000}, b {scheduler.ShareOf(b):0.000}");
        var order = ServedOrder(scheduler, b, a);
        Assert.Equal(["a", "b"], order);
    }

    [Fact]
    public void A_runner_whose_many_quick_changes_use_a_lot_loses_the_lane_and_gets_it_back_once_idle()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, time: _clock);
        var busy = scheduler.Open("busy");
        Assert.True(scheduler.IsLight(busy)); // unknown: light until its changes say otherwise

        // Quick changes (100 us), but without a pause: after 300 ms its recent use is about 19 % of a slot.
        for (var i = 0; i < 150; i++) Run(scheduler, busy, 20, TimeSpan.FromMicroseconds(100));
        Assert.InRange(scheduler.ShareOf(busy), 0.15, 0.25);
        Assert.False(scheduler.IsLight(busy));
        var lease = scheduler.Acquire(busy);
        Assert.False(lease.OnLane);
        lease.Release();

        // Idle for 2 s: its recent use falls to a quarter, under the light share.
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(scheduler.IsLight(busy));
        Assert.True(Run(scheduler, busy, 1, TimeSpan.FromMicroseconds(100)).OnLane);
    }

    [Fact]
    public void A_runner_whose_changes_take_longer_than_a_slice_is_not_light_however_little_it_runs()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, time: _clock);
        var slow = scheduler.Open("slow");
        Assert.True(Run(scheduler, slow, 1, TimeSpan.FromMilliseconds(5)).OnLane); // unknown at first
        _clock.Advance(TimeSpan.FromSeconds(60));
        Assert.InRange(scheduler.ShareOf(slow), 0, 0.001);
        Assert.False(scheduler.IsLight(slow));
        Assert.False(Run(scheduler, slow, 1, TimeSpan.FromMilliseconds(5)).OnLane);

        // Its changes become quick (a warm cache): the moving average comes down within a few dozen changes.
        for (var i = 0; i < 40; i++) Run(scheduler, slow, 1, TimeSpan.FromMicroseconds(100));
        Assert.True(scheduler.IsLight(slow));
    }

    [Fact]
    public void The_lane_is_handed_back_after_each_slice_even_with_nobody_waiting_and_a_runner_turned_heavy_then_leaves_it()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, time: _clock);
        var runner = scheduler.Open("runner");
        var lease = scheduler.Acquire(runner);
        Assert.True(lease.OnLane); // unknown: light
        _clock.Advance(TimeSpan.FromMicroseconds(100));
        Assert.False(lease.ChangeFinished());
        // Its next change takes 25 ms: past the slice, the lane goes back though nobody waits.
        _clock.Advance(TimeSpan.FromMilliseconds(25));
        Assert.Equal(0, scheduler.Waiting);
        Assert.True(lease.ChangeFinished());
        lease.Release();
        Assert.False(scheduler.LightLaneBusy);

        // One long change among quick ones does not make it heavy (a change counts for at most four
        // slices); its next long ones do, within three, and it then asks for a general slot.
        var onLane = 0;
        while (Run(scheduler, runner, 1, TimeSpan.FromMilliseconds(25)).OnLane) Assert.InRange(++onLane, 1, 3);
        Assert.False(scheduler.IsLight(runner));
        var general = scheduler.Acquire(runner);
        Assert.False(general.OnLane);
        Assert.True(AcquireWithin(scheduler, scheduler.Open("light"), Wait, "a light runner beside it").OnLane);
    }

    [Fact]
    public void The_light_lane_closes_once_it_has_served_half_a_core_and_the_light_runners_then_share_the_general_slots()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, time: _clock);
        // Twenty light runners, each well under the light share, together keep the lane busy.
        var runners = Enumerable.Range(0, 20).Select(i => scheduler.Open($"light {i}")).ToList();
        var served = TimeSpan.Zero;
        TimeSpan? closedAfter = null;
        for (var round = 0; round < 200 && closedAfter is null; round++)
        {
            foreach (var runner in runners)
            {
                Assert.True(scheduler.IsLight(runner), $"round {round}: {runner} is no longer light");
                var lease = Run(scheduler, runner, 10, TimeSpan.FromMicroseconds(100));
                if (!lease.OnLane)
                {
                    closedAfter = served;
                    break;
                }
                served += TimeSpan.FromMilliseconds(1);
            }
        }

        // Continuously busy, a lane's recent use reaches half a core after one half-life (1 s).
        Assert.NotNull(closedAfter);
        Assert.InRange(closedAfter.Value.TotalSeconds, 0.95, 1.05);
        Assert.InRange(runners.Max(scheduler.ShareOf), 0, TransformScheduler.DefaultLightShare);
        // Open again once its use has decayed.
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(Run(scheduler, runners[0], 1, TimeSpan.FromMicroseconds(100)).OnLane);
    }

    [Fact]
    public async Task A_light_workflow_beside_a_heavy_one_runs_while_the_heavy_change_holds_the_only_slot()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice);
        var log = new ConcurrentQueue<string>();
        using var release = new ManualResetEventSlim(false);
        var heavyTransform = new GatedTransform(TimeSpan.FromMilliseconds(10));
        var heavy = Runner(heavyTransform, scheduler, "wf-heavy");
        var light = Runner(new BlockingTransform("light", TimeSpan.Zero, log), scheduler, "wf-light");
        // Two 10 ms changes: the heavy runner's changes take longer than a slice.
        Assert.All(await heavy.RunBatchAsync([Changes.Insert("t", ("id", 1)), Changes.Insert("t", ("id", 2))]), r => Assert.IsType<TransformResult.Ok>(r));

        // Its next change holds the only general slot until the test lets it go.
        heavyTransform.Gate = release;
        var heavyBatch = heavy.RunBatchAsync([Changes.Insert("t", ("id", 3))]);
        Assert.True(heavyTransform.Entered.Wait(Wait), "the heavy change never started");

        for (var i = 0; i < 20; i++)
        {
            var result = await light.RunAsync(Changes.Insert("t", ("id", 100 + i))).WaitAsync(Wait);
            Assert.IsType<TransformResult.Ok>(result);
        }
        Assert.False(heavyBatch.IsCompleted);
        Assert.Equal(20, log.Count);

        release.Set();
        Assert.IsType<TransformResult.Ok>(Assert.Single(await heavyBatch.WaitAsync(Wait)));
        Assert.Equal(0, scheduler.Busy);
    }

    [Fact]
    public async Task Initialize_takes_a_general_slot_and_the_wait_for_it_does_not_count_against_its_budget()
    {
        // No light lane: the holder's change holds the only slot there is.
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, lightShare: 0);
        using var release = new ManualResetEventSlim(false);
        var holderTransform = new GatedTransform(TimeSpan.Zero) { Gate = release };
        var holder = Runner(holderTransform, scheduler, "wf-holder");
        var holding = holder.RunBatchAsync([Changes.Insert("t", ("id", 1))]);
        Assert.True(holderTransform.Entered.Wait(Wait), "the holder's change never started");

        var initialized = new InitializingTransform(TimeSpan.Zero);
        var late = new TransformRunner(initialized, Contexts.For("wf-late"), TimeSpan.FromSeconds(5), initializeBudget: TimeSpan.FromMilliseconds(200), scheduler: scheduler);
        _runners.Add(late);
        var initialize = Task.Factory.StartNew(late.Initialize, TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => scheduler.Waiting == 1, Wait), "Initialize did not wait for a slot");
        Assert.False(initialized.Called.IsSet);
        // Longer than its budget, waiting: the budget begins with the slot.
        Thread.Sleep(400);
        Assert.False(initialize.IsCompleted);

        release.Set();
        await initialize.WaitAsync(Wait);
        Assert.True(late.IsInitialized);
        Assert.IsType<TransformResult.Ok>(Assert.Single(await holding.WaitAsync(Wait)));
        Assert.Equal(0, scheduler.Busy);
    }

    [Fact]
    public async Task A_heavy_Initialize_holds_a_slot_while_it_runs_and_an_overrun_gives_it_back()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice);
        using var never = new ManualResetEventSlim(false);
        var other = Runner(new BlockingTransform("other", TimeSpan.Zero, new()), scheduler, "wf-other");
        // Make the other runner heavy, so that the lane does not serve it.
        var heavyTransform = new GatedTransform(TimeSpan.FromMilliseconds(10));
        var heavyOther = Runner(heavyTransform, scheduler, "wf-heavy-other");
        await heavyOther.RunBatchAsync([Changes.Insert("t", ("id", 1)), Changes.Insert("t", ("id", 2))]);

        var hanging = new InitializingTransform(Timeout.InfiniteTimeSpan, never);
        var runner = new TransformRunner(hanging, Contexts.For("wf-hanging-init"), TimeSpan.FromSeconds(5), initializeBudget: TimeSpan.FromSeconds(2), scheduler: scheduler);
        _runners.Add(runner);
        var initialize = Task.Factory.StartNew(runner.Initialize, TaskCreationOptions.LongRunning);
        Assert.True(hanging.Called.Wait(Wait), "Initialize never started");
        // Initialize never takes the lane: it holds the one general slot, and a heavy change waits for it.
        Assert.Equal(1, scheduler.Busy);
        Assert.False(scheduler.LightLaneBusy);
        var waiting = heavyOther.RunBatchAsync([Changes.Insert("t", ("id", 3))]);
        Assert.True(SpinWait.SpinUntil(() => scheduler.Waiting == 1 || waiting.IsCompleted, Wait));
        Assert.False(waiting.IsCompleted);
        // A light runner still runs beside it, on the lane.
        Assert.IsType<TransformResult.Ok>(await other.RunAsync(Changes.Insert("t", ("id", 4))).WaitAsync(Wait));

        var overran = await Assert.ThrowsAsync<TransformInitializationException>(() => initialize.WaitAsync(Wait));
        Assert.Equal(TransformFailureKind.Overran, overran.Kind);
        Assert.True(runner.IsQuarantined);
        // The abandoned Initialize gave its slot back: the heavy change ran.
        Assert.IsType<TransformResult.Ok>(Assert.Single(await waiting.WaitAsync(Wait)));
        Assert.Equal(0, scheduler.Busy);
        never.Set();
    }

    private TransformRunner Runner(ITransform transform, TransformScheduler scheduler, string workflowId)
    {
        var runner = new TransformRunner(transform, Contexts.For(workflowId), TimeSpan.FromSeconds(30), scheduler: scheduler);
        _runners.Add(runner);
        runner.Initialize();
        return runner;
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _now = 1_000_000_000;

        public override long TimestampFrequency => 1_000_000_000;

        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _now, (long)(by.TotalSeconds * TimestampFrequency));
    }

    /// <summary>Holds its thread for <paramref name="hold"/> per change, or, once a gate is set, until the gate opens.</summary>
    private sealed class GatedTransform(TimeSpan hold) : ITransform
    {
        public ManualResetEventSlim? Gate { get; set; }

        public ManualResetEventSlim Entered { get; } = new(false);

        public void Initialize(TransformContext context)
        {
        }

        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
        {
            if (Gate is { } gate)
            {
                Entered.Set();
                gate.Wait();
            }
            else if (hold > TimeSpan.Zero) Thread.Sleep(hold);
            return [new OutputRecord("gated", change.Position.Value, new System.Text.Json.Nodes.JsonObject())];
        }
    }

    /// <summary>An Initialize that takes <paramref name="hold"/>, or waits for <paramref name="until"/>.</summary>
    private sealed class InitializingTransform(TimeSpan hold, ManualResetEventSlim? until = null) : ITransform
    {
        public ManualResetEventSlim Called { get; } = new(false);

        public void Initialize(TransformContext context)
        {
            Called.Set();
            if (until is not null) until.Wait();
            else if (hold > TimeSpan.Zero) Thread.Sleep(hold);
        }

        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) => [];
    }
}
