using RetailStreaming.Connectors;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>
/// A client database in memory: a growing list of changes at positions <c>mem:0000000001</c>,
/// <c>mem:0000000002</c>, ... that tests append to while the workflow runs. Each stream
/// generation opens its own reader on it (the actor disposes its reader on every teardown); the
/// log records what the workflow confirmed.
/// </summary>
public sealed class MemoryChangeLog
{
    /// <summary>The row column that makes <see cref="MarkerTransform"/> throw.</summary>
    public const string PoisonColumn = "poison";

    private readonly object _gate = new();
    private readonly List<ChangeEvent> _changes = [];
    private readonly List<SourcePosition> _confirmed = [];
    private int _failReads;
    private int _readers;
    private int _openReaders;

    /// <summary>The position of the n-th change (1-based).</summary>
    public static SourcePosition PositionOf(long n) => new("mem:" + n.ToString("D10"));

    /// <summary>The sequence number of a position written by <see cref="PositionOf"/>.</summary>
    public static long SequenceOf(SourcePosition position) => long.Parse(position.Value.AsSpan(4));

    /// <summary>
    /// Appends <paramref name="count"/> inserts to the tickets table; <paramref name="poison"/> marks some of them;
    /// <paramref name="idOf"/> gives change n the row id of another (a later change of the same row), else n.
    /// </summary>
    public IReadOnlyList<ChangeEvent> Append(int count, Func<long, bool>? poison = null, Func<long, long>? idOf = null)
    {
        lock (_gate)
        {
            var added = new List<ChangeEvent>(count);
            for (var i = 0; i < count; i++)
            {
                long n = _changes.Count + 1;
                var id = idOf?.Invoke(n) ?? n;
                var row = new Dictionary<string, object?> { ["id"] = id, ["total"] = n * 1.5m };
                if (poison?.Invoke(n) == true) row[PoisonColumn] = true;
                var change = new ChangeEvent(
                    "mem:retail", "tickets", ChangeOperation.Insert,
                    new RowData(new Dictionary<string, object?> { ["id"] = id }),
                    null, new RowData(row), DateTimeOffset.UtcNow, PositionOf(n));
                _changes.Add(change);
                added.Add(change);
            }
            return added;
        }
    }

    /// <summary>Appends one change of the tickets row <paramref name="id"/>: an insert or update carries the row, a delete its key.</summary>
    public ChangeEvent AppendChange(ChangeOperation operation, long id, decimal total)
    {
        lock (_gate)
        {
            var row = new RowData(new Dictionary<string, object?> { ["id"] = id, ["total"] = total });
            var key = new RowData(new Dictionary<string, object?> { ["id"] = id });
            var change = new ChangeEvent(
                "mem:retail", "tickets", operation, key,
                operation == ChangeOperation.Delete ? row : null,
                operation == ChangeOperation.Delete ? null : row,
                DateTimeOffset.UtcNow, PositionOf(_changes.Count + 1));
            _changes.Add(change);
            return change;
        }
    }

    /// <summary>Every change written so far.</summary>
    public IReadOnlyList<ChangeEvent> Changes
    {
        get { lock (_gate) return _changes.ToList(); }
    }

    /// <summary>Every position the workflow confirmed, in call order.</summary>
    public IReadOnlyList<SourcePosition> Confirmed
    {
        get { lock (_gate) return _confirmed.ToList(); }
    }

    /// <summary>How many readers the workflow opened (one per stream generation).</summary>
    public int ReadersOpened => Volatile.Read(ref _readers);

    /// <summary>Readers opened and not yet disposed.</summary>
    public int ReadersOpen => Volatile.Read(ref _openReaders);

    /// <summary>How far back a replay can start (what the source still holds); the start of the log by default.</summary>
    public SourcePosition ReplayEarliest { get; set; } = SourcePosition.Start;

    /// <summary>True once the workflow removed its capture (deleted).</summary>
    public bool CaptureRemoved { get; set; }

    /// <summary>When set, removing the capture fails with this message (as a database that refuses would).</summary>
    public string? FailCaptureRemoval { get; set; }

    /// <summary>The next <paramref name="count"/> reads throw, as a lost connection would.</summary>
    public void FailNextReads(int count) => Interlocked.Exchange(ref _failReads, count);

    /// <summary>A reader for one stream generation.</summary>
    public IChangeSource Open()
    {
        Interlocked.Increment(ref _readers);
        Interlocked.Increment(ref _openReaders);
        return new Reader(this);
    }

    private sealed class Reader(MemoryChangeLog log) : IChangeSource, IReplayableSource
    {
        public Task<ReplayReach> GetReplayReachAsync(SourcePosition checkpoint, CancellationToken cancellationToken) =>
            Task.FromResult(new ReplayReach(log.ReplayEarliest, "the in-memory log forgot what came before"));

        private int _disposed;

        public Task PrepareAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<IReadOnlyList<ChangeEvent>> ReadAsync(SourcePosition after, int maxCount, CancellationToken cancellationToken)
        {
            if (Interlocked.Decrement(ref log._failReads) >= 0)
                throw new IOException("in-memory source: connection lost (scripted)");
            lock (log._gate)
            {
                // Positions are dense: change n sits at index n - 1.
                var from = after.IsStart ? 0 : (int)SequenceOf(after);
                IReadOnlyList<ChangeEvent> batch = log._changes.Skip(from).Take(maxCount).ToList();
                return Task.FromResult(batch);
            }
        }

        public Task ConfirmAsync(SourcePosition checkpoint, CancellationToken cancellationToken)
        {
            lock (log._gate) log._confirmed.Add(checkpoint);
            return Task.CompletedTask;
        }

        public Task<SourceLag> GetLagAsync(SourcePosition position, CancellationToken cancellationToken)
        {
            lock (log._gate)
            {
                var read = position.IsStart ? 0 : SequenceOf(position);
                return Task.FromResult(new SourceLag(log._changes.Count - read, null, null));
            }
        }

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Interlocked.Decrement(ref log._openReaders);
            return ValueTask.CompletedTask;
        }
    }
}
