using Akka.Actor;
using Akka.TestKit;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// transform.autoRollback: a new version whose transform rejects too many changes right after its
/// apply is rolled back to the previous definition by the workflow itself, recorded in its history
/// and raised; one that stays under the threshold keeps running.
/// </summary>
public sealed class AutoRollbackTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private const string Rule = "  autoRollback: { errorRate: 0.5, window: 10m, minRecords: 20 }\n";

    private static string WithAutoRollback(string yaml) => yaml.Replace("  timeBudget: 2s\n", "  timeBudget: 2s\n" + Rule);

    private async Task<WorkflowReplies.History> HistoryAsync(IActorRef node, string id) =>
        await node.Ask<WorkflowReplies.History>(new WorkflowCommands.GetHistory(id), Dilated(TimeSpan.FromSeconds(5)));

    [Fact]
    public async Task A_version_that_rejects_most_changes_is_rolled_back_by_itself_recorded_and_raised()
    {
        const string id = "orders-autorollback";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        Connectors.FixedVersions["1.0.0"] = true; // 1.0.0 prices every ticket; 2.0.0 throws on the marked ones
        var alerts = CreateTestProbe();
        Sys.EventStream.Subscribe(alerts.Ref, typeof(TransformAutoRolledBack));
        var raised = CreateTestProbe();
        Sys.EventStream.Subscribe(raised.Ref, typeof(Health.WorkflowAlertRaised));
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 10, maxRecords: 5));
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 10, "v1 delivered the first changes");

        await ApplyAsync(node, id, WithAutoRollback(Yaml(id, transformVersion: "2.0.0", batchSize: 10, maxRecords: 5)), version: 2);
        // Three of every four changes after the apply make 2.0.0 throw.
        log.Append(60, poison: n => n % 4 != 0);

        var alert = alerts.ExpectMsg<TransformAutoRolledBack>(Dilated(TimeSpan.FromSeconds(30)));
        // Raised as an alert too (the node forwards it to the log and the alert webhook).
        var raisedAlert = raised.ExpectMsg<Health.WorkflowAlertRaised>(Dilated(TimeSpan.FromSeconds(5)));
        Assert.Equal((id, "auto-rollback"), (raisedAlert.WorkflowId, raisedAlert.Rule));
        Assert.Contains("rolled back to", raisedAlert.Detail);
        var status = await AwaitStatusAsync(node, id, s => s.DefinitionVersion == 3 && s.State == WorkflowRunState.Running && s.DeliveredChanges == 70,
            "rolled back to 1.0.0, applied as v3, and everything delivered or dead-lettered");
        Assert.Equal("1.0.0", status.TransformVersion);
        var history = await HistoryAsync(node, id);
        Assert.Equal([1, 2, 3], history.Versions.Select(v => v.Version));
        Assert.Equal(history.Versions[0].Yaml, history.Versions[2].Yaml); // as a manual rollback does
        var rollback = Assert.Single(history.AutoRollbacks!);
        Assert.Equal((2, 1), (rollback.FromVersion, rollback.ToVersion));
        Assert.True(rollback.Transformed >= 20, $"rolled back after {rollback.Transformed} changes, before minRecords");
        Assert.True((double)rollback.Failed / rollback.Transformed >= 0.5, rollback.Reason);
        Assert.Contains("Acme.Transforms 2.0.0", rollback.Reason);
        Assert.Equal(rollback, alert.Rollback);
        Assert.Equal(("Acme.Transforms 2.0.0", "Acme.Transforms 1.0.0", "acme"), (alert.FromTransform, alert.ToTransform, alert.ClientId));

        // Nothing lost: what 2.0.0 rejected is dead-lettered, the rest delivered, and 1.0.0 takes the marked changes after the switch.
        Assert.Equal(status.DeadLetters, await Store.DeadLetters.CountAsync(id));
        Assert.True(status.DeadLetters >= rollback.Failed);
        Assert.Equal(70, endpoint.Accepted.Select(r => r.Position).Distinct().Count() + status.DeadLetters);
        log.Append(8, poison: _ => true);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 78, "1.0.0 delivers marked changes");
        Assert.Equal(status.DeadLetters, (await StatusAsync(node, id)).DeadLetters);
        alerts.ExpectNoMsg(Dilated(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_version_under_the_threshold_keeps_running()
    {
        const string id = "orders-healthy";
        var log = Connectors.Source(id);
        Connectors.FixedVersions["1.0.0"] = true;
        var alerts = CreateTestProbe();
        Sys.EventStream.Subscribe(alerts.Ref, typeof(TransformAutoRolledBack));
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 10, maxRecords: 5));
        await ApplyAsync(node, id, WithAutoRollback(Yaml(id, transformVersion: "2.0.0", batchSize: 10, maxRecords: 5)), version: 2);

        // One change in eight makes 2.0.0 throw: 12.5%, under the 50% of the rule.
        log.Append(80, poison: n => n % 8 == 0);

        var status = await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 80, "every change delivered or dead-lettered");
        Assert.Equal(10, status.DeadLetters);
        Assert.Equal(("2.0.0", 2), (status.TransformVersion, status.DefinitionVersion));
        var history = await HistoryAsync(node, id);
        Assert.Equal([1, 2], history.Versions.Select(v => v.Version));
        Assert.Empty(history.AutoRollbacks!);
        alerts.ExpectNoMsg(Dilated(TimeSpan.FromMilliseconds(300)));
    }
}
