using Akka.Actor;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// <c>delivery.parallelism</c> and <c>delivery.onRefused</c> through the node's real webhook sink to
/// a real endpoint on loopback that fails on demand: per-key order, the checkpoint as a low-water
/// mark across a crash, and a refused key parked alone.
/// </summary>
public sealed class ParallelDeliveryTests(ITestOutputHelper output) : WorkflowTestKit(output), IAsyncLifetime
{
    private const string Id = "orders-lanes";
    private readonly string _secretVariable = "RS_TEST_LANES_SECRET_" + Guid.NewGuid().ToString("N");
    private ChaosEndpoint _endpoint = null!;
    private DefaultWorkflowConnectors _real = null!;

    public async Task InitializeAsync()
    {
        _endpoint = await ChaosEndpoint.StartAsync();
        Environment.SetEnvironmentVariable(_secretVariable, StandardWebhooks.GenerateSecret());
        _real = new DefaultWorkflowConnectors(Path.Combine(Directory.Path, "packages"), Path.Combine(Directory.Path, "cache"));
    }

    public async Task DisposeAsync()
    {
        Environment.SetEnvironmentVariable(_secretVariable, null);
        _real.Dispose();
        await _endpoint.DisposeAsync();
    }

    private IActorRef Node(ActorSystem? system = null) =>
        StartNode(system, Deps with { Connectors = new WebhookConnectors(Connectors, _real) });

    private string Definition(int parallelism, string onRefused = "deadletter", string timeout = "2s") =>
        Yaml(Id, maxRecords: 10).Replace("""
              url: http://127.0.0.1:9/hooks
              secretRef: env:ACME_WEBHOOK_SECRET
            """, $$"""
              url: {{_endpoint.Url}}
              secretRef: env:{{_secretVariable}}
              timeout: {{timeout}}
              parallelism: {{parallelism}}
              onRefused: {{onRefused}}
              retry: { initialBackoff: 10ms, maxBackoff: 50ms }
              circuitBreaker: { failureThreshold: 0 }
            """);

    private static string P(long n) => MemoryChangeLog.PositionOf(n).Value;

    /// <summary>
    /// Every change 1..count reached the endpoint; per key, the first deliveries are in source order;
    /// a record delivered again carries the same idempotency key.
    /// </summary>
    private static void AssertPerKeyOrderAndNothingLost(IReadOnlyList<SeenRecord> accepted, int count, Func<long, long> keyOf, IReadOnlySet<long>? except = null)
    {
        var expected = Enumerable.Range(1, count).Select(n => (long)n).Where(n => except?.Contains(n) != true).ToList();
        Assert.Equal(expected.Select(P).Order(StringComparer.Ordinal), accepted.Select(r => r.Position).Distinct().Order(StringComparer.Ordinal));
        foreach (var key in accepted.GroupBy(r => r.Key))
        {
            var firsts = key.Select(r => r.Position).Distinct().ToList();
            Assert.True(firsts.SequenceEqual(firsts.Order(StringComparer.Ordinal)), $"key {key.Key} out of order: {string.Join(",", firsts)}");
            Assert.All(key, r => Assert.Equal(key.Key, keyOf(MemoryChangeLog.SequenceOf(new SourcePosition(r.Position))).ToString()));
        }
        Assert.All(accepted.GroupBy(r => r.Position), g => Assert.Single(g.Select(r => r.Id).Distinct()));
    }

    [Fact]
    public async Task Eight_lanes_keep_each_keys_order_through_5xx_429_slow_answers_timeouts_and_dropped_connections()
    {
        const int count = 600;
        Func<long, long> keyOf = n => n % 24;
        var random = new Random(20261126);
        _endpoint.Answer = (_, number) =>
        {
            double r;
            lock (random) r = random.NextDouble();
            if (number == 7) return new ChaosAnswer(429, RetryAfterSeconds: 1);
            if (r < 0.12) return new ChaosAnswer(500);
            if (r < 0.17) return new ChaosAnswer(Drop: true);
            if (r < 0.20) return new ChaosAnswer(Delay: TimeSpan.FromSeconds(3)); // longer than the timeout
            if (r < 0.40) return new ChaosAnswer(Delay: TimeSpan.FromMilliseconds(50 + r * 250));
            return ChaosAnswer.Ok;
        };
        Connectors.Source(Id).Append(count, idOf: keyOf);
        var node = Node();
        await ApplyAsync(node, Id, Definition(parallelism: 8, timeout: "1s"));

        var status = await AwaitStatusAsync(node, Id, s => s.Checkpoint == P(count), "every change delivered", TimeSpan.FromSeconds(120));

        Assert.Equal(0, status.DeadLetters);
        Assert.Equal(count, status.DeliveredChanges);
        AssertPerKeyOrderAndNothingLost(_endpoint.Accepted, count, keyOf);
        Assert.True(_endpoint.MaxInProgress > 1, $"at most {_endpoint.MaxInProgress} request(s) were in flight at once");
        Assert.True(_endpoint.MaxInProgress <= 8, $"{_endpoint.MaxInProgress} requests in flight with 8 lanes");
        Assert.True(status.Retries > 0, "the endpoint's failures were retried");
    }

    [Fact]
    public async Task One_lane_keeps_source_order_across_keys()
    {
        const int count = 120;
        var random = new Random(7);
        _endpoint.Answer = (_, _) =>
        {
            double r;
            lock (random) r = random.NextDouble();
            return r < 0.2 ? new ChaosAnswer(503) : ChaosAnswer.Ok;
        };
        Connectors.Source(Id).Append(count, idOf: n => n % 5);
        var node = Node();
        await ApplyAsync(node, Id, Definition(parallelism: 1));

        await AwaitStatusAsync(node, Id, s => s.Checkpoint == P(count), "every change delivered", TimeSpan.FromSeconds(60));

        Assert.Equal(Enumerable.Range(1, count).Select(n => P(n)), _endpoint.Accepted.Select(r => r.Position));
        Assert.Equal(1, _endpoint.MaxInProgress);
    }

    [Fact]
    public async Task The_checkpoint_never_passes_an_undelivered_record_and_a_crash_mid_way_loses_nothing()
    {
        const int count = 400;
        Func<long, long> keyOf = n => n % 20;
        // Key 1 is slow: its lane lags far behind the others, so the low-water mark is held by it.
        _endpoint.Answer = (records, _) => records.Any(r => r.Key == "1") ? new ChaosAnswer(Delay: TimeSpan.FromMilliseconds(400)) : ChaosAnswer.Ok;
        Connectors.Source(Id).Append(count, idOf: keyOf);
        var node = Node();
        await ApplyAsync(node, Id, Definition(parallelism: 8));

        // Sample while it runs: every position up to the checkpoint (persisted, or only delivered) was accepted.
        var samples = 0;
        var lagging = 0;
        var deadline = DateTime.UtcNow + Dilated(TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            var status = await StatusAsync(node, Id);
            var accepted = _endpoint.Accepted.Select(r => r.Position).ToHashSet(StringComparer.Ordinal);
            foreach (var mark in new[] { status.Checkpoint, status.DeliveredPosition })
            {
                if (mark is null || !mark.StartsWith("mem:", StringComparison.Ordinal)) continue;
                var upTo = MemoryChangeLog.SequenceOf(new SourcePosition(mark));
                var missing = Enumerable.Range(1, (int)upTo).Where(n => !accepted.Contains(P(n))).ToList();
                Assert.True(missing.Count == 0, $"position {mark} passed undelivered changes {string.Join(",", missing.Take(10))}");
            }
            samples++;
            var maxAccepted = accepted.Count == 0 ? 0 : accepted.Max(p => MemoryChangeLog.SequenceOf(new SourcePosition(p)));
            if (status.DeliveredPosition.StartsWith("mem:", StringComparison.Ordinal)
                && MemoryChangeLog.SequenceOf(new SourcePosition(status.DeliveredPosition)) < maxAccepted) lagging++;
            // Kill the node mid-way: some checkpoint persisted, much accepted above it.
            if (status.Checkpoint is { } c && c.StartsWith("mem:", StringComparison.Ordinal) && accepted.Count > count / 3) break;
            await Task.Delay(30);
        }
        Assert.True(lagging > 0, "the lanes never ran ahead of the low-water mark: the test shows nothing");
        output.WriteLine($"{samples} samples, {lagging} with records accepted above the low-water mark");

        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        var beforeCrash = _endpoint.Accepted.Count;
        _endpoint.Answer = (_, _) => ChaosAnswer.Ok;

        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = Node(restarted);
            await AwaitAssertAsync(async () =>
            {
                var s = await node2.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(Id), Dilated(TimeSpan.FromSeconds(5)));
                Assert.Equal(P(count), s.Checkpoint);
            }, Dilated(TimeSpan.FromSeconds(60)), TimeSpan.FromMilliseconds(100));

            var accepted = _endpoint.Accepted;
            AssertPerKeyOrderAndNothingLost(accepted, count, keyOf);
            output.WriteLine($"{beforeCrash} records accepted before the crash, {accepted.Count - beforeCrash} after; {accepted.Count - count} delivered twice");
        }
        finally
        {
            await restarted.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task A_refused_key_is_parked_alone_its_records_survive_a_restart_and_a_redrive_releases_them_in_order()
    {
        const int count = 200;
        Func<long, long> keyOf = n => n % 10;
        // Change 3 (key 3) is refused for good; every later change of key 3 must wait behind it.
        var refuse = true;
        _endpoint.Answer = (records, _) => Volatile.Read(ref refuse) && records.Any(r => r.Position == P(3)) ? new ChaosAnswer(400) : ChaosAnswer.Ok;
        var log = Connectors.Source(Id);
        log.Append(count, idOf: keyOf);
        var node = Node();
        await ApplyAsync(node, Id, Definition(parallelism: 4, onRefused: "park"));

        var keyThree = Enumerable.Range(1, count).Where(n => keyOf(n) == 3).Select(n => (long)n).ToHashSet();
        var status = await AwaitStatusAsync(node, Id, s => s.Checkpoint == P(count), "every change delivered or parked", TimeSpan.FromSeconds(60));

        Assert.Equal(keyThree.Count, status.DeadLetters);
        Assert.DoesNotContain(_endpoint.Accepted, r => r.Key == "3");
        AssertPerKeyOrderAndNothingLost(_endpoint.Accepted, count, keyOf, keyThree);
        var letters = await Store.DeadLetters.ListAsync(Id, 0, 1000);
        Assert.Equal(keyThree.Select(P).Order(StringComparer.Ordinal), letters.Select(l => l.Position).Order(StringComparer.Ordinal));
        Assert.StartsWith("HTTP 400", letters.Single(l => l.Position == P(3)).Reason);
        Assert.All(letters.Where(l => l.Position != P(3)), l => Assert.StartsWith("parked:", l.Reason));

        // A new actor system: the parked key is read back from the store, so key 3's new change is parked too.
        await Sys.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        var restarted = ActorSystem.Create("workflows-restarted", SystemConfig(Directory));
        try
        {
            var node2 = Node(restarted);
            log.Append(10, idOf: n => n % 10); // changes 201..210, one per key
            await AwaitAssertAsync(async () =>
            {
                var s = await node2.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(Id), Dilated(TimeSpan.FromSeconds(5)));
                Assert.Equal(P(count + 10), s.Checkpoint);
            }, Dilated(TimeSpan.FromSeconds(60)), TimeSpan.FromMilliseconds(100));
            Assert.DoesNotContain(_endpoint.Accepted, r => r.Key == "3");
            var parkedAfterRestart = (await Store.DeadLetters.ListAsync(Id, 0, 1000)).Count;
            Assert.Equal(keyThree.Count + 1, parkedAfterRestart);

            // The endpoint is fixed: a redrive of the open letters (in source order) releases the key.
            Volatile.Write(ref refuse, false);
            var open = await Store.DeadLetters.SelectForRedriveAsync(Id, new DeadLetterFilter(), 1000);
            var reply = Assert.IsType<WorkflowReplies.Redriven>(await node2.Ask<object>(
                new WorkflowCommands.Redrive(Id, open.Select(l => l.Id).ToList(), false, "tok_test"), Dilated(TimeSpan.FromSeconds(60))));
            Assert.All(reply.Results, r => Assert.Equal(RedriveResult.Delivered, r.Outcome));
            var keyThreeDelivered = _endpoint.Accepted.Where(r => r.Key == "3").Select(r => r.Position).ToList();
            Assert.Equal(keyThree.Append(count + 3).Select(P), keyThreeDelivered);

            // Released: the key's next change flows like any other.
            log.Append(10, idOf: n => n % 10);
            await AwaitAssertAsync(() => Assert.Contains(_endpoint.Accepted, r => r.Position == P(count + 13)),
                Dilated(TimeSpan.FromSeconds(30)), TimeSpan.FromMilliseconds(100));
            Assert.Equal(keyThreeDelivered.Count + 1, _endpoint.Accepted.Count(r => r.Key == "3"));
        }
        finally
        {
            await restarted.Terminate().WaitAsync(Dilated(TimeSpan.FromSeconds(30)));
        }
    }
}
