using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// Captures the changes of PostgreSQL tables through logical replication: one publication and one
/// pgoutput replication slot per workflow, read with Npgsql's replication protocol.
/// </summary>
/// <remarks>
/// <para><b>Objects in the client database.</b> The publication and the slot are both named
/// <see cref="PostgresCaptureNames.ObjectName"/> (<c>rs_</c> + the sanitized workflow id).
/// <see cref="PrepareAsync"/> checks the server, the user and the tables first, and creates or
/// updates the publication only when every check passed. The slot is created by the first
/// <see cref="ReadAsync"/> from <see cref="SourcePosition.Start"/>: only then does the connector know
/// that the workflow has no checkpoint. A first read after a checkpoint finds the slot gone (or lost,
/// <c>wal_status = lost</c>) and fails with a <see cref="SourceConfigurationException"/>: the slot is
/// never recreated past a checkpoint, which would skip the changes in between silently.
/// <see cref="RemoveCaptureAsync"/> drops both objects.</para>
/// <para><b>Positions</b> are <see cref="PostgresPosition"/>s: (commit LSN, index in the transaction).
/// After a restart the slot sends again everything after its confirmed LSN; changes at or below the
/// position the first read resumes after are dropped by position.</para>
/// <para><b>Reading.</b> A background task reads the replication stream into a buffer of at most
/// <see cref="PostgresSourceOptions.MaxBufferedChanges"/> changes; when it is full the task stops
/// reading the socket. <see cref="ReadAsync"/> returns what is buffered, waiting up to
/// <see cref="PostgresSourceOptions.ReadWait"/> for a first change.</para>
/// <para><b>Confirming.</b> <see cref="ConfirmAsync"/> moves the slot (flush and apply LSN of a
/// status update) to the end of the last transaction whose last change is at or below the
/// checkpoint, never into a transaction. Heartbeats (<c>pg_logical_emit_message</c> every
/// <see cref="PostgresSourceOptions.HeartbeatInterval"/>) let it move further once every delivered
/// transaction is confirmed, so that the slot does not hold WAL while the captured tables are idle.</para>
/// <para><b>Values</b>: see <see cref="PostgresValues"/> and the connector README.</para>
/// </remarks>
public sealed class PostgresLogicalSource : IChangeSource, IReplayableSource, ISnapshotSource
{
    /// <summary>The prefix of <see cref="SourceName"/>.</summary>
    public const string SourcePrefix = "postgres:";

    private readonly string _workflowId;
    private readonly IReadOnlyList<string> _tables;
    private readonly ILogger _logger;
    private readonly PostgresSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly PostgresCommitTracker _tracker = new();
    private readonly string? _connectionString;
    private readonly SourceConfigurationException? _connectionStringError;
    private NpgsqlDataSource? _catalog;
    private IReadOnlyList<string> _captured = [];
    private PostgresReplicationReader? _reader;
    private SourcePosition _lastReturned = SourcePosition.Start;
    private bool _prepared;
    private bool _disposed;

    /// <summary>Creates the source; nothing is opened until <see cref="PrepareAsync"/>.</summary>
    /// <param name="workflowId">The workflow capturing; names the publication and the slot.</param>
    /// <param name="connectionString">An Npgsql connection string to the client database (its user needs REPLICATION or superuser).</param>
    /// <param name="tables">The tables to capture: <c>schema.table</c>, or <c>table</c> in schema public.</param>
    /// <param name="logger">Where capture events are logged.</param>
    /// <param name="options">Heartbeats, buffer bound and timings; <see cref="PostgresSourceOptions.Default"/> when null.</param>
    /// <param name="timeProvider">The clock for lag ages; the system clock by default.</param>
    public PostgresLogicalSource(
        string workflowId,
        string connectionString,
        IReadOnlyList<string> tables,
        ILogger logger,
        PostgresSourceOptions? options = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workflowId);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(logger);
        if (tables.Count == 0)
            throw new ArgumentException("At least one table must be captured.", nameof(tables));
        if (tables.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("A table name cannot be empty.", nameof(tables));
        _options = options ?? PostgresSourceOptions.Default;
        _options.Validate();

        _workflowId = workflowId;
        _tables = tables.ToArray();
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        SlotName = PostgresCaptureNames.ObjectName(workflowId);
        PublicationName = SlotName;

        // A connection string that cannot be read is reported by PrepareAsync, like every other configuration error.
        var database = "invalid";
        try
        {
            (_connectionString, database) = SessionConnectionString(connectionString, workflowId);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            _connectionStringError = new SourceConfigurationException($"The PostgreSQL connection string is not valid: {e.Message}", e);
        }
        SourceName = SourcePrefix + database;
    }

    /// <summary>The <see cref="ChangeEvent.Source"/> of the changes: <c>postgres:</c> and the database name.</summary>
    public string SourceName { get; }

    /// <summary>The name of the workflow's replication slot.</summary>
    public string SlotName { get; }

    /// <summary>The name of the workflow's publication (the same as <see cref="SlotName"/>).</summary>
    public string PublicationName { get; }

    /// <summary>How many changes are read from the replication stream and wait for <see cref="ReadAsync"/> (at most <see cref="PostgresSourceOptions.MaxBufferedChanges"/>).</summary>
    public int BufferedChanges => _reader?.Buffered ?? 0;

    /// <summary>True unless <see cref="PostgresSourceOptions.ReadWait"/> is zero: a read waits for a first change itself.</summary>
    public bool WaitsForChanges => _options.ReadWait > TimeSpan.Zero;

    /// <summary>The LSN this source last confirmed to the server as flushed (0 before the first).</summary>
    public ulong ConfirmedLsn => _tracker.Flushed;

    /// <inheritdoc />
    /// <exception cref="SourceConfigurationException">
    /// Capture cannot work: the server is older than 14, wal_level is not logical, the user has
    /// neither REPLICATION nor superuser, no replication slot or WAL sender is free for a new slot, a
    /// table is missing or has neither a primary key nor REPLICA IDENTITY FULL, the existing slot is
    /// lost or not a pgoutput slot of this database, or the publication cannot be created. Every
    /// problem found is listed, and nothing is created when there is one.
    /// </exception>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await using var connection = await OpenCatalogAsync(cancellationToken);
        var tables = await PostgresCaptureSetup.PrepareAsync(connection, _workflowId, PublicationName, _tables, _logger, cancellationToken);
        _captured = tables.Select(t => t.Qualified).ToArray();
        _prepared = true;
        _logger.LogInformation("PostgreSQL capture of {Tables} prepared: publication and slot {Slot}",
            string.Join(", ", tables.Select(t => t.Qualified)), SlotName);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The first call starts the replication (creating the slot when the workflow starts from the
    /// beginning). A call with an earlier position than the last change returned starts the
    /// replication again from the slot. When the replication stopped with an error, the changes read
    /// before it are returned first, then the error is thrown: a
    /// <see cref="SourceConfigurationException"/> when the slot was lost, a
    /// <see cref="FormatException"/> naming the column for a value that cannot be read (never
    /// skipped), otherwise the connection's error (transient: the workflow restarts).
    /// </remarks>
    public async Task<IReadOnlyList<ChangeEvent>> ReadAsync(SourcePosition after, int maxCount, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        PostgresPosition.Parse(after);
        if (!_prepared) await PrepareAsync(cancellationToken);
        if (_reader is null || after < _lastReturned)
            await StartReplicationAsync(after, cancellationToken);

        var changes = _reader!.Changes;
        var batch = new List<ChangeEvent>(Math.Min(maxCount, 1024));
        Take(changes, after, maxCount, batch);
        if (batch.Count == 0 && _options.ReadWait > TimeSpan.Zero)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(_options.ReadWait);
            try
            {
                if (await changes.WaitToReadAsync(wait.Token))
                    Take(changes, after, maxCount, batch);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Nothing arrived in time.
            }
        }
        if (batch.Count == 0 && changes.Completion.IsCompleted)
            await changes.Completion;
        if (batch.Count > 0) _lastReturned = batch[^1].Position;
        return batch;
    }

    /// <inheritdoc />
    public async Task ConfirmAsync(SourcePosition checkpoint, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        PostgresPosition.Parse(checkpoint);
        var advanced = _tracker.Confirm(checkpoint);
        if (advanced is not null)
        {
            _logger.LogDebug("Slot {Slot} confirmed to {Lsn} (checkpoint {Checkpoint})", SlotName, PostgresPosition.FormatLsn(advanced.Value), checkpoint);
            if (_reader is not null) await _reader.SendStatusAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// <see cref="SourceLag.PendingBytes"/> is the WAL the slot keeps on the server's disk
    /// (<c>pg_current_wal_lsn() - restart_lsn</c>); <see cref="SourceLag.OldestPendingAge"/> the age of
    /// the oldest transaction received and not yet confirmed; the number of changes waiting in the WAL
    /// is not known (null).
    /// </remarks>
    public async Task<SourceLag> GetLagAsync(SourcePosition position, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await using var connection = await OpenCatalogAsync(cancellationToken);
        var bytes = await PostgresCaptureSetup.RetainedWalBytesAsync(connection, SlotName, cancellationToken);
        TimeSpan? age = null;
        if (_tracker.OldestPendingCommit is { } oldest)
        {
            var elapsed = _time.GetUtcNow() - oldest;
            age = elapsed < TimeSpan.Zero ? TimeSpan.Zero : elapsed;
        }
        return new SourceLag(null, bytes, age);
    }

    /// <inheritdoc />
    public IReadOnlyList<string> CapturedTables => _captured;

    /// <inheritdoc />
    /// <remarks>
    /// A slot never sends again a transaction whose commit lies below its confirmed_flush_lsn
    /// (<see href="https://www.postgresql.org/docs/15/protocol-replication.html">START_REPLICATION</see>),
    /// and the platform confirms only checkpointed transactions: a replay reaches back to the slot's
    /// confirmed position, usually only the last few seconds. Older data comes back with a re-snapshot.
    /// </remarks>
    public async Task<ReplayReach> GetReplayReachAsync(SourcePosition checkpoint, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await using var connection = await OpenCatalogAsync(cancellationToken);
        var slot = await PostgresCaptureSetup.ReadSlotAsync(connection, SlotName, cancellationToken)
                   ?? throw new SourceConfigurationException(
                       $"Replication slot {SlotName} does not exist, so nothing can be replayed; re-snapshot the tables instead (rsctl workflow snapshot {_workflowId}).");
        var confirmed = slot.ConfirmedFlush ?? 0;
        // Every transaction whose commit record is at or above the confirmed LSN is sent again; one
        // below it is not, so the earliest start is the very end of the transaction just before it.
        var earliest = confirmed == 0 ? SourcePosition.Start : PostgresPosition.Of(confirmed - 1, PostgresPosition.MaxIndex);
        return new ReplayReach(earliest,
            $"replication slot {SlotName} has confirmed everything before LSN {PostgresPosition.FormatLsn(confirmed)}, and PostgreSQL " +
            $"does not send a confirmed transaction again; for older data re-snapshot the table (rsctl workflow snapshot {_workflowId} --table <table>)");
    }

    /// <summary>
    /// Asks for a new snapshot of one captured table ("re-snapshot"): its rows arrive again as
    /// <see cref="ChangeOperation.Read"/> events, in chunks between watermarks, while streaming goes
    /// on. The request is written to the progress table and as a marker in the WAL, which the
    /// running replication picks up in stream order (or the next one, when none runs). Returns the
    /// snapshot id. A snapshot of the same table still running is abandoned for the new one.
    /// </summary>
    /// <exception cref="ArgumentException">The table is not one of the captured tables.</exception>
    public async Task<string> RequestSnapshotAsync(string table, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        if (!_prepared) await PrepareAsync(cancellationToken);
        var (schema, name) = PostgresCaptureNames.ParseTable(table);
        var qualified = _captured.FirstOrDefault(t => t == schema + "." + name)
                        ?? _captured.FirstOrDefault(t => t == (schema + "." + name).ToLowerInvariant())
                        ?? throw new ArgumentException($"Table '{table}' is not captured by workflow '{_workflowId}' (captured: {string.Join(", ", _captured)}).", nameof(table));
        await using var connection = await OpenCatalogAsync(cancellationToken);
        var id = await PostgresSnapshotProgress.RequestAsync(connection, SlotName, qualified, cancellationToken);
        _logger.LogInformation("Snapshot {Snapshot} of {Table} requested for slot {Slot}", id, qualified, SlotName);
        return id;
    }

    /// <summary>
    /// Removes a workflow's capture from a database: its replication slot (ending the connection
    /// that still uses it) and its publication. For deleting a workflow, or before a re-snapshot
    /// after the slot was lost; the client's tables are untouched.
    /// </summary>
    public static async Task RemoveCaptureAsync(string connectionString, string workflowId, ILogger? logger, CancellationToken cancellationToken) =>
        await PostgresCaptureTeardown.RunAsync(connectionString, workflowId, logger ?? NullLogger.Instance, cancellationToken);

    /// <summary>Stops the replication: its connection is closed, so the slot is no longer active.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (_reader is not null)
        {
            await _reader.DisposeAsync().ConfigureAwait(false);
            _reader = null;
        }
        if (_catalog is not null)
        {
            await _catalog.DisposeAsync().ConfigureAwait(false);
            _catalog = null;
        }
    }

    private static void Take(System.Threading.Channels.ChannelReader<ChangeEvent> changes, SourcePosition after, int maxCount, List<ChangeEvent> batch)
    {
        while (batch.Count < maxCount && changes.TryRead(out var change))
            if (change.Position > after) batch.Add(change);
    }

    private async Task StartReplicationAsync(SourcePosition after, CancellationToken cancellationToken)
    {
        if (_reader is not null)
        {
            _logger.LogInformation("Reading again after {Position} (last returned {Last}): replication restarts from slot {Slot}", after, _lastReturned, SlotName);
            await _reader.DisposeAsync();
            _reader = null;
        }

        await using (var connection = await OpenCatalogAsync(cancellationToken))
        {
            var slot = await PostgresCaptureSetup.ReadSlotAsync(connection, SlotName, cancellationToken);
            if (slot is null)
            {
                if (!after.IsStart)
                    throw new SourceConfigurationException(PostgresCaptureSetup.LostSlotMessage(SlotName,
                        $"it does not exist, although the workflow has a checkpoint ({after})"));
                var lsn = await PostgresCaptureSetup.CreateSlotAsync(connection, SlotName, cancellationToken);
                _logger.LogInformation("Created replication slot {Slot} at {Lsn}: changes committed from there on are captured", SlotName,
                    PostgresPosition.FormatLsn(lsn));
                // Only now: the rows that exist before the slot are read by the incremental snapshot, whose chunks follow the slot's start.
                await PostgresSnapshotProgress.ResetAsync(connection, SlotName, _captured, cancellationToken);
            }
            else
            {
                if (PostgresCaptureSetup.SlotProblem(slot, SlotName, connection.Database) is { } problem)
                    throw new SourceConfigurationException(problem);
                await WaitUntilReleasedAsync(connection, slot, cancellationToken);
                // A table configured since the slot was created gets its own snapshot.
                await PostgresSnapshotProgress.AddMissingAsync(connection, SlotName, _captured, cancellationToken);
            }
        }

        _reader = new PostgresReplicationReader(_connectionString!, _catalog!, _workflowId, SlotName, PublicationName, SourceName,
            after, _tracker, _options, _logger, _captured);
        _reader.Start();
        _lastReturned = after;
    }

    /// <summary>A previous capture of the workflow (a restart, a move to another node) may still be closing its connection.</summary>
    private async Task WaitUntilReleasedAsync(NpgsqlConnection connection, PostgresCaptureSetup.SlotState slot, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.SlotReleaseWait;
        while (slot.ActivePid is { } pid)
        {
            if (_time.GetUtcNow() >= deadline)
                throw new InvalidOperationException(
                    $"Replication slot '{SlotName}' is in use by server process {pid}: another capture of workflow '{_workflowId}' is still reading it.");
            await Task.Delay(100, cancellationToken);
            slot = await PostgresCaptureSetup.ReadSlotAsync(connection, SlotName, cancellationToken) ?? slot with { ActivePid = null };
        }
    }

    private async Task<NpgsqlConnection> OpenCatalogAsync(CancellationToken cancellationToken)
    {
        if (_connectionStringError is not null) throw _connectionStringError;
        _catalog ??= NpgsqlDataSource.Create(_connectionString!);
        try
        {
            return await _catalog.OpenConnectionAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification
                                              or PostgresErrorCodes.InvalidCatalogName)
        {
            // Authentication and a missing database will not pass on a retry.
            throw new SourceConfigurationException($"Cannot connect to PostgreSQL: {PostgresCaptureSetup.Describe(e)}", e);
        }
    }

    /// <summary>
    /// The connection string of the connector's sessions (catalog, heartbeats, replication): the
    /// client's, with the settings the text forms of values depend on (time zone UTC, ISO dates,
    /// shortest exact floats, hex bytea), and the workflow as application_name unless one is set.
    /// </summary>
    private static (string ConnectionString, string Database) SessionConnectionString(string connectionString, string workflowId)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Timezone = "UTC",
        };
        builder.Options = string.IsNullOrWhiteSpace(builder.Options)
            ? PostgresValues.SessionOptions
            : builder.Options + " " + PostgresValues.SessionOptions;
        if (string.IsNullOrEmpty(builder.ApplicationName))
            builder.ApplicationName = "retailstreaming " + workflowId;
        var database = builder.Database ?? builder.Username ?? "postgres";
        return (builder.ConnectionString, database);
    }
}
