using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows;

/// <summary>
/// Creates what a workflow's children run: the source and sink connectors and the transform.
/// The actors depend on this small interface, not on concrete connectors, so tests can give them
/// fakes and later issues add connector kinds without touching the actors.
/// </summary>
public interface IWorkflowConnectors
{
    /// <summary>The capture connector for the definition's source.</summary>
    IChangeSource CreateSource(WorkflowDefinition definition);

    /// <summary>The delivery connector for the definition's delivery.</summary>
    IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer);

    /// <summary>The definition's transform, initialized with its settings.</summary>
    IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger);

    /// <summary>
    /// Removes what the definition's source owns in the client database (slot and publication,
    /// triggers and change table), for a deleted workflow; returns one line saying what was removed.
    /// Idempotent. Throws <see cref="CaptureTeardownException"/>, saying what to run by hand, when it cannot.
    /// </summary>
    Task<string> RemoveCaptureAsync(WorkflowDefinition definition, CancellationToken cancellationToken) =>
        Task.FromException<string>(new CaptureTeardownException(
            $"source.kind '{definition.Source.Kind}' has no capture teardown on this node; remove its objects from the client database by hand"));
}

/// <summary>A transform as the transform actor runs it: one change at a time (alone or in batches), each within a time budget.</summary>
public interface IWorkflowTransform : IDisposable
{
    /// <summary>The version that runs (recorded with each dead letter).</summary>
    string Version { get; }

    /// <summary>Runs the transform on one change; never throws for the transform's own faults.</summary>
    Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken);

    /// <summary>
    /// Runs the transform on a batch of changes, in order; never throws for the transform's own faults.
    /// One outcome per change, in input order, for a prefix of the batch: the outcomes stop after the
    /// first one that <see cref="TransformOutcome.Overran"/> (the changes after it are not run). A change
    /// that fails otherwise fails alone. The default runs <see cref="RunAsync"/> change by change;
    /// a transform host overrides it to hand the whole batch over at once.
    /// </summary>
    async Task<IReadOnlyList<TransformOutcome>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        var outcomes = new List<TransformOutcome>(changes.Count);
        foreach (var change in changes)
        {
            var outcome = await RunAsync(change, cancellationToken);
            outcomes.Add(outcome);
            if (outcome.Overran) break;
        }
        return outcomes;
    }
}

/// <summary>What a transform made of one change.</summary>
/// <param name="Outputs">The records, when it succeeded.</param>
/// <param name="Error">Why it failed, when it did.</param>
/// <param name="Overran">True when it overran its time budget (the workflow is then quarantined).</param>
public sealed record TransformOutcome(IReadOnlyList<OutputRecord>? Outputs, string? Error, bool Overran)
{
    /// <summary>Each output's payload as UTF-8 JSON, when the transform host kept it (see <c>TransformResult.Ok.PayloadJson</c>).</summary>
    public IReadOnlyList<byte[]>? PayloadJson { get; init; }

    /// <summary>A success.</summary>
    public static TransformOutcome Ok(IReadOnlyList<OutputRecord> outputs, IReadOnlyList<byte[]>? payloadJson = null) =>
        new(outputs, null, false) { PayloadJson = payloadJson };

    /// <summary>A failure that dead-letters the change.</summary>
    public static TransformOutcome Failed(string error, bool overran = false) => new(null, error, overran);
}
