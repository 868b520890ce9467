using System.Text.RegularExpressions;
using Akka.Actor;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>Definitions are validated before they are applied, versioned in the journal, and switched without losing a change.</summary>
public sealed class DefinitionTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private async Task<object> SendApplyAsync(IActorRef node, string id, string yaml, string fileName) =>
        await node.Ask<object>(new WorkflowCommands.ApplyDefinition(id, yaml, fileName), Dilated(TimeSpan.FromSeconds(15)));

    private long JournalEvents(string id) =>
        Directory.JournalScalar($"SELECT COUNT(*) FROM journal WHERE persistence_id = 'workflow-{id}'");

    /// <summary>Stops the entity (hand-off) and waits until it is gone, so that the next message recovers it from the journal.</summary>
    private async Task StopEntityAsync(IActorRef node, string id)
    {
        var entity = await Sys.ActorSelection(node.Path / Uri.EscapeDataString(id)).ResolveOne(Dilated(TimeSpan.FromSeconds(5)));
        Watch(entity);
        node.Tell(new WorkflowCommands.HandOff(id));
        await ExpectTerminatedAsync(entity, TimeSpan.FromSeconds(20));
        Unwatch(entity);
    }

    [Fact]
    public async Task An_invalid_definition_is_rejected_with_file_line_and_field_and_nothing_is_recorded()
    {
        const string id = "orders-invalid";
        var node = StartNode();
        var yaml = Yaml(id).Replace("kind: sqlite", "kind: oracle").Replace("batchSize: 100", "batchSize: 0");

        var reply = await SendApplyAsync(node, id, yaml, "bad.yaml");

        var rejected = Assert.IsType<WorkflowReplies.DefinitionRejected>(reply);
        Assert.Equal(id, rejected.WorkflowId);
        Assert.True(rejected.Errors.Count >= 2, string.Join("\n", rejected.Errors));
        Assert.All(rejected.Errors, e => Assert.Matches(new Regex(@"^bad\.yaml:\d+:\d+: "), e));
        Assert.Contains(rejected.Errors, e => e.StartsWith("bad.yaml:4:") && e.Contains("source.kind"));
        Assert.Contains(rejected.Errors, e => e.StartsWith("bad.yaml:7:") && e.Contains("source.batchSize"));

        var status = await StatusAsync(node, id);
        Assert.Equal(0, status.DefinitionVersion);
        Assert.Equal(WorkflowRunState.Idle, status.State);
        Assert.Equal(0, Connectors.Source(id).ReadersOpened);

        // Nothing in the journal: a recovered entity knows no definition either.
        await StopEntityAsync(node, id);
        Assert.Equal(0, (await StatusAsync(node, id)).DefinitionVersion);
        Assert.Equal(0, JournalEvents(id));
    }

    [Fact]
    public async Task Malformed_yaml_is_rejected_with_its_line()
    {
        const string id = "orders-malformed";
        var node = StartNode();

        var reply = await SendApplyAsync(node, id, "id: orders-malformed\nclient: [acme\nsource: {}\n", "broken.yaml");

        var rejected = Assert.IsType<WorkflowReplies.DefinitionRejected>(reply);
        Assert.NotEmpty(rejected.Errors);
        Assert.All(rejected.Errors, e => Assert.Matches(new Regex(@"^broken\.yaml:[1-9]\d*:\d+: "), e));
        Assert.Equal(0, (await StatusAsync(node, id)).DefinitionVersion);
    }

    [Fact]
    public async Task Applying_the_same_text_twice_records_one_version()
    {
        const string id = "orders-same";
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id));
        var events = JournalEvents(id);

        var reply = await SendApplyAsync(node, id, Yaml(id), id + ".yaml");

        Assert.Equal(new WorkflowReplies.DefinitionUnchanged(id, 1), reply);
        Assert.Equal(1, (await StatusAsync(node, id)).DefinitionVersion);
        Assert.Equal(events, JournalEvents(id));
    }

    [Fact]
    public async Task A_definition_for_another_workflow_or_client_is_rejected()
    {
        const string id = "orders-one";
        var node = StartNode();

        var other = Assert.IsType<WorkflowReplies.DefinitionRejected>(await SendApplyAsync(node, id, Yaml("orders-two"), "two.yaml"));
        Assert.Contains(other.Errors, e => e.Contains("orders-two") && e.StartsWith("two.yaml"));
        Assert.Equal(0, (await StatusAsync(node, id)).DefinitionVersion);

        await ApplyAsync(node, id, Yaml(id));
        var otherClient = Assert.IsType<WorkflowReplies.DefinitionRejected>(
            await SendApplyAsync(node, id, Yaml(id, client: "globex"), "one.yaml"));
        Assert.Contains(otherClient.Errors, e => e.Contains("client"));
        var status = await StatusAsync(node, id);
        Assert.Equal(1, status.DefinitionVersion);
        Assert.Equal("acme", status.ClientId);
    }

    [Fact]
    public async Task Applying_v2_while_running_switches_without_losing_or_repeating_a_change()
    {
        const string id = "orders-switch";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        endpoint.DelayPerBatch = TimeSpan.FromMilliseconds(20);
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.0.0", maxRecords: 10));
        log.Append(300);
        await AwaitAssertAsync(() => Assert.True(endpoint.AcceptedCount >= 50), interval: TimeSpan.FromMilliseconds(20));

        await ApplyAsync(node, id, Yaml(id, transformVersion: "1.1.0", maxRecords: 10), version: 2);
        log.Append(100);

        var status = await AwaitStatusAsync(node, id,
            s => s.DeliveredChanges == 400 && s.State == WorkflowRunState.Running, "all 400 delivered under v2");
        Assert.Equal(2, status.DefinitionVersion);
        Assert.Equal("1.1.0", status.TransformVersion);
        Assert.Equal(0, status.Restarts);

        var accepted = endpoint.Accepted;
        // The switch drains the stream first: every change exactly once, in order.
        Assert.Equal(Enumerable.Range(1, 400).Select(n => MemoryChangeLog.PositionOf(n)), accepted.Select(r => r.Position));
        // Every change before the switch ran v1, every later one v2.
        var versions = accepted.Select(r => (string)r.Record.Payload["version"]!).ToList();
        var switchAt = versions.IndexOf("1.1.0");
        Assert.True(switchAt >= 50, $"v2 ran from change {switchAt + 1}");
        Assert.All(versions.Take(switchAt), v => Assert.Equal("1.0.0", v));
        Assert.All(versions.Skip(switchAt), v => Assert.Equal("1.1.0", v));
    }
}
