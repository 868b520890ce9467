using System.Diagnostics;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Event;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using DeadLetter = RetailStreaming.Store.DeadLetter;
using RetailStreaming.Transforms;
using static RetailStreaming.Workflows.StreamProtocol;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Workflows.Delivery;

/// <summary>
/// The end of the workflow's stream (<c>Sink.ActorRefWithAck</c>). Records go into
/// <c>delivery.parallelism</c> lanes by record key (type and key); each lane sends one request at a
/// time, in the order its records arrived, so records of one key keep source order (one lane: the
/// whole workflow does). What the endpoint refuses for good is dead-lettered, or with
/// <c>onRefused: park</c> parks its key: that record and every later one of its key are stored, in
/// order, and not sent, while other keys go on.
/// </summary>
/// <remarks>
/// The checkpoint is a low-water mark: batches are reported to the workflow (<see cref="BatchDone"/>)
/// in stream order, each once every record of it and of the batches before it is accepted,
/// dead-lettered or parked and stored. So it never passes an undelivered or unstored record; after a
/// crash, what lies above it may be delivered again, with the same idempotency keys. The actor holds
/// at most <c>parallelism</c> batches (one with a single lane, so nothing is read ahead of today's
/// strict order), and acknowledges the stream only below that.
/// </remarks>
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
    private readonly DeliveryGate _gate;
    private readonly int _maxRecords;
    private readonly int _capacity;
    private readonly bool _park;
    private readonly Lane[] _lanes;
    private readonly StreamSignals? _signals;

    // Batches in stream order, from arrival until reported.
    private readonly LinkedList<BatchState> _batches = new();
    private long _nextSeq;
    private IActorRef? _pendingAck;
    private bool _streamCompleted;

    // Leases of the gate, one per batch; released when the batch is reported, or when the actor stops.
    private readonly object _leaseLock = new();
    private readonly HashSet<IDisposable> _leases = new(ReferenceEqualityComparer.Instance);
    private bool _stopped;

    // Park mode: keys with an open delivery dead letter (refused or parked).
    private HashSet<(string Type, string Key)>? _parked;
    private long _gateEntriesSeen = -1;

    public DeliveryActor(IDeliverySink sink, IDeadLetterStore deadLetters, string workflowId, string clientId, int generation, IActorRef workflow, ILoggingAdapter log, CancellationToken generationCancelled,
        int parallelism, string onRefused, int maxRecords, StreamSignals? signals = null)
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
        _maxRecords = Math.Max(1, maxRecords);
        _capacity = Math.Max(1, parallelism);
        _park = onRefused == DeliveryDefinition.ParkRefused;
        _signals = signals;
        _lanes = Enumerable.Range(0, Math.Max(1, parallelism)).Select(i => new Lane(i)).ToArray();

        Receive<StreamInit>(_ => Sender.Tell(Ack.Instance));
        Receive<IReadOnlyList<TransformedChange>>(Arrived);
        ReceiveAsync<Leased>(OnLeasedAsync);
        ReceiveAsync<LaneDone>(OnLaneDoneAsync);
        // The sink or the store failed (not a refusal): fail as a delivery would, so the workflow rebuilds.
        Receive<Status.Failure>(f => System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(f.Cause).Throw());
        // Completion arrives after the last batch; the workflow hears of it once that batch is reported.
        Receive<StreamCompleted>(_ =>
        {
            _streamCompleted = true;
            if (_batches.Count == 0) _workflow.Tell(new DeliveryDrained(_generation));
            else Dispatch(); // lanes waiting for fuller requests wait no more
        });
        Receive<StreamFailed>(f => _workflow.Tell(new StreamFailed(_generation, f.Cause)));
    }

    private sealed record Leased(long Seq, IDisposable Lease);

    private sealed record LaneDone(int Lane, IReadOnlyList<Done> Items, IReadOnlyList<(string Type, string Key)> NewlyParked, int Requests, TimeSpan Elapsed);

    private enum Outcome { Accepted, DeadLettered, Parked }

    // Structs: one of each per delivered record.
    private readonly record struct Done(Pending Item, Outcome Outcome, RefusedRecord? Refusal = null);

    private readonly record struct Pending(DeliveryRecord Record, TransformedChange Change, BatchState Batch);

    private sealed class BatchState(long seq, IReadOnlyList<TransformedChange> changes)
    {
        public long Seq { get; } = seq;
        public IReadOnlyList<TransformedChange> Changes { get; } = changes;
        public IDisposable? Lease;
        public bool Distributed;
        public int Outstanding;
        public int Accepted;
        public int DeadLettered = changes.Count(c => c.DeadLettered);
        public readonly HashSet<SourcePosition> Refused = [];
        /// <summary>Why its refused and parked records were set aside (for the record trail).</summary>
        public readonly List<RefusedRecord> Refusals = [];
    }

    private sealed class Lane(int index)
    {
        public int Index { get; } = index;
        public readonly Queue<Pending> Queue = new();
        public bool Busy;
    }

    private void Arrived(IReadOnlyList<TransformedChange> batch)
    {
        var state = new BatchState(++_nextSeq, batch);
        _batches.AddLast(state);
        if (_batches.Count < _capacity) Sender.Tell(Ack.Instance);
        else _pendingAck = Sender;

        // Held from before its first record is sent until its rows are superseded: a redrive waits for it.
        var self = Self;
        var seq = state.Seq;
        _gate.EnterSharedAsync(_stopping.Token).ContinueWith(t =>
        {
            if (!t.IsCompletedSuccessfully) return; // cancelled: the actor is stopping
            lock (_leaseLock)
            {
                if (_stopped)
                {
                    t.Result.Dispose();
                    return;
                }
                _leases.Add(t.Result);
            }
            self.Tell(new Leased(seq, t.Result));
        }, TaskScheduler.Default);
    }

    private async Task OnLeasedAsync(Leased m)
    {
        var state = _batches.FirstOrDefault(b => b.Seq == m.Seq);
        if (state is null)
        {
            Release(m.Lease);
            return;
        }
        state.Lease = m.Lease;
        // Leases may be granted out of order; records enter the lanes in stream order.
        foreach (var b in _batches)
        {
            if (b.Distributed) continue;
            if (b.Lease is null) break;
            await DistributeAsync(b);
        }
        await CompleteAsync();
        Dispatch();
    }

    private async Task DistributeAsync(BatchState batch)
    {
        if (_park)
        {
            // A redrive may have delivered parked records since (it ran while no batch held the gate,
            // so no parked key has a record in the lanes now): read the parked keys again.
            var entries = _gate.ExclusiveEntries;
            if (_parked is null || entries != _gateEntriesSeen)
            {
                _parked = await ParkedKeysAsync();
                _gateEntriesSeen = entries;
            }
        }
        foreach (var item in batch.Changes)
        {
            var c = item.Change;
            for (var i = 0; i < item.Outputs.Count; i++)
            {
                var output = item.Outputs[i];
                var record = new DeliveryRecord(IdempotencyKey.For(_workflowId, c.Position, i), _workflowId, c.Position, i,
                    c.Table, c.Operation, c.CommitTime, output)
                {
                    TransformVersion = item.TransformVersion,
                    PayloadJson = item.PayloadJson is { } json && json.Count == item.Outputs.Count ? json[i] : null,
                };
                _lanes[LaneOf(output)].Queue.Enqueue(new Pending(record, item, batch));
                batch.Outstanding++;
            }
        }
        batch.Distributed = true;
    }

    private int LaneOf(OutputRecord r) =>
        _lanes.Length == 1 ? 0 : (int)((uint)HashCode.Combine(r.Type, r.Key) % (uint)_lanes.Length);

    /// <summary>
    /// Starts a request on every idle lane that has records: up to batching.maxRecords of them, in
    /// lane order. A lane sends at once when it holds records of the oldest batch (the low-water mark
    /// waits for it), a full request, or when no more batches can come (the actor holds all it may, or
    /// the stream ended); otherwise it waits for more, so that many lanes do not cut every batch into
    /// many small requests.
    /// </summary>
    private void Dispatch()
    {
        var oldest = _batches.First?.Value;
        var noMoreComing = _batches.Count >= _capacity || _streamCompleted;
        foreach (var lane in _lanes)
        {
            if (lane.Busy || lane.Queue.Count == 0) continue;
            if (!noMoreComing && lane.Queue.Count < _maxRecords && lane.Queue.Peek().Batch != oldest) continue;
            var send = new List<Pending>(Math.Min(_maxRecords, lane.Queue.Count));
            var park = new List<Pending>();
            while (send.Count + park.Count < _maxRecords && lane.Queue.TryDequeue(out var item))
            {
                if (_parked is not null && _parked.Contains(KeyOf(item.Record))) park.Add(item);
                else send.Add(item);
            }
            lane.Busy = true;
            var index = lane.Index;
            // On the thread pool, not in this handler: called from an async handler, the request's
            // serialization, signing and every continuation would run on the actor's own scheduler,
            // one lane after the other, and hold up the bookkeeping of the others. The lane touches
            // no actor state; its outcome comes back as a message.
            Task.Run(() => RunLaneAsync(index, send, park)).PipeTo(Self);
        }
    }

    private static (string Type, string Key) KeyOf(DeliveryRecord r) => (r.Record.Type, r.Record.Key);

    /// <summary>One request of a lane (on the thread pool, never on the actor's thread): sends, then stores what was refused or parked.</summary>
    private async Task<LaneDone> RunLaneAsync(int lane, List<Pending> send, List<Pending> park)
    {
        var done = new List<Done>(send.Count + park.Count);
        var newlyParked = new List<(string, string)>();
        var started = Stopwatch.GetTimestamp();
        var requests = 0;
        if (send.Count > 0)
        {
            // The sink's attempts are children of this span (Activity.Current flows into the sink).
            // The changes are listed only when someone traces: this runs for every request.
            using var span = _signals is { IsTracing: true } signals
                ? signals.StartDelivery(send.Select(p => p.Change).Distinct(ReferenceEqualityComparer.Instance).Cast<TransformedChange>().ToList())
                : null;
            var records = new DeliveryRecord[send.Count];
            for (var i = 0; i < records.Length; i++) records[i] = send[i].Record;
            var result = await _sink.DeliverAsync(records, _stopping.Token);
            requests = result.Attempts;
            // Only a request with refused or held records needs to find their items.
            Dictionary<DeliveryRecord, Pending>? byRecordMap = null;
            Dictionary<DeliveryRecord, Pending> ByRecord()
            {
                if (byRecordMap is null)
                {
                    byRecordMap = new Dictionary<DeliveryRecord, Pending>(ReferenceEqualityComparer.Instance);
                    foreach (var p in send) byRecordMap[p.Record] = p;
                }
                return byRecordMap;
            }
            var refused = new HashSet<DeliveryRecord>(ReferenceEqualityComparer.Instance);
            foreach (var r in result.Refused)
            {
                var item = ByRecord()[r.Record];
                refused.Add(r.Record);
                _log.Warning("Endpoint refused record {IdempotencyKey} of change {Position}; {What}: {Reason}",
                    r.Record.IdempotencyKey, r.Record.Position, _park ? "parked its key" : "dead-lettered", r.Reason);
                await StoreAsync(item, r.Reason, r.Attempts);
                _workflow.Tell(new StageErrorReported(_generation, "delivery",
                    $"refused, {(_park ? "parked its key" : "dead-lettered")}: {r.Reason}", r.Record.Position.Value));
                done.Add(new Done(item, Outcome.DeadLettered, r));
                if (_park) newlyParked.Add(KeyOf(r.Record));
            }
            foreach (var h in result.Held)
            {
                refused.Add(h);
                var item = ByRecord()[h];
                await StoreAsync(item, ParkedReason(h), null);
                done.Add(new Done(item, Outcome.Parked, new RefusedRecord(h, ParkedReason(h))));
            }
            foreach (var p in send)
                if (refused.Count == 0 || !refused.Contains(p.Record)) done.Add(new Done(p, Outcome.Accepted));
        }
        foreach (var p in park)
        {
            await StoreAsync(p, ParkedReason(p.Record), null);
            done.Add(new Done(p, Outcome.Parked, new RefusedRecord(p.Record, ParkedReason(p.Record))));
        }
        return new LaneDone(lane, done, newlyParked, requests, Stopwatch.GetElapsedTime(started));
    }

    private static string ParkedReason(DeliveryRecord r) =>
        $"parked: an earlier record of key {r.Record.Type}/{r.Record.Key} was refused; redrive its records in order to release the key";

    private Task StoreAsync(Pending item, string reason, IReadOnlyList<DeliveryAttempt>? attempts) =>
        _deadLetters.AddAsync(new DeadLetter(
            0, _workflowId, _clientId, "delivery", item.Record.Position.Value, item.Record.OutputIndex,
            item.Change.TransformVersion, reason, ChangeEventJson.Serialize(item.Change.Change),
            WebhookRecordJson(item.Record), DateTimeOffset.UtcNow,
            attempts?.Select(a => new DeadLetterAttempt(a.At, a.StatusCode, a.Detail)).ToList()), _stopping.Token);

    private async Task OnLaneDoneAsync(LaneDone m)
    {
        _lanes[m.Lane].Busy = false;
        foreach (var d in m.Items)
        {
            var batch = d.Item.Batch;
            batch.Outstanding--;
            if (d.Outcome == Outcome.Accepted)
            {
                batch.Accepted++;
            }
            else
            {
                batch.DeadLettered++;
                // The change of a refused or parked record supersedes nothing: it opens its row.
                batch.Refused.Add(d.Item.Record.Position);
                if (d.Refusal is { } refusal) batch.Refusals.Add(refusal);
            }
        }
        if (_park)
            foreach (var key in m.NewlyParked)
                _parked!.Add(key);
        _log.Debug("Lane {Lane}: {Records} records in {Elapsed} ms ({Requests} requests)", m.Lane, m.Items.Count, m.Elapsed.TotalMilliseconds, m.Requests);
        await CompleteAsync();
        Dispatch();
    }

    /// <summary>Reports, in stream order, the batches whose every record is done: the low-water mark moves.</summary>
    private async Task CompleteAsync()
    {
        while (_batches.First?.Value is { Distributed: true, Outstanding: 0 } batch)
        {
            // Before the acknowledgement: a redrive must see a row superseded once its later change is delivered.
            await _superseding.AfterBatchAsync(batch.Changes, batch.Refused, _stopping.Token);
            Observation.RecordTrails.Get(Context.System).Delivered(_workflowId, batch.Changes, new DeliveryResult(batch.Refusals, 0));
            _signals?.Delivered(batch.Changes, batch.Refused, batch.Refusals.Count);
            _batches.RemoveFirst();
            Release(batch.Lease);
            var last = batch.Changes[^1].Change;
            _workflow.Tell(new BatchDone(_generation, last.Position, batch.Changes.Count, batch.Accepted, batch.DeadLettered, last.CommitTime));
            if (_pendingAck is not null && _batches.Count < _capacity)
            {
                _pendingAck.Tell(Ack.Instance);
                _pendingAck = null;
            }
        }
        if (_streamCompleted && _batches.Count == 0)
        {
            _streamCompleted = false;
            _workflow.Tell(new DeliveryDrained(_generation));
        }
    }

    private void Release(IDisposable? lease)
    {
        if (lease is null) return;
        lock (_leaseLock) _leases.Remove(lease);
        lease.Dispose();
    }

    /// <summary>The keys with an open delivery dead letter: parked until a redrive delivers their records.</summary>
    private async Task<HashSet<(string Type, string Key)>> ParkedKeysAsync()
    {
        var keys = new HashSet<(string, string)>();
        long after = 0;
        while (true)
        {
            var page = await _deadLetters.ListAsync(_workflowId, after, DeadLetterStore.MaxPageSize, _stopping.Token);
            foreach (var letter in page)
            {
                if (letter.Stage != "delivery" || letter.Superseded is not null || letter.Redrive is { Outcome: DeadLetterStore.Delivered }) continue;
                if (letter.OutputJson is null) continue;
                try
                {
                    if (JsonNode.Parse(letter.OutputJson) is JsonObject o && o["type"]?.GetValue<string>() is { } type && o["key"]?.GetValue<string>() is { } key)
                        keys.Add((type, key));
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
                {
                    // A malformed stored record parks nothing: it cannot be redriven either.
                }
            }
            if (page.Count < DeadLetterStore.MaxPageSize) return keys;
            after = page[^1].Id;
        }
    }

    private static string WebhookRecordJson(DeliveryRecord r)
    {
        var json = new JsonObject
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
        lock (_leaseLock)
        {
            _stopped = true;
            foreach (var lease in _leases) lease.Dispose();
            _leases.Clear();
        }
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
