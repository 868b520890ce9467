using System.Collections.Immutable;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Tests;

/// <summary>One instance of every persisted or remote message, every field set to a value that is not its default.</summary>
public static class MessageSamples
{
    public static readonly DateTimeOffset At = new(2026, 11, 3, 14, 15, 16, 789, TimeSpan.FromHours(1));

    public const string DefinitionYaml = """
        id: wf-orders
        client: acme
        source:
          kind: sqlite
          connection: "Data Source=/data/retail.db"
          tables: [tickets]
        transform:
          package: Acme.Transforms
          version: 1.2.0
          type: Acme.Transforms.TicketTransform
        delivery:
          kind: webhook
          url: https://hooks.acme.example/tickets
          secretRef: env:ACME_WEBHOOK_SECRET

        """;

    public static WorkflowEvents.DefinitionApplied DefinitionApplied { get; } =
        new("wf-orders", 2, "acme", DefinitionYaml, "wf-orders.yaml", "mem:0000000040", At);

    public static WorkflowEvents.CheckpointAdvanced CheckpointAdvanced { get; } =
        new("wf-orders", "mem:0000000042", 42, 41, 1, At.AddSeconds(5));

    public static WorkflowEvents.TransformRolledBack TransformRolledBack { get; } = new(
        "wf-orders", 2, 1, 18, 20, 0.5, TimeSpan.FromMinutes(10),
        "the transform of v2 (Acme.Transforms 1.2.0) failed on 18 of 20 changes (90%) within 00:10:00 of its apply; transform.autoRollback.errorRate is 0.5",
        At.AddMinutes(2));

    public static WorkflowState Snapshot { get; } = new(
        "wf-orders",
        ImmutableList.Create(
            new DefinitionVersion(1, "acme", DefinitionYaml.Replace("1.2.0", "1.1.0"), "wf-orders.yaml", "0", At.AddHours(-1)),
            new DefinitionVersion(2, "acme", DefinitionYaml, "wf-orders.yaml", "mem:0000000040", At)),
        "mem:0000000042", 42, 41, 1, Paused: true, DeletedAt: At.AddMinutes(5), CaptureRemoved: true, ReplayUntil: "mem:0000000045",
        AutoRollbacks: ImmutableList.Create(TransformRolledBack));

    public static WorkflowEvents.Paused Paused { get; } = new("wf-orders", "mem:0000000042", At.AddSeconds(10));

    public static WorkflowEvents.Resumed Resumed { get; } = new("wf-orders", At.AddSeconds(20));

    public static WorkflowEvents.Deleted Deleted { get; } = new("wf-orders", "mem:0000000042", At.AddMinutes(5));

    public static WorkflowEvents.CaptureRemoved CaptureRemoved { get; } =
        new("wf-orders", "SQLite capture triggers and change table _rs_changes_wf_orders_1a2b3c4d removed", At.AddMinutes(5).AddSeconds(1));

    public static WorkflowEvents.ReplayRequested ReplayRequested { get; } = new("wf-orders", "mem:0000000030", "mem:0000000042", At.AddSeconds(30));

    public static WorkflowStatus Status { get; } = new(
        "wf-orders", "acme", 2, "Acme.Transforms", "1.2.0", WorkflowRunState.Running,
        "child delivery-3 stopped: HttpRequestException: 503", At.AddSeconds(-30),
        "mem:0000000042", "mem:0000000045", 50, 45, 44, 1, 3, 2, 5, 120, 341, 7, 1.5, 12.5, At, "node-1:4053",
        new DeliveryEndpointStatus("https://hooks.acme.example/tickets", "open", 5, At.AddSeconds(30), 2.5, At.AddSeconds(10), At),
        "mem:0000000050", At.AddMinutes(5));

    public static WorkflowReplies.History History { get; } = new("wf-orders", Snapshot.Definitions, true, [TransformRolledBack]);

    /// <summary>Every sample, one per type.</summary>
    public static IReadOnlyList<object> All { get; } =
    [
        DefinitionApplied,
        CheckpointAdvanced,
        Paused,
        Resumed,
        Deleted,
        CaptureRemoved,
        ReplayRequested,
        TransformRolledBack,
        Snapshot,
        new WorkflowCommands.ApplyDefinition("wf-orders", DefinitionYaml, "wf-orders.yaml"),
        new WorkflowCommands.GetStatus("wf-orders"),
        new WorkflowCommands.HandOff("wf-orders"),
        new WorkflowCommands.Pause("wf-orders"),
        new WorkflowCommands.Resume("wf-orders"),
        new WorkflowCommands.Restart("wf-orders"),
        new WorkflowCommands.Rollback("wf-orders", 1),
        new WorkflowCommands.GetHistory("wf-orders"),
        new WorkflowCommands.Redrive("wf-orders", [7, 9], true, "tok_operator"),
        new WorkflowReplies.Redriven("wf-orders",
        [
            new RedriveResult(7, RedriveResult.Delivered, "delivered with its original idempotency key", null, ["rs_0123456789abcdef0123456789abcdef"]),
            new RedriveResult(9, RedriveResult.Failed, "transform 1.2.0 rejected it again: FormatException", "1.2.0", []),
        ]),
        new WorkflowCommands.Delete("wf-orders"),
        new WorkflowCommands.Replay("wf-orders", "mem:0000000030"),
        new WorkflowCommands.RequestSnapshot("wf-orders", "tickets"),
        new WorkflowReplies.DefinitionApplied("wf-orders", 2),
        new WorkflowReplies.DefinitionUnchanged("wf-orders", 2),
        new WorkflowReplies.DefinitionRejected("wf-orders",
            ["wf-orders.yaml:5:9: source.kind: unknown kind 'oracle'", "wf-orders.yaml:9:12: transform.version: must be a semantic version"]),
        new WorkflowReplies.Paused("wf-orders", "mem:0000000042", true),
        new WorkflowReplies.Resumed("wf-orders", "mem:0000000042", true),
        new WorkflowReplies.Restarted("wf-orders", "mem:0000000042"),
        new WorkflowReplies.LifecycleRefused("wf-orders", "workflow 'wf-orders': it is paused; resume it instead"),
        new WorkflowReplies.Deleted("wf-orders", true, "mem:0000000042", false, null,
            "the SQLite capture of workflow 'wf-orders' could not be removed: database is locked"),
        new WorkflowReplies.ReplayStarted("wf-orders", "mem:0000000030", "mem:0000000042", "mem:0000000020"),
        new WorkflowReplies.ReplayRefused("wf-orders", "workflow 'wf-orders': the source no longer holds every change after mem:0000000010", "mem:0000000020"),
        new WorkflowReplies.SnapshotRequested("wf-orders", ["tickets", "products"], ["sqlite-43", "sqlite-97"]),
        History,
        Status,
        new ShadowCommands.Start("wf-orders", "1.3.0"),
        new ShadowCommands.Stop("wf-orders"),
        new ShadowCommands.GetReport("wf-orders"),
        new ShadowReport("wf-orders", "stopped", "1.3.0", "1.2.0", At, At.AddMinutes(3), "stopped by an operator", 40, 2, 1, 5,
        [
            new ShadowDifference("mem:0000000041", "tickets", "{\"id\":41}", "different", "payload.total: live 14.97, candidate 15"),
            new ShadowDifference("mem:0000000042", "tickets", "{\"id\":42}", "failed", "the candidate rejected it: FormatException: bad sku"),
        ]),
        new Observations.GetSamples(At, ["wf-orders"]),
        new Observations.Samples("10.0.0.5:4053", TimeSpan.FromSeconds(10),
        [
            new WorkflowSample(At, "wf-orders", "acme", "10.0.0.5:4053", "running", 1200, 1180, 2, 5, 1, 1.5, 230.5, 20),
        ]),
        new Observations.FindRecords("wf-orders", "T-1001", "tickets", 50),
        new Observations.RecordsFound("10.0.0.5:4053",
        [
            new RecordTrailEntry("tickets", "insert", "{\"ticket_id\":\"T-1001\"}", "mem:0000000042", At, At.AddMilliseconds(40),
                At.AddMilliseconds(120), "1.2.0", 1, "refused", 2, "HTTP 400 Bad Request: invalid total",
                [new RecordTrailAttempt(At.AddMilliseconds(100), 400, "invalid total")], ["rs_0123456789abcdef0123456789abcdef"]),
        ], 1000, 10000, At.AddMinutes(-30)),
    ];
}
