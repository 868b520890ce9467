using System.Text.Json.Nodes;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// A change the transform rejects and a record the endpoint refuses for good are dead-lettered with
/// their input and reason; the workflow goes on, and nothing else is lost or repeated.
/// </summary>
public sealed class DeadLetterTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private const string Id = "orders-poison";
    private const int Total = 60;
    private const long Poisoned = 17;
    private const long Refused = 42;

    private async Task<WorkflowStatus> RunWithOnePoisonAndOneRefusalAsync()
    {
        var log = Connectors.Source(Id);
        var endpoint = Connectors.Endpoint(Id);
        endpoint.Refuse = r => r.Position == MemoryChangeLog.PositionOf(Refused)
            ? "422 Unprocessable Entity: total must not be 63"
            : null;
        log.Append(Total, poison: n => n == Poisoned);

        var node = StartNode();
        await ApplyAsync(node, Id, Yaml(Id, maxRecords: 8));
        return await AwaitStatusAsync(node, Id,
            s => s.Checkpoint == MemoryChangeLog.PositionOf(Total).Value,
            "the checkpoint past every change, dead letters included");
    }

    [Fact]
    public async Task A_poison_change_and_a_refused_record_are_dead_lettered_and_the_rest_delivered_once_in_order()
    {
        var status = await RunWithOnePoisonAndOneRefusalAsync();

        Assert.Equal(2, status.DeadLetters);
        Assert.Equal(Total, status.DeliveredChanges);
        Assert.Equal(0, status.Restarts);
        Assert.Equal(WorkflowRunState.Running, status.State);

        var expected = Enumerable.Range(1, Total).Select(n => (long)n).Where(n => n is not Poisoned and not Refused);
        Assert.Equal(expected.Select(MemoryChangeLog.PositionOf), Connectors.Endpoint(Id).Accepted.Select(r => r.Position));

        var letters = await Store.DeadLetters.ListAsync(Id);
        Assert.Equal(2, letters.Count);
        Assert.Equal(2, await Store.DeadLetters.CountAsync(Id));

        var rejected = letters.Single(l => l.Stage == "transform");
        Assert.Equal(MemoryChangeLog.PositionOf(Poisoned).Value, rejected.Position);
        Assert.Equal("acme", rejected.ClientId);
        Assert.Equal("1.0.0", rejected.TransformVersion);
        Assert.Contains("cannot be priced", rejected.Reason);
        Assert.Null(rejected.OutputIndex);
        var rejectedInput = ChangeEventJson.Deserialize(rejected.InputJson);
        Assert.Equal(MemoryChangeLog.PositionOf(Poisoned), rejectedInput.Position);
        Assert.Equal(Poisoned, rejectedInput.Key.GetInt64("id"));
        Assert.True(rejectedInput.Row.HasValue(MemoryChangeLog.PoisonColumn));

        var refused = letters.Single(l => l.Stage == "delivery");
        Assert.Equal(MemoryChangeLog.PositionOf(Refused).Value, refused.Position);
        Assert.Equal(0, refused.OutputIndex);
        Assert.Equal("1.0.0", refused.TransformVersion);
        Assert.Contains("422", refused.Reason);
        var refusedInput = ChangeEventJson.Deserialize(refused.InputJson);
        Assert.Equal(MemoryChangeLog.PositionOf(Refused), refusedInput.Position);
        Assert.NotNull(refused.OutputJson);
        var output = JsonNode.Parse(refused.OutputJson!)!;
        Assert.Equal(global::RetailStreaming.Connectors.IdempotencyKey.For(Id, MemoryChangeLog.PositionOf(Refused), 0), (string?)output["id"]);
        Assert.Equal(MemoryChangeLog.PositionOf(Refused).Value, (string?)output["data"]?["position"]);
    }

    [Fact]
    public async Task DeliveredRecords_counts_every_record_the_endpoint_accepted()
    {
        var status = await RunWithOnePoisonAndOneRefusalAsync();

        // One record per change: the poisoned change made none, the refused one is a dead letter.
        Assert.Equal(Total - 2, Connectors.Endpoint(Id).AcceptedCount);
        Assert.Equal(Total - 2, status.DeliveredRecords);
    }
}
