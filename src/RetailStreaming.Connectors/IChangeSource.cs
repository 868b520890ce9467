using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors;

/// <summary>
/// A source connector: reads a client database's row changes in commit order from a position.
/// </summary>
/// <remarks>
/// The capture actor owns one instance per stream materialization and calls it from one thread
/// at a time. Positions are the connector's own (see <see cref="SourcePosition"/>).
/// </remarks>
public interface IChangeSource : IAsyncDisposable
{
    /// <summary>
    /// Checks the source and prepares capture (change tables and triggers, publications and slots,
    /// the initial snapshot when nothing was captured yet). Throws
    /// <see cref="SourceConfigurationException"/> with a clear reason when capture cannot work.
    /// Idempotent: called again after every restart.
    /// </summary>
    Task PrepareAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Reads up to <paramref name="maxCount"/> changes whose position is after <paramref name="after"/>,
    /// in commit order. Returns an empty list when there is nothing new (the caller polls again later).
    /// </summary>
    Task<IReadOnlyList<ChangeEvent>> ReadAsync(SourcePosition after, int maxCount, CancellationToken cancellationToken);

    /// <summary>
    /// Tells the source that every change at or below <paramref name="checkpoint"/> is delivered or
    /// durably stored by the platform, so that it may release them (prune the change table, advance
    /// the slot). Only ever called with a persisted checkpoint.
    /// </summary>
    Task ConfirmAsync(SourcePosition checkpoint, CancellationToken cancellationToken);

    /// <summary>How far the source is ahead of <paramref name="position"/>: changes waiting and the age of the oldest, where the source can tell.</summary>
    Task<SourceLag> GetLagAsync(SourcePosition position, CancellationToken cancellationToken);

    /// <summary>
    /// True when <see cref="ReadAsync"/> itself waits a while for a first change (a streaming
    /// source), so the caller reads again at once after an empty read instead of sleeping, which
    /// would only delay a change that arrives meanwhile. False by default (a polled source).
    /// </summary>
    bool WaitsForChanges => false;
}

/// <summary>How far a source is ahead of the capture.</summary>
/// <param name="PendingChanges">Changes written but not yet read, or null when the source cannot count them.</param>
/// <param name="PendingBytes">Bytes retained for the capture (WAL for PostgreSQL), or null.</param>
/// <param name="OldestPendingAge">Age of the oldest change not yet read, or null when nothing is pending.</param>
public sealed record SourceLag(long? PendingChanges, long? PendingBytes, TimeSpan? OldestPendingAge)
{
    /// <summary>Nothing pending.</summary>
    public static SourceLag None { get; } = new(0, null, null);
}

/// <summary>Capture cannot work with the source as configured; the message says why and what to change.</summary>
public sealed class SourceConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
