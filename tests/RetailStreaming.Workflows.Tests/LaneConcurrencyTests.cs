using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// The delivery lanes run their requests on the thread pool, not on the delivery actor: the CPU
/// work of one request (serializing, signing, reading the answer) does not wait for another lane's,
/// and the low-water mark still only moves over records every lane has done.
/// </summary>
public sealed class LaneConcurrencyTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private const string Id = "orders-overlap";

    private static string P(long n) => MemoryChangeLog.PositionOf(n).Value;

    [Fact]
    public async Task Two_lanes_are_inside_the_sink_at_once_even_when_the_sink_works_before_its_first_await()
    {
        const int count = 200;
        // 40 keys: both lanes get records (the lane is a hash of type and key).
        Func<long, long> keyOf = n => n % 40;
        // Long enough for the second lane to start on a busy machine; short enough that lanes run one
        // after the other still finish within the wait below, and fail on the assertion that says why.
        var sink = new SynchronousSink(Dilated(TimeSpan.FromSeconds(1)));
        Connectors.Source(Id).Append(count, idOf: keyOf);
        var node = StartNode(deps: Deps with { Connectors = new OverlapConnectors(Connectors, sink) });
        await ApplyAsync(node, Id, Yaml(Id, maxRecords: 20).Replace("  batching:", "  parallelism: 2\n  batching:"));

        var status = await AwaitStatusAsync(node, Id, s => s.Checkpoint == P(count), "every change delivered", TimeSpan.FromSeconds(60));

        Assert.True(sink.MaxInside >= 2,
            "the second lane's request started only after the first one's synchronous work: the lanes ran on the actor's thread, one after the other");
        Assert.Equal(count, status.DeliveredChanges);
        var accepted = sink.Accepted;
        Assert.Equal(Enumerable.Range(1, count).Select(n => P(n)), accepted.Select(r => r.Position.Value).Distinct().Order(StringComparer.Ordinal));
        foreach (var key in accepted.GroupBy(r => r.Record.Key))
        {
            var positions = key.Select(r => r.Position.Value).ToList();
            Assert.True(positions.SequenceEqual(positions.Order(StringComparer.Ordinal)), $"key {key.Key} out of order: {string.Join(",", positions)}");
        }
    }

    /// <summary>
    /// Works synchronously (no await) until a second call is inside it at the same time, or a timeout:
    /// a sink that prepares its request before it first awaits, as the webhook sink does.
    /// </summary>
    private sealed class SynchronousSink(TimeSpan wait) : IDeliverySink
    {
        private readonly List<DeliveryRecord> _accepted = [];
        private int _inside;
        private int _maxInside;

        public int MaxInside => Volatile.Read(ref _maxInside);

        public IReadOnlyList<DeliveryRecord> Accepted
        {
            get { lock (_accepted) return _accepted.ToList(); }
        }

        public Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
        {
            var inside = Interlocked.Increment(ref _inside);
            int max;
            while ((max = Volatile.Read(ref _maxInside)) < inside && Interlocked.CompareExchange(ref _maxInside, inside, max) != max)
            {
            }
            // Blocks the calling thread: were it the delivery actor's, no other lane could start meanwhile.
            SpinWait.SpinUntil(() => Volatile.Read(ref _maxInside) >= 2 || cancellationToken.IsCancellationRequested, wait);
            lock (_accepted) _accepted.AddRange(batch);
            Interlocked.Decrement(ref _inside);
            return Task.FromResult(DeliveryResult.AllAccepted());
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class OverlapConnectors(FakeConnectors fakes, IDeliverySink sink) : IWorkflowConnectors
    {
        public IChangeSource CreateSource(WorkflowDefinition definition) => fakes.CreateSource(definition);

        public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer) => sink;

        public IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger) => fakes.CreateTransform(definition, logger);
    }
}
