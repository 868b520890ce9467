using RetailStreaming.Workflows.Protocol;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>The health a running workflow's actor reports: a held endpoint stalls it (red while the run state says running), a release brings it back.</summary>
public sealed class HealthWorkflowTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    [Fact]
    public async Task A_stalled_workflow_turns_its_health_red_and_back()
    {
        const string id = "orders-stall";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        log.Append(200);
        endpoint.Hold();

        var node = StartNode(deps: Deps with { Settings = FastSettings with { HealthStallAfter = TimeSpan.FromSeconds(1) } });
        await ApplyAsync(node, id, Yaml(id, batchSize: 50, maxRecords: 10, maxWait: "20ms"));

        var stalled = await AwaitStatusAsync(node, id, s => s.Health?.State == WorkflowHealthState.Stalled, "stalled");
        Assert.Equal(WorkflowRunState.Running, stalled.State);
        Assert.Contains("pending", stalled.Health!.Reason);
        Assert.Equal(0, stalled.DeliveredChanges);

        endpoint.Release();
        var healthy = await AwaitStatusAsync(node, id, s => s.Health?.State == WorkflowHealthState.Healthy && s.DeliveredChanges == 200, "healthy again");
        Assert.True(healthy.Health!.Since > stalled.Health.Since);
    }
}
