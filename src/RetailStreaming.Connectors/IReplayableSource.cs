using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors;

/// <summary>
/// A source that can deliver again changes the workflow already delivered, as far back as it still
/// holds them (<c>rsctl workflow replay</c>). A source that cannot go back does not implement it.
/// </summary>
public interface IReplayableSource
{
    /// <summary>
    /// How far back a replay can start now: every change after <see cref="ReplayReach.Earliest"/> can
    /// be read again, in order and complete. <paramref name="checkpoint"/> is the workflow's persisted
    /// checkpoint (what the source may release, with its retention, while the replay runs).
    /// </summary>
    Task<ReplayReach> GetReplayReachAsync(SourcePosition checkpoint, CancellationToken cancellationToken);
}

/// <summary>How far back a source can replay.</summary>
/// <param name="Earliest">The lowest position a replay can start after without missing a change.</param>
/// <param name="Explanation">Why it cannot go further back, and what to do for older data (shown to the operator).</param>
public sealed record ReplayReach(SourcePosition Earliest, string Explanation);

/// <summary>A source that can read a captured table again, whole, while streaming goes on ("re-snapshot").</summary>
public interface ISnapshotSource
{
    /// <summary>The captured tables, as the source names them (after <see cref="IChangeSource.PrepareAsync"/>).</summary>
    IReadOnlyList<string> CapturedTables { get; }

    /// <summary>
    /// Asks for a new snapshot of one captured table: its rows arrive again as
    /// <see cref="ChangeOperation.Read"/> events, in order with the changes. Returns the snapshot id.
    /// </summary>
    /// <exception cref="ArgumentException">The table is not captured.</exception>
    Task<string> RequestSnapshotAsync(string table, CancellationToken cancellationToken);
}
