using Akka.Actor;
using RetailStreaming.Node.Tests.Support;
using RetailStreaming.Workflows;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Serialization;

namespace RetailStreaming.Node.Tests;

/// <summary>
/// The node's real actor system (as NodeHost builds it, not a test HOCON) binds every persisted and
/// remote message to <see cref="RetailStreamingSerializer"/>: nothing falls back to Newtonsoft.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class SerializationBindingTests(NodeFixture node)
{
    private static readonly DateTimeOffset At = new(2026, 11, 26, 10, 30, 0, TimeSpan.Zero);

    public static TheoryData<string> MessageNames => new(Messages().Keys);

    private static Dictionary<string, object> Messages() => new()
    {
        ["CheckpointAdvanced"] = new WorkflowEvents.CheckpointAdvanced("wf-a", "sqlite:0000000000000000042", 42, 40, 2, At),
        ["DefinitionApplied"] = new WorkflowEvents.DefinitionApplied("wf-a", 1, "acme", "id: wf-a\n", "wf-a.yaml", "", At),
        ["WorkflowState"] = WorkflowState.Empty("wf-a").Apply(new WorkflowEvents.CheckpointAdvanced("wf-a", "sqlite:0000000000000000007", 7, 7, 0, At)),
        ["WorkflowStatus"] = new WorkflowStatus("wf-a", "acme", 1, "RetailStreaming.Samples.Retail", "1.0.0", WorkflowRunState.Running,
            null, null, "sqlite:0000000000000000042", "sqlite:0000000000000000043", 50, 43, 41, 2, 0, 0, 1, 10, 256,
            0, 0.5, 12.5, At, "127.0.0.1:4053"),
        ["ApplyDefinition"] = new WorkflowCommands.ApplyDefinition("wf-a", "id: wf-a\n", "wf-a.yaml"),
        ["GetStatus"] = new WorkflowCommands.GetStatus("wf-a"),
        ["HandOff"] = WorkflowCommands.HandOff.Instance,
        ["Reply.DefinitionApplied"] = new WorkflowReplies.DefinitionApplied("wf-a", 2),
        ["Reply.DefinitionUnchanged"] = new WorkflowReplies.DefinitionUnchanged("wf-a", 2),
        ["Reply.DefinitionRejected"] = new WorkflowReplies.DefinitionRejected("wf-a", ["wf-a.yaml:1:1: id: wrong"]),
        ["Paused"] = new WorkflowEvents.Paused("wf-a", "sqlite:0000000000000000042", At),
        ["Resumed"] = new WorkflowEvents.Resumed("wf-a", At),
        ["Pause"] = new WorkflowCommands.Pause("wf-a"),
        ["Resume"] = new WorkflowCommands.Resume("wf-a"),
        ["Restart"] = new WorkflowCommands.Restart("wf-a"),
        ["Rollback"] = new WorkflowCommands.Rollback("wf-a", 1),
        ["GetHistory"] = new WorkflowCommands.GetHistory("wf-a"),
        ["Reply.Paused"] = new WorkflowReplies.Paused("wf-a", "sqlite:0000000000000000042", true),
        ["Reply.Resumed"] = new WorkflowReplies.Resumed("wf-a", "sqlite:0000000000000000042", true),
        ["Reply.Restarted"] = new WorkflowReplies.Restarted("wf-a", "sqlite:0000000000000000042"),
        ["Reply.LifecycleRefused"] = new WorkflowReplies.LifecycleRefused("wf-a", "workflow 'wf-a': it is paused; resume it instead"),
        ["Reply.History"] = new WorkflowReplies.History("wf-a",
            [new DefinitionVersion(1, "acme", "id: wf-a\n", "wf-a.yaml", "", At)], true),
        ["Redrive"] = new WorkflowCommands.Redrive("wf-a", [3, 5], false, "tok_op"),
        ["Reply.Redriven"] = new WorkflowReplies.Redriven("wf-a",
            [new RedriveResult(3, RedriveResult.Delivered, "delivered with its original idempotency key", null, ["rs_00112233445566778899aabbccddeeff"])]),
        ["Deleted"] = new WorkflowEvents.Deleted("wf-a", "sqlite:0000000000000000042", At),
        ["CaptureRemoved"] = new WorkflowEvents.CaptureRemoved("wf-a", "SQLite capture triggers and change table removed", At),
        ["ReplayRequested"] = new WorkflowEvents.ReplayRequested("wf-a", "sqlite:0000000000000000030", "sqlite:0000000000000000042", At),
        ["ShadowStart"] = new ShadowCommands.Start("wf-a", "1.3.0"),
        ["ShadowStop"] = new ShadowCommands.Stop("wf-a"),
        ["ShadowGetReport"] = new ShadowCommands.GetReport("wf-a"),
        ["ShadowReport"] = new ShadowReport("wf-a", "running", "1.3.0", "1.2.0", At, null, null, 3, 1, 0, 0,
            [new ShadowDifference("sqlite:0000000000000000041", "tickets", "{\"id\":41}", "different", "payload.total: live 1, candidate 2")]),
        ["TransformRolledBack"] = new WorkflowEvents.TransformRolledBack("wf-a", 3, 2, 18, 20, 0.5, TimeSpan.FromMinutes(10), "failed on 18 of 20 changes", At),
        ["Delete"] = new WorkflowCommands.Delete("wf-a"),
        ["Replay"] = new WorkflowCommands.Replay("wf-a", "earliest"),
        ["RequestSnapshot"] = new WorkflowCommands.RequestSnapshot("wf-a", null),
        ["Reply.Deleted"] = new WorkflowReplies.Deleted("wf-a", true, "sqlite:0000000000000000042", true, "removed", null),
        ["Reply.ReplayStarted"] = new WorkflowReplies.ReplayStarted("wf-a", "sqlite:0000000000000000030", "sqlite:0000000000000000042", "sqlite:0000000000000000010"),
        ["Reply.ReplayRefused"] = new WorkflowReplies.ReplayRefused("wf-a", "workflow 'wf-a': too far back", "sqlite:0000000000000000010"),
        ["Reply.SnapshotRequested"] = new WorkflowReplies.SnapshotRequested("wf-a", ["products"], ["sqlite-43"]),
        ["Observations.GetSamples"] = new Observations.GetSamples(At, null),
        ["Observations.Samples"] = new Observations.Samples("127.0.0.1:4053", TimeSpan.FromSeconds(10), []),
        ["Observations.FindRecords"] = new Observations.FindRecords("wf-a", "T-1", null, 50),
        ["Observations.RecordsFound"] = new Observations.RecordsFound("127.0.0.1:4053", [], 0, 10000, null),
    };

    private ActorSystem System => node.App.Services.GetRequiredService<ActorSystem>();

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void The_node_binds_the_platform_serializer_to(string name)
    {
        var message = Messages()[name];

        var serializer = System.Serialization.FindSerializerFor(message);

        Assert.IsType<RetailStreamingSerializer>(serializer);
        Assert.Equal(RetailStreamingSerializer.SerializerId, serializer.Identifier);
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void A_message_survives_the_round_trip_through_the_node_serialization(string name)
    {
        var message = Messages()[name];
        var serializer = System.Serialization.FindSerializerFor(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);

        var bytes = serializer.ToBinary(message);
        // What a journal or a remote node does: look the serializer up by id, read by manifest.
        var back = System.Serialization.Deserialize(bytes, serializer.Identifier, manifest);

        Assert.Equal(RetailStreamingSerializer.Manifests[message.GetType()], manifest);
        Assert.IsType(message.GetType(), back);
        Assert.Equal(Normalize(message), Normalize(back));
    }

    [Fact]
    public void Every_type_with_a_manifest_is_covered_here()
    {
        var covered = Messages().Values.Select(m => m.GetType()).ToHashSet();

        Assert.All(RetailStreamingSerializer.Manifests.Keys, type => Assert.Contains(type, covered));
    }

    // Records holding lists compare lists by reference: compare what they hold instead.
    private static object Normalize(object message) => message switch
    {
        WorkflowState s => (s.WorkflowId, string.Join("|", s.Definitions), s.Checkpoint, s.DeliveredChanges, s.DeliveredRecords, s.DeadLetters, s.Paused),
        WorkflowReplies.History h => (h.WorkflowId, string.Join("|", h.Versions), h.Paused),
        WorkflowReplies.DefinitionRejected r => (r.WorkflowId, string.Join("|", r.Errors)),
        Observations.Samples o => (o.Node, o.Interval, string.Join("|", o.Items)),
        Observations.RecordsFound f => (f.Node, f.Held, f.Capacity, f.OldestAt, f.Entries.Count),
        WorkflowCommands.Redrive r => (r.WorkflowId, string.Join("|", r.EntryIds), r.Force, r.RequestedBy),
        WorkflowReplies.Redriven r => (r.WorkflowId, string.Join("|", r.Results.Select(x => (x with { IdempotencyKeys = [] }, string.Join(",", x.IdempotencyKeys))))),
        WorkflowReplies.SnapshotRequested r => (r.WorkflowId, string.Join("|", r.Tables), string.Join("|", r.SnapshotIds)),
        ShadowReport r => (r with { Differences = [] }, string.Join("|", r.Differences)),
        _ => message,
    };
}
