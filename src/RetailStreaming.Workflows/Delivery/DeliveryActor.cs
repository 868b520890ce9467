using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using RetailStreaming.Connectors;
using RetailStreaming.Store;
using DeadLetter = RetailStreaming.Store.DeadLetter;
using RetailStreaming.Transforms;
using static RetailStreaming.Workflows.StreamProtocol;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Workflows.Delivery;

/// <summary>
/// The end of the workflow's stream (<c>Sink.ActorRefWithAck</c>): sends each batch through the
/// sink connector, dead-letters what the endpoint refuses for good, reports the batch to the
/// workflow (which moves the checkpoint), and only then acknowledges, so the stream holds at most
/// one batch beyond the one being delivered. Owns (and disposes) its connector.
/// </summary>
internal sealed class DeliveryActor : ReceiveActor
{
    private readonly IDeliverySink _sink;
    private readonly IDeadLetterStore _deadLetters;
    private readonly string _workflowId;
    private readonly string _clientId;
    private readonly int _generation;
    private readonly IActorRef _workflow;
    private readonly ILoggingAdapter _log;
    private readonly CancellationTokenSource _stopping;
    private readonly SupersedeTracker _superseding;
    private readonly SemaphoreSlim _gate;
    private readonly StreamSignals? _signals;

    public DeliveryActor(IDeliverySink sink, IDeadLetterStore deadLetters, string workflowId, string clientId, int generation, IActorRef workflow, ILoggingAdapter log, CancellationToken generationCancelled, StreamSignals? signals = null)
    {
        _signals = signals;
        _sink = sink;
        _deadLetters = deadLetters;
        _workflowId = workflowId;
        _clientId = clientId;
        _generation = generation;
        _workflow = workflow;
        _log = log;
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(generationCancelled);
        _superseding = new SupersedeTracker(deadLetters, workflowId);
        _gate = DeliveryGates.Get(Context.System).For(workflowId);

        Receive<StreamInit>(_ => Sender.Tell(Ack.Instance));
        ReceiveAsync<IReadOnlyList<TransformedChange>>(DeliverAsync);
        // Completion and failure arrive after the last batch in the mailbox; since batches are
        // handled one at a time, the last one is done when these are read.
        Receive<StreamCompleted>(_ => _workflow.Tell(new DeliveryDrained(_generation)));
        Receive<StreamFailed>(f => _workflow.Tell(new StreamFailed(_generation, f.Cause)));
    }

    private async Task DeliverAsync(IReadOnlyList<TransformedChange> batch)
    {
        var ack = Sender;
        // Held until the batch is delivered and its rows superseded: a redrive waits for it.
        using var delivering = await _gate.EnterAsync(_stopping.Token);
        // The sink's attempts are children of this span (Activity.Current flows into the sink).
        using var span = _signals?.StartDelivery(batch);
        var records = new List<DeliveryRecord>();
        var changesByRecord = new Dictionary<DeliveryRecord, TransformedChange>(ReferenceEqualityComparer.Instance);
        foreach (var item in batch)
        {
            for (var i = 0; i < item.Outputs.Count; i++)
            {
                var c = item.Change;
                var record = new DeliveryRecord(
                    IdempotencyKey.For(_workflowId, c.Position, i), _workflowId, c.Position, i,
                    c.Table, c.Operation, c.CommitTime, item.Outputs[i]);
                records.Add(record);
                changesByRecord[record] = item;
            }
        }

        var deadLettered = batch.Count(b => b.DeadLettered);
        var accepted = records.Count;
        var refusedPositions = new HashSet<SourcePosition>();
        if (records.Count > 0)
        {
            var started = Stopwatch.GetTimestamp();
            var result = await _sink.DeliverAsync(records, _stopping.Token);
            foreach (var refused in result.Refused)
            {
                var change = changesByRecord[refused.Record];
                refusedPositions.Add(refused.Record.Position);
                _log.Warning("Endpoint refused record {IdempotencyKey} of change {SourcePosition}; dead-lettered: {Reason}",
                    refused.Record.IdempotencyKey, refused.Record.Position, refused.Reason);
                await _deadLetters.AddAsync(new DeadLetter(
                    0, _workflowId, _clientId, "delivery", refused.Record.Position.Value, refused.Record.OutputIndex,
                    change.TransformVersion, refused.Reason, ChangeEventJson.Serialize(change.Change),
                    WebhookRecordJson(refused.Record), DateTimeOffset.UtcNow,
                    refused.Attempts?.Select(a => new DeadLetterAttempt(a.At, a.StatusCode, a.Detail)).ToList()), _stopping.Token);
                deadLettered++;
                _workflow.Tell(new StageErrorReported(_generation, "delivery", $"refused, dead-lettered: {refused.Reason}", refused.Record.Position.Value));
            }
            accepted -= result.Refused.Count;
            _log.Debug("Delivered {Records} records of {Changes} changes in {Elapsed} ms",
                records.Count - result.Refused.Count, batch.Count, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        _signals?.Delivered(batch, refusedPositions, records.Count - accepted);

        // Before the acknowledgement: a redrive must see a row superseded once its later change is delivered.
        await _superseding.AfterBatchAsync(batch, refusedPositions, _stopping.Token);

        var last = batch[^1].Change;
        _workflow.Tell(new BatchDone(_generation, last.Position, batch.Count, accepted, deadLettered, last.CommitTime));
        ack.Tell(Ack.Instance);
    }

    private static string WebhookRecordJson(DeliveryRecord r)
    {
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = r.IdempotencyKey,
            ["type"] = r.Record.Type,
            ["key"] = r.Record.Key,
            ["position"] = r.Position.Value,
            ["outputIndex"] = r.OutputIndex,
        };
        // A delete marker survives the dead-letter store, so that a redrive sends a delete again.
        if (r.Record.IsDelete) json["deleted"] = true;
        json["data"] = r.Record.Payload.DeepClone();
        return json.ToJsonString();
    }

    protected override void PostStop()
    {
        _stopping.Cancel();
        try
        {
            _sink.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
        }
        catch (Exception e)
        {
            _log.Warning(e, "Closing the sink connector failed");
        }
        _stopping.Dispose();
    }
}
