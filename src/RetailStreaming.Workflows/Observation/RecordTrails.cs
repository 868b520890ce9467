using System.Collections.Concurrent;
using Akka.Actor;
using RetailStreaming.Connectors;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Observation;

/// <summary>
/// The recent records of each workflow this node hosts, for the support view ("what became of the
/// change of row X?"): a ring of the last <see cref="Capacity"/> changes per workflow (position,
/// table, key, commit, capture and delivery times, transform version, outcome, requests), in memory
/// only. The ring holds the change's key row, never its data, so its cost is bounded by the capacity
/// (about 200 bytes a change). A change older than the ring, or on a node that restarted, is not
/// found here; its dead letter, if any, stays in the platform store.
/// </summary>
public sealed class RecordTrails : IExtension
{
    /// <summary>Changes kept per workflow unless configured (<c>Pages:TrailRecords</c>).</summary>
    public const int DefaultCapacity = 10_000;

    private readonly ConcurrentDictionary<string, WorkflowTrail> _trails = new(StringComparer.Ordinal);

    /// <summary>Most changes kept per workflow; set once at node start.</summary>
    public int Capacity { get; set; } = DefaultCapacity;

    /// <summary>The trails of <paramref name="system"/>.</summary>
    public static RecordTrails Get(ActorSystem system) => system.WithExtension<RecordTrails, RecordTrailsProvider>();

    internal WorkflowTrail For(string workflowId) => _trails.GetOrAdd(workflowId, _ => new WorkflowTrail(Math.Max(1, Capacity)));

    /// <summary>A read of the capture, up to <paramref name="last"/>, was taken now.</summary>
    public void NoteCaptured(string workflowId, SourcePosition last) => For(workflowId).NoteCaptured(last, DateTimeOffset.UtcNow);

    /// <summary>A delivery request failed and will be retried: recorded with the batch being delivered.</summary>
    public void NoteRetry(string workflowId, DateTimeOffset at, string reason) =>
        For(workflowId).NoteRetry(new RecordTrailAttempt(at, null, Shorten(reason)));

    /// <summary>What became of a delivered batch's changes.</summary>
    internal void Delivered(string workflowId, IReadOnlyList<TransformedChange> batch, DeliveryResult? result)
    {
        var refused = new Dictionary<SourcePosition, RefusedRecord>();
        if (result is not null)
            foreach (var r in result.Refused)
                refused.TryAdd(r.Record.Position, r);
        var trail = For(workflowId);
        var now = DateTimeOffset.UtcNow;
        // The failed requests noted while this batch was being delivered, then its answer.
        var retries = trail.TakeRetries();
        foreach (var item in batch)
        {
            var c = item.Change;
            string outcome;
            string? answer = null;
            IReadOnlyList<RecordTrailAttempt>? attempts = null;
            if (item.DeadLettered)
            {
                outcome = "transform-rejected";
                answer = "the transform rejected the change; it is in the dead-letter store";
            }
            else if (item.Outputs.Count == 0)
            {
                outcome = "dropped";
                answer = "the transform made no record of it";
            }
            else if (refused.TryGetValue(c.Position, out var r))
            {
                outcome = "refused";
                answer = Shorten(r.Reason);
                attempts = r.Attempts?.Select(a => new RecordTrailAttempt(a.At, a.StatusCode, Shorten(a.Detail))).ToList();
            }
            else
            {
                outcome = "delivered";
                if (retries.Count > 0) attempts = [.. retries, new RecordTrailAttempt(now, null, "accepted (2xx)")];
            }
            trail.Add(new TrailSlot(c.Table, c.Operation, c.Key, c.Position, c.CommitTime, trail.CapturedAt(c.Position), now,
                item.TransformVersion, item.Outputs.Count, outcome, result?.Attempts ?? 0, answer, attempts));
        }
    }

    /// <summary>The changes of a workflow whose key matches, newest first, and how far the trail reaches.</summary>
    public Observations.RecordsFound Find(string node, Observations.FindRecords query)
    {
        if (!_trails.TryGetValue(query.WorkflowId, out var trail))
            return new Observations.RecordsFound(node, [], 0, Capacity, null);
        var (matches, held, oldest) = trail.Find(query.Key.Trim(), query.Table, Math.Clamp(query.Limit, 1, 1000));
        return new Observations.RecordsFound(node,
            matches.Select(s => s.ToEntry(query.WorkflowId)).ToList(), held, Capacity, oldest);
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private sealed class RecordTrailsProvider : ExtensionIdProvider<RecordTrails>
    {
        public override RecordTrails CreateExtension(ExtendedActorSystem system) => new();
    }
}

/// <summary>
/// One change in a trail (the key row by reference; its JSON is made only when looked up). A struct,
/// held in the ring's array: the trail allocates nothing per change.
/// </summary>
internal readonly record struct TrailSlot(
    string Table, ChangeOperation Operation, RowData Key, SourcePosition Position, DateTimeOffset CommitTime,
    DateTimeOffset? CapturedAt, DateTimeOffset FinishedAt, string TransformVersion, int Records, string Outcome,
    int Requests, string? Answer, IReadOnlyList<RecordTrailAttempt>? Attempts)
{
    public string KeyJson => ChangeEventJson.RowToJson(Key).ToJsonString();

    /// <summary>The key as typed in a search: its compact JSON, its only value, or its values joined by commas.</summary>
    public bool KeyMatches(string text)
    {
        if (Key.Count == 0) return false;
        var values = string.Join(",", Key.Select(kv => Value(kv.Value)));
        return string.Equals(values, text, StringComparison.Ordinal) || string.Equals(KeyJson, text, StringComparison.Ordinal);
    }

    private static string Value(object? v) => v switch
    {
        null => "null",
        string s => s,
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        var o => o.ToString() ?? "",
    };

    public RecordTrailEntry ToEntry(string workflowId)
    {
        var position = Position;
        return new(Table, Operation.ToString().ToLowerInvariant(), KeyJson, position.Value, CommitTime, CapturedAt, FinishedAt,
            TransformVersion, Records, Outcome, Requests, Answer, Attempts,
            Enumerable.Range(0, Records).Select(i => IdempotencyKey.For(workflowId, position, i)).ToList());
    }
}

/// <summary>One workflow's ring of changes and of capture reads; safe to use from several threads.</summary>
internal sealed class WorkflowTrail(int capacity)
{
    private const int ReadCapacity = 4096;
    private readonly Lock _lock = new();
    // Grown by doubling up to the capacity, so that a quiet workflow's ring stays small.
    private TrailSlot[] _slots = new TrailSlot[Math.Min(capacity, 64)];
    private int _next;
    private int _count;
    private readonly (SourcePosition Last, DateTimeOffset At)[] _reads = new (SourcePosition, DateTimeOffset)[ReadCapacity];
    private int _nextRead;
    private int _readCount;

    public void NoteCaptured(SourcePosition last, DateTimeOffset at)
    {
        lock (_lock)
        {
            _reads[_nextRead] = (last, at);
            _nextRead = (_nextRead + 1) % ReadCapacity;
            _readCount = Math.Min(_readCount + 1, ReadCapacity);
        }
    }

    /// <summary>
    /// When the read holding <paramref name="position"/> was taken: reads come in source order, so it
    /// is the oldest of the newest run of reads ending at or after it (a restart reads positions again).
    /// </summary>
    public DateTimeOffset? CapturedAt(SourcePosition position)
    {
        lock (_lock)
        {
            DateTimeOffset? found = null;
            for (var i = 1; i <= Math.Min(_readCount, 256); i++)
            {
                var (last, at) = _reads[(_nextRead - i + ReadCapacity) % ReadCapacity];
                if (string.CompareOrdinal(last.Value, position.Value) < 0) break;
                found = at;
            }
            return found;
        }
    }

    private const int RetryCapacity = 20;
    private readonly Queue<RecordTrailAttempt> _retries = new();

    /// <summary>A failed request of the batch being delivered (the last few are kept).</summary>
    public void NoteRetry(RecordTrailAttempt attempt)
    {
        lock (_lock)
        {
            _retries.Enqueue(attempt);
            if (_retries.Count > RetryCapacity) _retries.Dequeue();
        }
    }

    /// <summary>The failed requests noted since the last batch, which are now the finished batch's.</summary>
    public IReadOnlyList<RecordTrailAttempt> TakeRetries()
    {
        lock (_lock)
        {
            if (_retries.Count == 0) return [];
            var taken = _retries.ToList();
            _retries.Clear();
            return taken;
        }
    }

    public void Add(TrailSlot slot)
    {
        lock (_lock)
        {
            if (_count == _slots.Length && _slots.Length < capacity)
            {
                // Full before it ever wrapped: the oldest is at 0 and the ring goes on after it.
                var bigger = new TrailSlot[Math.Min(capacity, _slots.Length * 2)];
                Array.Copy(_slots, bigger, _count);
                _slots = bigger;
                _next = _count;
            }
            _slots[_next] = slot;
            _next = (_next + 1) % _slots.Length;
            _count = Math.Min(_count + 1, _slots.Length);
        }
    }

    public (List<TrailSlot> Matches, int Held, DateTimeOffset? Oldest) Find(string key, string? table, int limit)
    {
        TrailSlot[] copy;
        lock (_lock)
        {
            copy = new TrailSlot[_count];
            for (var i = 0; i < _count; i++)
                copy[i] = _slots[(_next - 1 - i + _slots.Length) % _slots.Length];
        }
        // Matched outside the lock: the delivery never waits for a lookup.
        var matches = copy.Where(s => (table is null || s.Table == table) && s.KeyMatches(key)).Take(limit).ToList();
        return (matches, copy.Length, copy.Length == 0 ? null : copy[^1].FinishedAt);
    }
}
