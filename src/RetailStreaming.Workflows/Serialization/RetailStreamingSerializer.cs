using System.Collections.Frozen;
using System.Text.Json;
using Akka.Actor;
using System.Runtime.Serialization;
using Akka.Serialization;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Serialization;

/// <summary>
/// The serializer of every persisted and remote message (<see cref="IRetailStreamingMessage"/>):
/// JSON, with an explicit, stable manifest per type, so that renaming a class never makes the
/// journal unreadable and a rolling upgrade can read what an older node wrote.
/// </summary>
/// <remarks>
/// A manifest names one version of one message shape. Changing a persisted record in a way
/// old JSON cannot bind to needs a new manifest (".v2") and a reader for the old one; the event
/// samples under tests/RetailStreaming.Workflows.Tests/EventSamples must keep deserializing.
/// </remarks>
public sealed class RetailStreamingSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id bound in HOCON; never reuse or change it.</summary>
    public const int SerializerId = 7311;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    private static readonly FrozenDictionary<Type, string> ManifestByType = new Dictionary<Type, string>
    {
        [typeof(WorkflowEvents.DefinitionApplied)] = "wf.evt.definition-applied.v1",
        [typeof(WorkflowEvents.CheckpointAdvanced)] = "wf.evt.checkpoint-advanced.v1",
        [typeof(WorkflowEvents.Paused)] = "wf.evt.paused.v1",
        [typeof(WorkflowEvents.Resumed)] = "wf.evt.resumed.v1",
        [typeof(WorkflowEvents.Deleted)] = "wf.evt.deleted.v1",
        [typeof(WorkflowEvents.CaptureRemoved)] = "wf.evt.capture-removed.v1",
        [typeof(WorkflowEvents.ReplayRequested)] = "wf.evt.replay-requested.v1",
        [typeof(WorkflowEvents.TransformRolledBack)] = "wf.evt.transform-rolled-back.v1",
        [typeof(WorkflowState)] = "wf.snapshot.v1",
        [typeof(WorkflowCommands.ApplyDefinition)] = "wf.cmd.apply-definition.v1",
        [typeof(WorkflowCommands.GetStatus)] = "wf.cmd.get-status.v1",
        [typeof(WorkflowCommands.HandOff)] = "wf.cmd.hand-off.v1",
        [typeof(WorkflowCommands.Pause)] = "wf.cmd.pause.v1",
        [typeof(WorkflowCommands.Resume)] = "wf.cmd.resume.v1",
        [typeof(WorkflowCommands.Restart)] = "wf.cmd.restart.v1",
        [typeof(WorkflowCommands.Rollback)] = "wf.cmd.rollback.v1",
        [typeof(WorkflowCommands.GetHistory)] = "wf.cmd.get-history.v1",
        [typeof(WorkflowCommands.Redrive)] = "wf.cmd.redrive.v1",
        [typeof(WorkflowCommands.Delete)] = "wf.cmd.delete.v1",
        [typeof(WorkflowCommands.Replay)] = "wf.cmd.replay.v1",
        [typeof(WorkflowCommands.RequestSnapshot)] = "wf.cmd.request-snapshot.v1",
        [typeof(WorkflowReplies.DefinitionApplied)] = "wf.reply.definition-applied.v1",
        [typeof(WorkflowReplies.DefinitionUnchanged)] = "wf.reply.definition-unchanged.v1",
        [typeof(WorkflowReplies.DefinitionRejected)] = "wf.reply.definition-rejected.v1",
        [typeof(WorkflowReplies.Paused)] = "wf.reply.paused.v1",
        [typeof(WorkflowReplies.Resumed)] = "wf.reply.resumed.v1",
        [typeof(WorkflowReplies.Restarted)] = "wf.reply.restarted.v1",
        [typeof(WorkflowReplies.LifecycleRefused)] = "wf.reply.lifecycle-refused.v1",
        [typeof(WorkflowReplies.History)] = "wf.reply.history.v1",
        [typeof(WorkflowReplies.Redriven)] = "wf.reply.redriven.v1",
        [typeof(WorkflowReplies.Deleted)] = "wf.reply.deleted.v1",
        [typeof(WorkflowReplies.ReplayStarted)] = "wf.reply.replay-started.v1",
        [typeof(WorkflowReplies.ReplayRefused)] = "wf.reply.replay-refused.v1",
        [typeof(WorkflowReplies.SnapshotRequested)] = "wf.reply.snapshot-requested.v1",
        [typeof(WorkflowStatus)] = "wf.status.v1",
        [typeof(ShadowCommands.Start)] = "wf.cmd.shadow-start.v1",
        [typeof(ShadowCommands.Stop)] = "wf.cmd.shadow-stop.v1",
        [typeof(ShadowCommands.GetReport)] = "wf.cmd.shadow-report.v1",
        [typeof(ShadowReport)] = "wf.reply.shadow-report.v1",
        [typeof(Observations.GetSamples)] = "obs.get-samples.v1",
        [typeof(Observations.Samples)] = "obs.samples.v1",
        [typeof(Observations.FindRecords)] = "obs.find-records.v1",
        [typeof(Observations.RecordsFound)] = "obs.records-found.v1",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, Type> TypeByManifest =
        ManifestByType.ToFrozenDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>The binding as HOCON, for actor systems built without Akka.Hosting (tests, tools).</summary>
    public const string Hocon = """
        akka.actor {
          serializers.retailstreaming = "RetailStreaming.Workflows.Serialization.RetailStreamingSerializer, RetailStreaming.Workflows"
          serialization-bindings {
            "RetailStreaming.Workflows.Protocol.IRetailStreamingMessage, RetailStreaming.Workflows" = retailstreaming
          }
          serialization-identifiers {
            "RetailStreaming.Workflows.Serialization.RetailStreamingSerializer, RetailStreaming.Workflows" = 7311
          }
        }
        """;

    /// <summary>Created by Akka from the serializer binding.</summary>
    public RetailStreamingSerializer(ExtendedActorSystem system) : base(system) { }

    /// <inheritdoc />
    public override int Identifier => SerializerId;

    /// <summary>Every manifest this build reads, by type.</summary>
    public static IReadOnlyDictionary<Type, string> Manifests => ManifestByType;

    /// <inheritdoc />
    public override string Manifest(object o) =>
        ManifestByType.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new ArgumentException($"{o.GetType().FullName} has no manifest in {nameof(RetailStreamingSerializer)}; add one.");

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        _ = Manifest(obj); // fail early for an unmapped type
        return JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);
    }

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!TypeByManifest.TryGetValue(manifest, out var type))
            throw new SerializationException($"Unknown manifest '{manifest}': this build cannot read it (written by a newer version?).");
        return JsonSerializer.Deserialize(bytes, type, Options)
               ?? throw new SerializationException($"Manifest '{manifest}' deserialized to null.");
    }
}
