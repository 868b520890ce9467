using RetailStreaming.Workflows.Regress;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Workflows;

/// <summary>Regression samples: every batch the transform did is offered to the node's recorder, which picks and writes samples off the stream.</summary>
public sealed partial class WorkflowActor
{
    private RegressSampleRecorder? _sampleRecorder;

    private void OfferSamples(TransformOutcomes m)
    {
        // Looked up until found: the node may set its recorder after the first workflows started.
        _sampleRecorder ??= RegressSamples.Get(Context.System).Recorder;
        if (_sampleRecorder is null || _definition is null || m.Done.Count == m.Failed) return;
        _sampleRecorder.Offer(_workflowId, _definition.Client, _definition.Transform.Package, m.Done);
    }
}
