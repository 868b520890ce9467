using System.Runtime.Serialization;
using System.Text;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Serialization;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// What a node reads from a node of another build during a rolling upgrade (README "A cluster",
/// rolling upgrade): an unknown manifest is a clear SerializationException naming it (Akka.Remote
/// logs it as a transient error and drops the message; the association and the node go on), a field
/// the reader does not know is ignored, a field the writer did not know takes its default.
/// </summary>
public sealed class MixedVersionSerializationTests(ITestOutputHelper output)
    : TestKit(ConfigurationFactory.ParseString(RetailStreamingSerializer.Hocon), "mixed-version", output)
{
    [Fact]
    public void A_manifest_of_a_newer_build_is_a_serialization_error_that_names_it()
    {
        var e = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Encoding.UTF8.GetBytes("""{"workflowId":"wf-orders"}"""), RetailStreamingSerializer.SerializerId, "wf.cmd.from-a-newer-build.v1"));
        Assert.Contains("wf.cmd.from-a-newer-build.v1", e.Message, StringComparison.Ordinal);
        Assert.Contains("newer version", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_field_added_by_a_newer_build_is_ignored()
    {
        var json = """{"workflowId":"wf-orders","position":"mem:0000000042","deliveredChanges":42,"deliveredRecords":41,"deadLetters":1,"at":"2026-11-03T14:15:21.789+01:00","addedByANewerBuild":{"x":[1,2]}}""";
        var read = Sys.Serialization.Deserialize(Encoding.UTF8.GetBytes(json), RetailStreamingSerializer.SerializerId, "wf.evt.checkpoint-advanced.v1");
        Assert.Equal(MessageSamples.CheckpointAdvanced, Assert.IsType<WorkflowEvents.CheckpointAdvanced>(read));
    }

    [Fact]
    public void A_field_an_older_build_did_not_write_takes_its_default()
    {
        var json = """{"workflowId":"wf-orders","position":"mem:0000000042","at":"2026-11-03T14:15:21.789+01:00"}""";
        var read = Assert.IsType<WorkflowEvents.CheckpointAdvanced>(
            Sys.Serialization.Deserialize(Encoding.UTF8.GetBytes(json), RetailStreamingSerializer.SerializerId, "wf.evt.checkpoint-advanced.v1"));
        Assert.Equal(("wf-orders", "mem:0000000042", 0L, 0L), (read.WorkflowId, read.Position, read.DeliveredChanges, read.DeliveredRecords));
    }
}
