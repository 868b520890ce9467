using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>
/// The node's transform slots: a heavy transform hands its slot on between changes, waiting for a
/// slot never counts against a change's budget, an overrun gives its slot back, and slots go out
/// in the order they were asked for. Progress and order are asserted, never durations.
/// </summary>
public sealed class TransformSchedulerTests : IDisposable
{
    private readonly List<TransformRunner> _runners = [];

    public void Dispose()
    {
        foreach (var runner in _runners) runner.Dispose();
    }

    private TransformRunner Runner(ITransform transform, TransformScheduler scheduler, TimeSpan budget, string workflowId)
    {
        var runner = new TransformRunner(transform, Contexts.For(workflowId), budget, scheduler: scheduler);
        _runners.Add(runner);
        runner.Initialize();
        return runner;
    }

    [Fact]
    public async Task A_heavy_batch_hands_its_slot_on_between_changes_and_the_wait_does_not_count_against_the_budget()
    {
        // No light lane: the order is the one general slot's.
        var scheduler = new TransformScheduler(1, TimeSpan.FromMilliseconds(1), lightShare: 0);
        var log = new ConcurrentQueue<string>();
        var heavy = new BlockingTransform("heavy", TimeSpan.FromMilliseconds(2000), log);
        var heavyRunner = Runner(heavy, scheduler, TimeSpan.FromSeconds(30), "wf-heavy");
        // Budget shorter than one heavy change: had the wait for the slot counted, this would overrun.
        var lightRunner = Runner(new BlockingTransform("light", TimeSpan.Zero, log), scheduler, TimeSpan.FromMilliseconds(1000), "wf-light");

        var heavyBatch = heavyRunner.RunBatchAsync([Changes.Insert("t", ("id", 1)), Changes.Insert("t", ("id", 2)), Changes.Insert("t", ("id", 3))]);
        Assert.True(heavy.FirstStarted.Wait(TimeSpan.FromSeconds(30)), "the heavy transform never started");
        Assert.Equal(1, scheduler.Busy);

        var light = await lightRunner.RunAsync(Changes.Insert("t", ("id", 9)));

        Assert.IsType<TransformResult.Ok>(light);
        var results = await heavyBatch;
        Assert.All(results, r => Assert.IsType<TransformResult.Ok>(r));
        // The light change ran between heavy ones, not after the batch (the order the slot went round in,
        // not when the test's continuations ran).
        var order = log.ToList();
        Assert.Equal(4, order.Count);
        Assert.InRange(order.IndexOf("light"), 1, 2);
        Assert.Equal(0, scheduler.Busy);
    }

    [Fact]
    public async Task An_overrun_gives_its_slot_back_so_the_other_workflows_go_on()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice);
        var log = new ConcurrentQueue<string>();
        using var release = new ManualResetEventSlim(false);
        var hanging = Runner(new BlockingTransform("hanging", Timeout.InfiniteTimeSpan, log, release), scheduler, TimeSpan.FromMilliseconds(200), "wf-hanging");
        var other = Runner(new BlockingTransform("other", TimeSpan.Zero, log), scheduler, TimeSpan.FromSeconds(30), "wf-other");

        var overran = await hanging.RunBatchAsync([Changes.Insert("t", ("id", 1)), Changes.Insert("t", ("id", 2))]);

        Assert.Equal(TransformFailureKind.Overran, Assert.IsType<TransformResult.Failed>(Assert.Single(overran)).Kind);
        Assert.True(hanging.IsQuarantined);
        Assert.Equal(0, scheduler.Busy);
        Assert.IsType<TransformResult.Ok>(await other.RunAsync(Changes.Insert("t", ("id", 3))));
        release.Set();
    }

    [Fact]
    public async Task A_scheduled_runner_still_detects_an_overrun_through_every_entry_point()
    {
        var scheduler = new TransformScheduler(2, TransformScheduler.DefaultSlice);
        using var release = new ManualResetEventSlim(false);
        var sync = Runner(new BlockingTransform("sync", Timeout.InfiniteTimeSpan, new(), release), scheduler, TimeSpan.FromMilliseconds(200), "wf-sync");
        var async = Runner(new BlockingTransform("async", Timeout.InfiniteTimeSpan, new(), release), scheduler, TimeSpan.FromMilliseconds(200), "wf-async");

        Assert.Equal(TransformFailureKind.Overran, Assert.IsType<TransformResult.Failed>(sync.Run(Changes.Insert("t", ("id", 1)))).Kind);
        Assert.Equal(TransformFailureKind.Overran, Assert.IsType<TransformResult.Failed>(await async.RunAsync(Changes.Insert("t", ("id", 2)))).Kind);
        Assert.Equal(TransformFailureKind.Quarantined, Assert.IsType<TransformResult.Failed>(await async.RunAsync(Changes.Insert("t", ("id", 3)))).Kind);
        Assert.Equal(0, scheduler.Busy);
        release.Set();
    }

    [Fact]
    public void Slots_go_out_in_the_order_they_were_asked_for_among_runners_of_equal_use()
    {
        var scheduler = new TransformScheduler(1, TransformScheduler.DefaultSlice, lightShare: 0);
        var held = scheduler.Acquire(scheduler.Open("holder"));
        var order = new ConcurrentQueue<int>();
        var threads = new List<Thread>();
        for (var i = 0; i < 4; i++)
        {
            var n = i;
            var thread = new Thread(() =>
            {
                var lease = scheduler.Acquire(scheduler.Open($"runner {n}"));
                order.Enqueue(n);
                lease.Release();
            });
            threads.Add(thread);
            thread.Start();
            // The next one asks only once this one waits.
            SpinWait.SpinUntil(() => scheduler.Waiting == n + 1, TimeSpan.FromSeconds(30));
            Assert.Equal(n + 1, scheduler.Waiting);
        }

        held.Release();
        held.Release(); // a second release gives nothing back
        foreach (var thread in threads) Assert.True(thread.Join(TimeSpan.FromSeconds(30)));

        Assert.Equal([0, 1, 2, 3], order);
        Assert.Equal(0, scheduler.Busy);
        Assert.Equal(0, scheduler.Waiting);
    }

    [Theory]
    [InlineData(0, 2, 0.1)]
    [InlineData(1, 0, 0.1)]
    [InlineData(1, -1, 0.1)]
    [InlineData(1, 2, -0.1)]
    [InlineData(1, 2, 1.0)]
    [InlineData(1, 2, double.NaN)]
    public void Bad_settings_are_refused(int slots, int sliceMs, double lightShare)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TransformScheduler(slots, TimeSpan.FromMilliseconds(sliceMs), lightShare));
    }

    /// <summary>Holds its thread (and so its slot) for a while per change, as a CPU-heavy transform would; logs each change it finishes.</summary>
    internal sealed class BlockingTransform(string name, TimeSpan hold, ConcurrentQueue<string> log, ManualResetEventSlim? until = null) : ITransform
    {
        public ManualResetEventSlim FirstStarted { get; } = new(false);

        public void Initialize(TransformContext context)
        {
        }

        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
        {
            FirstStarted.Set();
            if (until is not null) until.Wait();
            else if (hold > TimeSpan.Zero) Thread.Sleep(hold);
            log.Enqueue(name);
            return [new OutputRecord(name, change.Position.Value, new JsonObject())];
        }
    }
}
