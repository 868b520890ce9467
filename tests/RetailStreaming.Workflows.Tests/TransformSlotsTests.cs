using System.Text.Json.Nodes;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Samples.Spinner;
using RetailStreaming.TransformHost;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// Workflows share the node's transform slots: beside CPU-spinning transforms that keep every slot
/// busy, a normal workflow still gets its turn and delivers. Asserted as progress (everything of the
/// normal workflow delivered while the spinners' first reads are still being transformed), not as a
/// latency.
/// </summary>
public sealed class TransformSlotsTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    [Fact]
    public async Task A_normal_workflow_delivers_everything_while_spinning_transforms_hold_the_node_s_only_slot()
    {
        var slots = new TransformScheduler(1, TransformScheduler.DefaultSlice);
        var connectors = new SlotConnectors(Connectors, slots);
        var node = StartNode(deps: Deps with { Connectors = connectors });

        // Two spinners (as many as the machine's cores here), each with one read of 300 changes of
        // 25 ms each: a read takes 7.5 s of its slot, and their first records come out only after it.
        string[] spinners = ["spinner-a", "spinner-b"];
        foreach (var spinner in spinners)
        {
            Connectors.Source(spinner).Append(300);
            await ApplyAsync(node, spinner, Yaml(spinner, batchSize: 300, maxRecords: 50));
        }
        await AwaitAssertAsync(() => Assert.True(slots.Busy == 1 && slots.Waiting >= 1, "the spinners should hold the slot and wait for it"),
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10));

        const string normal = "orders";
        Connectors.Source(normal).Append(30);
        await ApplyAsync(node, normal, Yaml(normal, batchSize: 10, maxRecords: 10));

        await AwaitStatusAsync(node, normal, s => s.Checkpoint == MemoryChangeLog.PositionOf(30).Value, "the normal workflow to deliver its 30 changes");
        Assert.Equal(Enumerable.Range(1, 30).Select(n => MemoryChangeLog.PositionOf(n)), Connectors.Endpoint(normal).Accepted.Select(r => r.Position));
        foreach (var spinner in spinners)
        {
            var status = await StatusAsync(node, spinner);
            Assert.True(status.DeliveredChanges < 300,
                $"{spinner} had delivered its whole first read before the normal workflow finished: the slot was not shared ({status})");
        }
    }

    /// <summary>The fake source and endpoint; the spinner sample or an echo transform on the shared slots.</summary>
    private sealed class SlotConnectors(FakeConnectors fakes, TransformScheduler slots) : IWorkflowConnectors
    {
        public IChangeSource CreateSource(WorkflowDefinition definition) => fakes.CreateSource(definition);

        public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer) => fakes.CreateSink(definition, observer);

        public IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger)
        {
            var spinning = definition.Id.StartsWith("spinner", StringComparison.Ordinal);
            ITransform transform = spinning ? new SpinnerTransform() : new EchoTransform();
            var settings = spinning ? new Dictionary<string, string> { ["spinMilliseconds"] = "25" } : new Dictionary<string, string>();
            var runner = new TransformRunner(transform, new TransformContext(definition.Id, definition.Client, definition.Transform.Version, settings, logger),
                definition.Transform.TimeBudget, scheduler: slots);
            runner.Initialize();
            return new ScheduledTransform(runner, definition.Transform.Version);
        }
    }

    private sealed class EchoTransform : ITransform
    {
        public void Initialize(TransformContext context)
        {
        }

        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) =>
            [new OutputRecord("order", change.Position.Value, new JsonObject { ["table"] = change.Table })];
    }

    private sealed class ScheduledTransform(TransformRunner runner, string version) : IWorkflowTransform
    {
        public string Version => version;

        public async Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken) =>
            (await RunBatchAsync([change], cancellationToken))[0];

        public async Task<IReadOnlyList<TransformOutcome>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken) =>
            (await runner.RunBatchAsync(changes)).Select(r => r switch
            {
                TransformResult.Ok ok => TransformOutcome.Ok(ok.Outputs),
                TransformResult.Failed f => TransformOutcome.Failed($"{f.Kind}: {f.Reason}", f.Kind is TransformFailureKind.Overran or TransformFailureKind.Quarantined),
                _ => throw new InvalidOperationException(r.GetType().Name),
            }).ToList();

        public void Dispose() => runner.Dispose();
    }
}
