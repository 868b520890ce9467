using Akka.Configuration;
using Akka.TestKit.Xunit2;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Serialization;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// The rolling-upgrade contract: EventSamples/vN/&lt;manifest&gt;.json holds what a build wrote for
/// each persisted manifest. Every later build must still read every file, so these files are
/// never edited or deleted; a new event version adds a new file (and a reader for the old one).
/// v2/ holds what the build that added pausing writes for a manifest whose shape grew (the
/// snapshot's <c>paused</c> flag), beside the v1 file it must still read; v3/ what the build that added
/// delete and replay writes (the snapshot's <c>deletedAt</c>, <c>captureRemoved</c> and
/// <c>replayUntil</c>, and the events <c>deleted</c>, <c>capture-removed</c> and <c>replay-requested</c>); v4/ what
/// the build that added transform.autoRollback writes (the snapshot's <c>autoRollbacks</c>, the event <c>transform-rolled-back</c>).
/// </summary>
public sealed class EventSampleTests(ITestOutputHelper output)
    : TestKit(ConfigurationFactory.ParseString(RetailStreamingSerializer.Hocon), "event-samples", output)
{
    private static readonly string SampleRoot = Path.Combine(AppContext.BaseDirectory, "EventSamples");

    /// <summary>What the journal and the snapshot store hold (commands, replies and status are never persisted).</summary>
    private static IEnumerable<string> PersistedManifests() =>
        RetailStreamingSerializer.Manifests
            .Where(kv => kv.Key == typeof(WorkflowState) || kv.Key.DeclaringType == typeof(WorkflowEvents))
            .Select(kv => kv.Value);

    public static TheoryData<string> SampleFiles() =>
        new(Directory.EnumerateFiles(SampleRoot, "*.json", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(SampleRoot, f))
            .Order());

    [Fact]
    public void Every_persisted_manifest_has_a_sample()
    {
        var sampled = Directory.EnumerateFiles(SampleRoot, "*.json", SearchOption.AllDirectories)
            .Select(Path.GetFileNameWithoutExtension)
            .ToHashSet();
        Assert.Equal(9, PersistedManifests().Count());
        Assert.All(PersistedManifests(), manifest => Assert.Contains(manifest, sampled));
    }

    [Theory]
    [MemberData(nameof(SampleFiles))]
    public void This_build_reads_the_sample(string relativePath)
    {
        var manifest = Path.GetFileNameWithoutExtension(relativePath);
        var bytes = File.ReadAllBytes(Path.Combine(SampleRoot, relativePath));
        var serializer = (RetailStreamingSerializer)Sys.Serialization.FindSerializerFor(MessageSamples.CheckpointAdvanced);
        // Through Akka's entry point, with the serializer id the journal stores beside the payload.
        var read = Sys.Serialization.Deserialize(bytes, RetailStreamingSerializer.SerializerId, manifest);

        switch (manifest)
        {
            case "wf.evt.definition-applied.v1":
            {
                var e = Assert.IsType<WorkflowEvents.DefinitionApplied>(read);
                Assert.Equal("wf-orders", e.WorkflowId);
                Assert.Equal(2, e.Version);
                Assert.Equal("acme", e.ClientId);
                Assert.Equal(MessageSamples.DefinitionYaml, e.Yaml);
                Assert.Equal("wf-orders.yaml", e.FileName);
                Assert.Equal("mem:0000000040", e.AtPosition);
                Assert.Equal(MessageSamples.At, e.AppliedAt);
                Assert.Equal(MessageSamples.At.Offset, e.AppliedAt.Offset);
                // Applied to a state, it is the definition in force.
                var state = WorkflowState.Empty("wf-orders").Apply(e);
                Assert.Equal(2, state.Current!.Version);
                Assert.Equal("mem:0000000040", state.Checkpoint);
                break;
            }
            case "wf.evt.checkpoint-advanced.v1":
            {
                var e = Assert.IsType<WorkflowEvents.CheckpointAdvanced>(read);
                Assert.Equal(MessageSamples.CheckpointAdvanced, e);
                Assert.Equal("mem:0000000042", e.Position);
                Assert.Equal(42, e.DeliveredChanges);
                Assert.Equal(41, e.DeliveredRecords);
                Assert.Equal(1, e.DeadLetters);
                break;
            }
            case "wf.evt.paused.v1":
            {
                var e = Assert.IsType<WorkflowEvents.Paused>(read);
                Assert.Equal(MessageSamples.Paused, e);
                var state = MessageSamples.Snapshot with { Paused = false, Checkpoint = "mem:0000000040" };
                Assert.True(state.Apply(e).Paused);
                Assert.Equal("mem:0000000042", state.Apply(e).Checkpoint);
                break;
            }
            case "wf.evt.resumed.v1":
            {
                var e = Assert.IsType<WorkflowEvents.Resumed>(read);
                Assert.Equal(MessageSamples.Resumed, e);
                Assert.False(MessageSamples.Snapshot.Apply(e).Paused);
                break;
            }
            case "wf.evt.deleted.v1":
            {
                var e = Assert.IsType<WorkflowEvents.Deleted>(read);
                Assert.Equal(MessageSamples.Deleted, e);
                var state = (MessageSamples.Snapshot with { DeletedAt = null, Checkpoint = "mem:0000000040" }).Apply(e);
                Assert.True(state.Deleted);
                Assert.Null(state.ReplayUntil);
                Assert.Equal("mem:0000000042", state.Checkpoint);
                break;
            }
            case "wf.evt.capture-removed.v1":
            {
                var e = Assert.IsType<WorkflowEvents.CaptureRemoved>(read);
                Assert.Equal(MessageSamples.CaptureRemoved, e);
                Assert.True((MessageSamples.Snapshot with { CaptureRemoved = false }).Apply(e).CaptureRemoved);
                break;
            }
            case "wf.evt.replay-requested.v1":
            {
                var e = Assert.IsType<WorkflowEvents.ReplayRequested>(read);
                Assert.Equal(MessageSamples.ReplayRequested, e);
                // The one event that moves the checkpoint back; the replay ends once it is reached again.
                var state = (MessageSamples.Snapshot with { ReplayUntil = null }).Apply(e);
                Assert.Equal(("mem:0000000030", "mem:0000000042"), (state.Checkpoint, state.ReplayUntil));
                var advanced = MessageSamples.CheckpointAdvanced with { Position = "mem:0000000041" };
                Assert.Equal("mem:0000000042", state.Apply(advanced).ReplayUntil);
                Assert.Null(state.Apply(advanced with { Position = "mem:0000000042" }).ReplayUntil);
                break;
            }
            case "wf.evt.transform-rolled-back.v1":
            {
                var e = Assert.IsType<WorkflowEvents.TransformRolledBack>(read);
                Assert.Equal(MessageSamples.TransformRolledBack, e);
                var state = (MessageSamples.Snapshot with { AutoRollbacks = null }).Apply(e);
                Assert.Equal([e], state.AutoRollbacks!);
                Assert.Equal(2, state.Definitions.Count); // recorded before the rollback's own apply
                break;
            }
            case "wf.snapshot.v1":
            {
                var s = Assert.IsType<WorkflowState>(read);
                // Written before automatic rollbacks existed (v1 to v3): none.
                var v4 = relativePath.StartsWith("v4", StringComparison.Ordinal);
                Assert.Equal(v4 ? [MessageSamples.TransformRolledBack] : null, s.AutoRollbacks?.ToArray());
                // Written before delete and replay existed (v1, v2): not deleted, no replay.
                var v3 = !relativePath.StartsWith("v1", StringComparison.Ordinal) && !relativePath.StartsWith("v2", StringComparison.Ordinal);
                Assert.Equal(v3 ? MessageSamples.Snapshot.DeletedAt : null, s.DeletedAt);
                Assert.Equal(v3, s.CaptureRemoved);
                Assert.Equal(v3 ? "mem:0000000045" : null, s.ReplayUntil);
                // v1 snapshots were written before pausing existed: they read as not paused.
                Assert.Equal(!relativePath.StartsWith("v1", StringComparison.Ordinal), s.Paused);
                Assert.Equal("wf-orders", s.WorkflowId);
                Assert.Equal([1, 2], s.Definitions.Select(d => d.Version));
                Assert.Equal(MessageSamples.Snapshot.Definitions, s.Definitions);
                Assert.Equal("mem:0000000042", s.Checkpoint);
                Assert.Equal((42L, 41L, 1L), (s.DeliveredChanges, s.DeliveredRecords, s.DeadLetters));
                Assert.Equal("1.2.0", Definitions.WorkflowDefinitionReader.Parse(s.Current!.Yaml, s.Current.FileName).Transform.Version);
                break;
            }
            default:
                throw new Xunit.Sdk.XunitException(
                    $"{relativePath}: no assertions for manifest '{manifest}'; a new sample needs its key fields checked here.");
        }

        // What this build reads, it can write again under the same manifest.
        Assert.Equal(manifest, serializer.Manifest(read));
    }
}
