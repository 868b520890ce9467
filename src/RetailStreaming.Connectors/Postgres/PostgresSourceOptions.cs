namespace RetailStreaming.Connectors.Postgres;

/// <summary>Settings of a <see cref="PostgresLogicalSource"/>; the defaults suit most workflows.</summary>
public sealed record PostgresSourceOptions
{
    /// <summary>The defaults.</summary>
    public static PostgresSourceOptions Default { get; } = new();

    /// <summary>
    /// How often a heartbeat message is written to the WAL (<c>pg_logical_emit_message</c>), so
    /// that the slot can advance while the captured tables are idle and other tables are written.
    /// <see cref="TimeSpan.Zero"/> turns heartbeats off. 10 seconds by default.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The most changes read from the replication stream and not yet taken by
    /// <see cref="PostgresLogicalSource.ReadAsync"/>. When the buffer is full the connector stops
    /// reading the replication socket, and the server's WAL sender waits. 2,000 by default (four reads
    /// of 500): enough to keep the capture fed, and what a draining node holds per workflow (10,000 before,
    /// when the node kept 52 to 74 MB in its GC's gen1 while draining; 6 to 8 MB with 2,000).
    /// </summary>
    public int MaxBufferedChanges { get; init; } = 2_000;

    /// <summary>How long a <see cref="PostgresLogicalSource.ReadAsync"/> waits for a first change when none is buffered. 150 ms by default.</summary>
    public TimeSpan ReadWait { get; init; } = TimeSpan.FromMilliseconds(150);

    /// <summary>
    /// How often the replication connection reports its position to the server, also while the
    /// buffer is full and the socket is not read. Must stay below the server's
    /// <c>wal_sender_timeout</c> (60 s by default), which drops a connection that does not report.
    /// 5 seconds by default.
    /// </summary>
    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the first read waits for the slot to be released by a previous connection that is still closing. 10 seconds by default.</summary>
    public TimeSpan SlotReleaseWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The most rows one chunk of an incremental snapshot reads (one short SELECT in primary-key
    /// order between two watermarks) and holds in memory until its high watermark arrives. 1,000 by default.
    /// </summary>
    public int SnapshotChunkSize { get; init; } = 1_000;

    internal void Validate()
    {
        if (SnapshotChunkSize is < 1 or > PostgresPosition.MaxIndex) throw new ArgumentOutOfRangeException(nameof(SnapshotChunkSize), SnapshotChunkSize, "Must be between 1 and 99,999,999.");
        if (HeartbeatInterval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HeartbeatInterval), HeartbeatInterval, "Cannot be negative.");
        if (MaxBufferedChanges < 1) throw new ArgumentOutOfRangeException(nameof(MaxBufferedChanges), MaxBufferedChanges, "Must be at least 1.");
        if (ReadWait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReadWait), ReadWait, "Cannot be negative.");
        if (StatusInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(StatusInterval), StatusInterval, "Must be positive.");
        if (SlotReleaseWait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(SlotReleaseWait), SlotReleaseWait, "Cannot be negative.");
    }
}
