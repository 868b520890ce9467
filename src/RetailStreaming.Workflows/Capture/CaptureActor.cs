using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using RetailStreaming.Connectors;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Observability;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Workflows.Capture;

/// <summary>
/// Reads changes from the source connector in commit order and offers each read, as one chunk, to
/// the workflow's stream through its <c>Source.Queue</c>, awaiting each offer: when the stream
/// backpressures (a slow endpoint), the capture stops reading. Owns (and disposes) its connector.
/// </summary>
/// <remarks>
/// Handlers are asynchronous and the mailbox waits for each, so the connector is never called
/// concurrently (a read, a confirm and a lag query never overlap). Any connector exception
/// fails this actor; the workflow then rebuilds the whole graph from its checkpoint.
/// </remarks>
internal sealed class CaptureActor : ReceiveActor, IWithTimers
{
    private sealed record ReadNext
    {
        public static ReadNext Instance { get; } = new();
    }

    private readonly IChangeSource _source;
    private readonly int _generation;
    private readonly int _batchSize;
    private readonly TimeSpan _pollInterval;
    private readonly TimeSpan _lagInterval;
    private readonly IActorRef _workflow;
    private readonly ILoggingAdapter _log;
    private readonly CancellationTokenSource _stopping;
    private readonly StreamSignals? _signals;
    private ISourceQueueWithComplete<IReadOnlyList<ChangeEvent>>? _queue;
    private SourcePosition _position;
    private bool _stopRequested;
    private bool _completed;
    private DateTime _lastLagCheck = DateTime.MinValue;

    public CaptureActor(IChangeSource source, int generation, int batchSize, TimeSpan pollInterval, TimeSpan lagInterval, IActorRef workflow, ILoggingAdapter log, CancellationToken generationCancelled, StreamSignals? signals = null)
    {
        _signals = signals;
        _source = source;
        _generation = generation;
        _batchSize = batchSize;
        _pollInterval = pollInterval;
        _lagInterval = lagInterval;
        _workflow = workflow;
        _log = log;
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(generationCancelled);

        ReceiveAsync<StartCapture>(async start =>
        {
            _queue = start.Queue;
            _position = start.From;
            await _source.PrepareAsync(_stopping.Token);
            _log.Info("Capture prepared; reading after {SourcePosition}", _position);
            _workflow.Tell(new CaptureStarted(_generation));
            Self.Tell(ReadNext.Instance);
        });

        ReceiveAsync<ReadNext>(_ => ReadAndOfferAsync());

        ReceiveAsync<ConfirmCheckpoint>(async confirm =>
        {
            // Only persisted checkpoints arrive here (DESIGN.md invariant 1).
            await _source.ConfirmAsync(confirm.Checkpoint, _stopping.Token);
        });

        Receive<StopCapture>(_ =>
        {
            _stopRequested = true;
            Timers.CancelAll();
            Complete();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private async Task ReadAndOfferAsync()
    {
        if (_stopRequested || _queue is null) return;
        var readStarted = DateTimeOffset.UtcNow;
        var batch = await _source.ReadAsync(_position, _batchSize, _stopping.Token);
        await ReportLagIfDueAsync();
        if (batch.Count == 0)
        {
            // A streaming source waited for a change within the read already: reading again at
            // once keeps a change that arrives now from waiting for a timer.
            if (_source.WaitsForChanges) Self.Tell(ReadNext.Instance);
            else Timers.StartSingleTimer("poll", ReadNext.Instance, _pollInterval);
            return;
        }

        var previous = _position;
        foreach (var change in batch)
        {
            if (change.Position <= previous)
                throw new InvalidOperationException(
                    $"The source returned position {change.Position} after {previous}: positions must increase.");
            previous = change.Position;
        }

        // The read's trace begins here; the transform and the delivery continue it.
        using var span = _signals?.StartCapture(batch, readStarted);
        // Report before offering, so the workflow counts them in flight before any can be done.
        _workflow.Tell(new Captured(_generation, batch.Count, batch[^1].Position));
        // The whole read is one element of the stream: one offer and one transform hand-over per
        // read instead of per change. A read holds at most batchSize changes, which bounds it.
        var result = await _queue.OfferAsync(batch);
        switch (result)
        {
            case QueueOfferResult.Enqueued:
                _position = batch[^1].Position;
                break;
            case QueueOfferResult.Failure f:
                throw new InvalidOperationException("The workflow stream failed while capture offered changes.", f.Cause);
            default:
                if (_stopRequested) return;
                throw new InvalidOperationException($"The workflow stream refused changes ({result.GetType().Name}).");
        }

        // Read again at once after a non-empty read: a streaming source (PostgreSQL) hands over what
        // arrived so far, so a partial batch does not mean the source is idle. Only an empty read
        // waits for the poll interval.
        if (_stopRequested) Complete();
        else Self.Tell(ReadNext.Instance);
    }

    private async Task ReportLagIfDueAsync()
    {
        if (DateTime.UtcNow - _lastLagCheck < _lagInterval) return;
        _lastLagCheck = DateTime.UtcNow;
        var lag = await _source.GetLagAsync(_position, _stopping.Token);
        _workflow.Tell(new SourceLagReport(_generation, lag.PendingChanges, lag.PendingBytes, lag.OldestPendingAge));
    }

    private void Complete()
    {
        if (_completed || _queue is null) return;
        _completed = true;
        // Completing the queue lets every offered change flow to the endpoint; the delivery
        // actor reports the drain once the last batch is done.
        _queue.Complete();
    }

    protected override void PostStop()
    {
        _stopping.Cancel();
        try
        {
            _source.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
        }
        catch (Exception e)
        {
            _log.Warning(e, "Closing the source connector failed");
        }
        _stopping.Dispose();
    }
}
