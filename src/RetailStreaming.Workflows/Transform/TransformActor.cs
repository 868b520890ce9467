using Akka.Actor;
using Akka.Event;
using RetailStreaming.Store;
using DeadLetter = RetailStreaming.Store.DeadLetter;
using RetailStreaming.Transforms;
using static RetailStreaming.Workflows.StreamProtocol;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Workflows.Transform;

/// <summary>
/// Hosts the workflow's transform. The stream asks it once per batch of changes (<c>SelectAsync</c>,
/// one batch at a time, and the answer keeps the batch's order, so output order is source order). A
/// change the transform rejects, or on which it overruns its time budget, is stored in the
/// dead-letter store with its input, the transform version and the error before the answer goes
/// back, so it is never lost and never loops; the other changes of its batch go on.
/// </summary>
internal sealed class TransformActor : ReceiveActor
{
    private readonly IWorkflowTransform _transform;
    private readonly IDeadLetterStore _deadLetters;
    private readonly string _workflowId;
    private readonly string _clientId;
    private readonly int _generation;
    private readonly IActorRef _workflow;
    private readonly ILoggingAdapter _log;
    private readonly CancellationTokenSource _stopping;
    private bool _quarantined;

    public TransformActor(IWorkflowTransform transform, IDeadLetterStore deadLetters, string workflowId, string clientId, int generation, IActorRef workflow, ILoggingAdapter log, CancellationToken generationCancelled)
    {
        _transform = transform;
        _deadLetters = deadLetters;
        _workflowId = workflowId;
        _clientId = clientId;
        _generation = generation;
        _workflow = workflow;
        _log = log;
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(generationCancelled);

        ReceiveAsync<TransformBatch>(async msg =>
        {
            // After an overrun the workflow tears the stream down; the changes still in it are
            // neither transformed nor dead-lettered, they will be read again from the checkpoint.
            if (_quarantined) return;
            var replyTo = Sender;
            var changes = msg.Changes;
            var outcomes = await _transform.RunBatchAsync(changes, _stopping.Token);
            if (outcomes.Count == 0 || outcomes.Count > changes.Count
                || (outcomes.Count < changes.Count && !outcomes[^1].Overran))
                throw new InvalidOperationException(
                    $"The transform answered {outcomes.Count} outcomes for {changes.Count} changes: one per change, or fewer ending with an overrun.");

            var done = new TransformedChange[outcomes.Count];
            string? overrun = null;
            SourcePosition? overrunAt = null;
            for (var i = 0; i < outcomes.Count; i++)
            {
                var change = changes[i];
                var outcome = outcomes[i];
                // A replay across transform switches names, per change, the version that ran it.
                var version = _transform is ReplayTransform replay ? replay.VersionOf(change) : _transform.Version;
                if (outcome.Outputs is { } outputs)
                {
                    done[i] = new TransformedChange(change, outputs, false, version) { PayloadJson = outcome.PayloadJson };
                    continue;
                }

                var reason = outcome.Error ?? "the transform failed without a reason";
                _log.Warning("Transform rejected change at {SourcePosition} ({Table} {Operation}); dead-lettered: {Reason}",
                    change.Position, change.Table, change.Operation, reason);
                await _deadLetters.AddAsync(new DeadLetter(
                    0, _workflowId, _clientId, "transform", change.Position.Value, null, version,
                    reason, ChangeEventJson.Serialize(change), null, DateTimeOffset.UtcNow), _stopping.Token);
                done[i] = new TransformedChange(change, [], true, version);
                _workflow.Tell(new StageErrorReported(_generation, "transform", $"dead-lettered: {reason}", change.Position.Value));
                if (outcome.Overran) (overrun, overrunAt) = (reason, change.Position);
            }

            // Only the changes up to the overrun one are answered: the ones after it were not run,
            // and are read again from the checkpoint once a fixed definition is applied.
            replyTo.Tell(new TransformedBatch(done));
            _workflow.Tell(new TransformOutcomes(_generation, done.Length, done.Count(d => d.DeadLettered), done));
            if (overrun is not null)
            {
                _quarantined = true;
                _workflow.Tell(new TransformQuarantined(_generation, overrun, overrunAt!.Value));
            }
        });
    }

    protected override void PostStop()
    {
        _stopping.Cancel();
        _transform.Dispose();
        _stopping.Dispose();
    }
}
