using System.Collections.Concurrent;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>
/// The node's connectors for tests: an in-memory change log and a scripted endpoint per workflow
/// id (whatever the definition's source and delivery say), and <see cref="MarkerTransform"/> at
/// the definition's transform version.
/// </summary>
public sealed class FakeConnectors : IWorkflowConnectors
{
    private readonly ConcurrentDictionary<string, MemoryChangeLog> _sources = new();
    private readonly ConcurrentDictionary<string, ScriptedEndpoint> _endpoints = new();

    /// <summary>The change log of a workflow.</summary>
    public MemoryChangeLog Source(string workflowId) => _sources.GetOrAdd(workflowId, _ => new MemoryChangeLog());

    /// <summary>The endpoint of a workflow.</summary>
    public ScriptedEndpoint Endpoint(string workflowId) => _endpoints.GetOrAdd(workflowId, _ => new ScriptedEndpoint());

    public IChangeSource CreateSource(WorkflowDefinition definition) => Source(definition.Id).Open();

    public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer) => Endpoint(definition.Id).Open();

    /// <summary>Transform versions that no longer reject poisoned rows (a fixed transform).</summary>
    public ConcurrentDictionary<string, bool> FixedVersions { get; } = new();

    /// <summary>Changes on which the transforms created from now on overrun their budget (none by default).</summary>
    public Func<ChangeEvent, bool>? Overruns { get; set; }

    /// <summary>Every transform created, in order (one per stream generation).</summary>
    public IReadOnlyList<MarkerTransform> Transforms => _transforms.ToArray();

    private readonly ConcurrentQueue<MarkerTransform> _transforms = new();

    public IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger)
    {
        var transform = new MarkerTransform(definition.Transform.Version, Overruns,
            rejectsPoison: !FixedVersions.ContainsKey(definition.Transform.Version));
        _transforms.Enqueue(transform);
        return transform;
    }

    public Task<string> RemoveCaptureAsync(WorkflowDefinition definition, CancellationToken cancellationToken)
    {
        var log = Source(definition.Id);
        if (log.FailCaptureRemoval is { } failure)
            return Task.FromException<string>(new CaptureTeardownException(failure));
        log.CaptureRemoved = true;
        return Task.FromResult($"in-memory capture of {definition.Id} removed");
    }
}
