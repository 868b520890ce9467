using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// Decides how far the replication slot may be confirmed: to the end of the last transaction whose
/// last change is at or below the platform's checkpoint, or to a heartbeat that follows only
/// confirmed transactions. Called from the replication task and from ConfirmAsync, so it locks.
/// </summary>
/// <remarks>
/// A slot confirmed to an LSN never sends again a transaction whose commit record lies below it
/// (<see href="https://www.postgresql.org/docs/15/protocol-replication.html">START_REPLICATION</see>
/// resumes at confirmed_flush_lsn). So the LSN reported is always a point between transactions that
/// the platform has fully stored: a commit end (only once its last change is checkpointed) or the end
/// of a non-transactional heartbeat message, which pgoutput sends after every transaction that
/// committed before it and before every one that commits after.
/// </remarks>
internal sealed class PostgresCommitTracker
{
    private readonly object _gate = new();
    private readonly Queue<Boundary> _pending = new();
    private SourcePosition _checkpoint = SourcePosition.Start;
    private ulong _flushed;
    private Action<ulong>? _report;

    /// <param name="LastChange">The position of the transaction's last change; null for a safe point without changes (heartbeat, empty transaction).</param>
    /// <param name="EndLsn">The LSN to confirm once this boundary is passed.</param>
    /// <param name="CommitTime">When the transaction committed; null for a safe point.</param>
    private readonly record struct Boundary(SourcePosition? LastChange, ulong EndLsn, DateTimeOffset? CommitTime);

    /// <summary>The highest LSN reported to the server as flushed (0 before the first).</summary>
    public ulong Flushed
    {
        get { lock (_gate) return _flushed; }
    }

    /// <summary>The highest checkpoint confirmed so far.</summary>
    public SourcePosition Checkpoint
    {
        get { lock (_gate) return _checkpoint; }
    }

    /// <summary>The commit time of the oldest transaction received and not yet confirmed.</summary>
    public DateTimeOffset? OldestPendingCommit
    {
        get
        {
            lock (_gate)
            {
                foreach (var boundary in _pending)
                    if (boundary.CommitTime is { } time) return time;
                return null;
            }
        }
    }

    /// <summary>
    /// Connects the tracker to a replication connection: <paramref name="report"/> sets the flushed
    /// LSN it sends. Boundaries of an earlier connection are dropped: the new one receives again
    /// every transaction that was not confirmed.
    /// </summary>
    public void Attach(Action<ulong> report)
    {
        lock (_gate)
        {
            _pending.Clear();
            _report = report;
            // What was confirmed on the previous connection may not have reached the server yet.
            if (_flushed > 0) report(_flushed);
        }
    }

    /// <summary>Disconnects the tracker from its replication connection.</summary>
    public void Detach()
    {
        lock (_gate) _report = null;
    }

    /// <summary>A transaction with changes committed; returns the LSN now to confirm, or null when nothing moved.</summary>
    public ulong? Committed(SourcePosition lastChange, ulong endLsn, DateTimeOffset commitTime)
    {
        lock (_gate)
        {
            _pending.Enqueue(new Boundary(lastChange, endLsn, commitTime));
            return Drain();
        }
    }

    /// <summary>A point between transactions with nothing to deliver before it since the previous boundary; returns the LSN now to confirm, or null.</summary>
    public ulong? SafePoint(ulong lsn)
    {
        lock (_gate)
        {
            // Consecutive safe points behind an unconfirmed transaction: only the last one matters.
            if (_pending.Count > 0 && _pending.Last() is { LastChange: null })
            {
                var kept = _pending.ToArray();
                _pending.Clear();
                foreach (var b in kept.AsSpan(0, kept.Length - 1)) _pending.Enqueue(b);
            }
            _pending.Enqueue(new Boundary(null, lsn, null));
            return Drain();
        }
    }

    /// <summary>The platform stored everything at or below <paramref name="checkpoint"/>; returns the LSN now to confirm, or null.</summary>
    public ulong? Confirm(SourcePosition checkpoint)
    {
        lock (_gate)
        {
            _checkpoint = SourcePosition.Max(_checkpoint, checkpoint);
            return Drain();
        }
    }

    private ulong? Drain()
    {
        ulong? candidate = null;
        while (_pending.TryPeek(out var head) && (head.LastChange is null || head.LastChange.Value <= _checkpoint))
        {
            _pending.Dequeue();
            candidate = head.EndLsn;
        }
        if (candidate is not { } lsn || lsn <= _flushed) return null;
        _flushed = lsn;
        _report?.Invoke(lsn);
        return lsn;
    }
}
