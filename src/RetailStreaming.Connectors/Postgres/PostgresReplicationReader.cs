using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// One replication connection of a <see cref="PostgresLogicalSource"/>: a background task reads
/// the slot's pgoutput stream, turns its messages into change events and writes them to a bounded
/// channel; a second task writes heartbeats. When the channel is full the task waits, so it stops
/// reading the socket and the server's WAL sender waits in turn (TCP flow control).
/// </summary>
internal sealed class PostgresReplicationReader : IAsyncDisposable
{
    /// <summary>The prefix of the connector's heartbeat messages in the WAL.</summary>
    public const string HeartbeatPrefix = "retailstreaming-heartbeat";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly string _replicationConnectionString;
    private readonly NpgsqlDataSource _catalog;
    private readonly string _workflowId;
    private readonly string _slotName;
    private readonly string _publication;
    private readonly string _sourceName;
    private readonly SourcePosition _resumeAfter;
    private readonly PostgresCommitTracker _tracker;
    private readonly PostgresSourceOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<ChangeEvent> _channel;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<uint, RelationShape> _relations = [];
    private readonly Dictionary<uint, uint> _baseTypes = [];
    private readonly PostgresIncrementalSnapshot _snapshot;
    private Task _replication = Task.CompletedTask;
    private Task _heartbeat = Task.CompletedTask;
    private volatile LogicalReplicationConnection? _connection;
    private byte[] _buffer = new byte[4096];
    // The cells of the message being decoded (a change has at most two tuples: old or key, then new).
    // Reused: every value is copied out of them into the change's rows before the next message.
    private Cell[] _firstCells = [];
    private Cell[] _secondCells = [];
    private bool _disposed;

    // The transaction being decoded (pgoutput sends one at a time, from BEGIN to COMMIT).
    private bool _inTransaction;
    private ulong _commitLsn;
    private DateTimeOffset _commitTime;
    private int _index;
    private SourcePosition _lastPosition;
    private bool _markerOnly;

    public PostgresReplicationReader(
        string replicationConnectionString, NpgsqlDataSource catalog, string workflowId, string slotName, string publication,
        string sourceName, SourcePosition resumeAfter, PostgresCommitTracker tracker, PostgresSourceOptions options, ILogger logger,
        IReadOnlyList<string> capturedTables)
    {
        _replicationConnectionString = replicationConnectionString;
        _catalog = catalog;
        _workflowId = workflowId;
        _slotName = slotName;
        _publication = publication;
        _sourceName = sourceName;
        _resumeAfter = resumeAfter;
        _tracker = tracker;
        _options = options;
        _logger = logger;
        _channel = Channel.CreateBounded<ChangeEvent>(new BoundedChannelOptions(options.MaxBufferedChanges)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
        _snapshot = new PostgresIncrementalSnapshot(catalog, slotName, capturedTables, options.SnapshotChunkSize, BaseTypesAsync, logger);
    }

    /// <summary>The changes read and not yet taken; completed with the error that stopped the replication, if any.</summary>
    public ChannelReader<ChangeEvent> Changes => _channel.Reader;

    /// <summary>How many changes wait in the buffer.</summary>
    public int Buffered => _channel.Reader.Count;

    /// <summary>Starts the replication and heartbeat tasks (on the thread pool, outside the caller's scheduler).</summary>
    public void Start()
    {
        var token = _stop.Token;
        _replication = Task.Run(() => ReplicateAsync(token), CancellationToken.None);
        if (_options.HeartbeatInterval > TimeSpan.Zero)
            _heartbeat = Task.Run(() => HeartbeatAsync(token), CancellationToken.None);
    }

    /// <summary>Sends the flushed LSN the tracker set to the server now, rather than at the next periodic status update.</summary>
    public async Task SendStatusAsync(CancellationToken cancellationToken)
    {
        if (_connection is not { } connection) return;
        try
        {
            await connection.SendStatusUpdate(cancellationToken);
        }
        // Not streaming (yet, or any more): the value goes out with the next status update of the next connection.
        catch (Exception e) when (e is InvalidOperationException or NpgsqlException or ObjectDisposedException)
        {
            _logger.LogDebug(e, "Status update of slot {Slot} not sent now", _slotName);
        }
    }

    /// <summary>Stops reading, closes the replication connection (the server's WAL sender ends) and waits for both tasks.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_replication, _heartbeat).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            // Reported through the channel already.
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("The replication connection of slot {Slot} did not close within 30 seconds", _slotName);
        }
        _stop.Dispose();
    }

    private async Task ReplicateAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new LogicalReplicationConnection(_replicationConnectionString)
            {
                WalReceiverStatusInterval = _options.StatusInterval,
            };
            await connection.Open(cancellationToken);
            // Before the stream is read: the chunk issued now removes the keys of every change that follows.
            await _snapshot.AdvanceAsync(cancellationToken);
            _tracker.Attach(lsn => connection.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn)));
            _connection = connection;
            _logger.LogInformation("Replication of slot {Slot} started (publication {Publication}, resuming after {Position})",
                _slotName, _publication, _resumeAfter);

            // Binary off: the text forms are documented and lossless (PostgresValues). Streaming off: a
            // transaction is sent once, whole, when it commits, so the stream is in commit order.
            var options = new PgOutputReplicationOptions(_publication, PgOutputProtocolVersion.V1,
                binary: false, streamingMode: PgOutputStreamingMode.Off, messages: true, twoPhase: false);
            await foreach (var message in connection.StartReplication(new PgOutputReplicationSlot(_slotName), options, cancellationToken))
                await HandleAsync(message, cancellationToken);

            throw new InvalidOperationException($"The server ended the replication stream of slot '{_slotName}'.");
        }
        // Stopped on purpose: Npgsql reports the cancelled replication as a cancellation or as a server error (57014).
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            _channel.Writer.TryComplete();
        }
        catch (Exception e)
        {
            var error = Translate(e);
            _logger.LogWarning(error, "Replication of slot {Slot} stopped", _slotName);
            _channel.Writer.TryComplete(error);
        }
        finally
        {
            _connection = null;
            _tracker.Detach();
        }
    }

    private Exception Translate(Exception e) => e switch
    {
        // The server says the slot's WAL is gone (max_slot_wal_keep_size) or the slot itself is.
        PostgresException { SqlState: PostgresErrorCodes.ObjectNotInPrerequisiteState } p
            when p.MessageText.Contains("can no longer get changes", StringComparison.Ordinal)
                 || (p.Detail?.Contains("invalidated", StringComparison.Ordinal) ?? false) =>
            new SourceConfigurationException(PostgresCaptureSetup.LostSlotMessage(_slotName, PostgresCaptureSetup.Describe(p)), p),
        PostgresException { SqlState: PostgresErrorCodes.UndefinedFile } p when p.MessageText.Contains("removed", StringComparison.Ordinal) =>
            new SourceConfigurationException(PostgresCaptureSetup.LostSlotMessage(_slotName, PostgresCaptureSetup.Describe(p)), p),
        PostgresException { SqlState: PostgresErrorCodes.UndefinedObject } p when p.MessageText.Contains("replication slot", StringComparison.Ordinal) =>
            new SourceConfigurationException(PostgresCaptureSetup.LostSlotMessage(_slotName, "it was dropped while the workflow was capturing"), p),
        // Decoding looks the publication up as it was at each change: one dropped (and recreated) after the
        // slot's position stays missing for the changes before, on every retry.
        PostgresException { SqlState: PostgresErrorCodes.UndefinedObject } p when p.MessageText.Contains("publication", StringComparison.Ordinal) =>
            new SourceConfigurationException(PostgresCaptureSetup.LostSlotMessage(_slotName,
                $"its publication '{_publication}' was dropped while the slot still had changes to send ({PostgresCaptureSetup.Describe(p)})"), p),
        _ => e,
    };

    private async Task HandleAsync(PgOutputReplicationMessage message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case BeginMessage begin:
                _inTransaction = true;
                _commitLsn = (ulong)begin.TransactionFinalLsn;
                _commitTime = new DateTimeOffset(DateTime.SpecifyKind(begin.TransactionCommitTimestamp, DateTimeKind.Utc));
                _index = 0;
                break;

            case CommitMessage commit:
            {
                _inTransaction = false;
                var end = (ulong)commit.TransactionEndLsn;
                // A transaction without changes of ours (possible before PostgreSQL 15) is just a point between transactions.
                // A snapshot marker's own transaction is not a safe point: the slot only moves for changes the platform confirmed, or for heartbeats.
                var advanced = _index > 0 ? _tracker.Committed(_lastPosition, end, _commitTime) : _markerOnly ? null : _tracker.SafePoint(end);
                _markerOnly = false;
                if (advanced is not null) await SendStatusAsync(cancellationToken);
                break;
            }

            case RelationMessage relation:
                await OnRelationAsync(relation, cancellationToken);
                break;

            case InsertMessage insert:
            {
                var shape = Shape(insert.Relation);
                var row = await ReadTupleAsync(shape, insert.NewRow, second: false, cancellationToken);
                await FillUnchangedAsync(shape, row, null, cancellationToken);
                SupersedeSnapshotRow(shape, row);
                await EmitAsync(shape.Table, ChangeOperation.Insert, KeyOf(shape, row), null, RowOf(shape, row), cancellationToken);
                break;
            }

            // The wire order is old (or key) tuple, then new tuple: read them in that order.
            case FullUpdateMessage full:
            {
                var shape = Shape(full.Relation);
                var old = await ReadTupleAsync(shape, full.OldRow, second: false, cancellationToken);
                var row = await ReadTupleAsync(shape, full.NewRow, second: true, cancellationToken);
                await UpdateAsync(shape, old, oldIsWholeRow: true, row, cancellationToken);
                break;
            }

            case IndexUpdateMessage index:
            {
                var shape = Shape(index.Relation);
                var key = await ReadTupleAsync(shape, index.Key, second: false, cancellationToken);
                var row = await ReadTupleAsync(shape, index.NewRow, second: true, cancellationToken);
                await UpdateAsync(shape, key, oldIsWholeRow: false, row, cancellationToken);
                break;
            }

            case UpdateMessage update:
            {
                var shape = Shape(update.Relation);
                var row = await ReadTupleAsync(shape, update.NewRow, second: false, cancellationToken);
                await UpdateAsync(shape, null, oldIsWholeRow: false, row, cancellationToken);
                break;
            }

            case FullDeleteMessage delete:
            {
                var shape = Shape(delete.Relation);
                var old = await ReadTupleAsync(shape, delete.OldRow, second: false, cancellationToken);
                SupersedeSnapshotRow(shape, old);
                await EmitAsync(shape.Table, ChangeOperation.Delete, KeyOf(shape, old), RowOf(shape, old), null, cancellationToken);
                break;
            }

            case KeyDeleteMessage delete:
            {
                var shape = Shape(delete.Relation);
                var key = await ReadTupleAsync(shape, delete.Key, second: false, cancellationToken);
                SupersedeSnapshotRow(shape, key);
                var keyRow = KeyOf(shape, key);
                await EmitAsync(shape.Table, ChangeOperation.Delete, keyRow, keyRow, null, cancellationToken);
                break;
            }

            case TruncateMessage truncate:
                foreach (var relation in truncate.Relations)
                {
                    var table = _relations.TryGetValue(relation.RelationId, out var shape)
                        ? shape.Table
                        : relation.Namespace + "." + relation.RelationName;
                    _snapshot.OnTruncate(table);
                    await EmitAsync(table, ChangeOperation.Truncate, RowData.Empty, null, null, cancellationToken);
                }
                break;

            // The snapshot's watermarks and requests: transactional, so in commit order with the changes.
            case LogicalDecodingMessage marker when marker.Flags == 1 && marker.Prefix == PostgresSnapshotProgress.MessagePrefix:
            {
                using var content = new MemoryStream();
                await marker.Data.CopyToAsync(content, cancellationToken);
                if (PostgresSnapshotProgress.Deserialize(content.ToArray()) is not { } parsed)
                {
                    _logger.LogWarning("A snapshot message at {Lsn} cannot be read; ignored", PostgresPosition.FormatLsn((ulong)marker.MessageLsn));
                    break;
                }
                _markerOnly = true;
                await _snapshot.OnMarkerAsync(parsed, AlreadyDelivered(), EmitReadAsync, cancellationToken);
                break;
            }

            // A non-transactional message (our heartbeats, or anyone's) is decoded at its place in the
            // WAL, after every transaction that committed before it: a safe point to confirm once
            // those are.
            case LogicalDecodingMessage decodingMessage when decodingMessage.Flags == 0 && !_inTransaction:
            {
                var advanced = _tracker.SafePoint((ulong)decodingMessage.MessageLsn);
                if (advanced is not null)
                {
                    _logger.LogDebug("Slot {Slot} advanced to {Lsn} at a heartbeat", _slotName, PostgresPosition.FormatLsn(advanced.Value));
                    await SendStatusAsync(cancellationToken);
                }
                break;
            }
        }
    }

    private async ValueTask EmitAsync(string table, ChangeOperation operation, RowData key, RowData? before, RowData? after, CancellationToken cancellationToken)
    {
        var position = PostgresPosition.Of(_commitLsn, _index);
        _index++;
        _lastPosition = position;
        // After a restart the slot sends again what followed its confirmed LSN; what the platform already has is recognised by position.
        if (position <= _resumeAfter) return;
        await _channel.Writer.WriteAsync(new ChangeEvent(_sourceName, table, operation, key, before, after, _commitTime, position), cancellationToken);
    }

    /// <summary>
    /// For a replayed high watermark: true when the platform has every change of this transaction
    /// already (the resume point is after it). When it has some or none, the chunk's range is read
    /// again as a new chunk (<see cref="PostgresIncrementalSnapshot"/>).
    /// </summary>
    private bool AlreadyDelivered() =>
        PostgresPosition.Parse(_resumeAfter) is { } resume && resume.CommitLsn > _commitLsn;

    private ValueTask EmitReadAsync(string table, RowData key, RowData row, CancellationToken cancellationToken) =>
        EmitAsync(table, ChangeOperation.Read, key, null, row, cancellationToken);

    /// <summary>
    /// Tells the snapshot that a streamed change touched this row. The key's text is built only
    /// while a chunk of the table is open: most changes arrive with no chunk waiting.
    /// </summary>
    private void SupersedeSnapshotRow(RelationShape shape, Cell[] cells)
    {
        if (_snapshot.Watches(shape.Table)) _snapshot.OnChange(shape.Table, KeyText(shape, cells));
    }

    private static string KeyText(RelationShape shape, Cell[] cells) =>
        PostgresIncrementalSnapshot.KeyText(shape.Key.Order().Select(k => cells[k].Kind == CellKind.Value ? cells[k].Text : null));

    private async Task UpdateAsync(RelationShape shape, Cell[]? old, bool oldIsWholeRow, Cell[] row, CancellationToken cancellationToken)
    {
        await FillUnchangedAsync(shape, row, oldIsWholeRow ? old : null, cancellationToken);
        SupersedeSnapshotRow(shape, row);
        if (old is not null) SupersedeSnapshotRow(shape, old);
        var after = RowOf(shape, row);
        if (old is not null && KeyChanged(shape, old, row))
        {
            // A new key is another row for a consumer applying by key: the old one goes away, the new one appears.
            var oldKey = KeyOf(shape, old);
            await EmitAsync(shape.Table, ChangeOperation.Delete, oldKey, oldIsWholeRow ? RowOf(shape, old) : oldKey, null, cancellationToken);
            await EmitAsync(shape.Table, ChangeOperation.Insert, KeyOf(shape, row), null, after, cancellationToken);
            return;
        }
        await EmitAsync(shape.Table, ChangeOperation.Update, KeyOf(shape, row), oldIsWholeRow ? RowOf(shape, old!) : null, after, cancellationToken);
    }

    private static bool KeyChanged(RelationShape shape, Cell[] old, Cell[] row)
    {
        foreach (var i in shape.Key)
        {
            if (old[i].Kind == CellKind.Unchanged || row[i].Kind == CellKind.Unchanged) continue;
            if (old[i].Kind != row[i].Kind || !string.Equals(old[i].Text, row[i].Text, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>
    /// Unchanged TOASTed values ('u': pgoutput does not resend a large value an update left alone)
    /// are filled from the old row when the table has REPLICA IDENTITY FULL, else read again from
    /// the table by key. A value that cannot be read (the row is gone since) is left out of the row.
    /// </summary>
    private ValueTask FillUnchangedAsync(RelationShape shape, Cell[] row, Cell[]? old, CancellationToken cancellationToken)
    {
        List<int>? missing = null;
        for (var i = 0; i < row.Length; i++)
        {
            if (row[i].Kind != CellKind.Unchanged) continue;
            if (old is not null && old[i].Kind != CellKind.Unchanged) row[i] = old[i];
            else (missing ??= []).Add(i);
        }
        // Nearly always: nothing to read back, and no state machine for it.
        return missing is null ? ValueTask.CompletedTask : new ValueTask(ReadUnchangedAsync(shape, row, missing, cancellationToken));
    }

    private async Task ReadUnchangedAsync(RelationShape shape, Cell[] row, List<int> missing, CancellationToken cancellationToken)
    {
        var select = new StringBuilder("SELECT ");
        select.AppendJoin(", ", missing.Select(i => PostgresCaptureNames.Quote(shape.Columns[i].Name) + "::text"));
        select.Append(" FROM ").Append(PostgresCaptureNames.Quote(shape.Schema, shape.Name)).Append(" WHERE ");
        await using var connection = await _catalog.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand { Connection = connection };
        var first = true;
        foreach (var k in shape.Key)
        {
            if (row[k].Kind != CellKind.Value)
                throw new InvalidOperationException(
                    $"An update of {shape.Table} left a large value unchanged, and key column '{shape.Columns[k].Name}' is not in the change either; the row cannot be read back.");
            if (!first) select.Append(" AND ");
            first = false;
            var parameter = "k" + k.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // Sent as 'unknown': the server reads the text with the column's own type, so the key's index is used.
            select.Append(PostgresCaptureNames.Quote(shape.Columns[k].Name)).Append(" = @").Append(parameter);
            command.Parameters.Add(new NpgsqlParameter(parameter, NpgsqlDbType.Unknown) { Value = row[k].Text });
        }
        command.CommandText = select.ToString();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            _logger.LogWarning(
                "An update of {Table} at {Position} left {Columns} unchanged, and the row no longer exists to read them from: they are left out of the change",
                shape.Table, PostgresPosition.Of(_commitLsn, _index), string.Join(", ", missing.Select(i => shape.Columns[i].Name)));
            return;
        }
        for (var j = 0; j < missing.Count; j++)
        {
            var i = missing[j];
            row[i] = reader.IsDBNull(j)
                ? new Cell(CellKind.Null, null, null)
                : Convert(shape, i, reader.GetString(j));
        }
    }

    private static RowData KeyOf(RelationShape shape, Cell[] cells)
    {
        var key = shape.Key;
        var values = new object?[key.Length];
        for (var k = 0; k < key.Length; k++)
        {
            // A key value left out of the change: the key holds the columns it has (a dictionary of its own).
            if (cells[key[k]].Kind == CellKind.Unchanged) return PartialRow(shape, cells, key);
            values[k] = cells[key[k]].Value;
        }
        return new RowData(new ColumnRow(shape.KeyColumns, values));
    }

    private static RowData RowOf(RelationShape shape, Cell[] cells)
    {
        var values = new object?[shape.Columns.Length];
        for (var i = 0; i < values.Length; i++)
        {
            // An unchanged large value that could not be filled is left out of the row.
            if (cells[i].Kind == CellKind.Unchanged) return PartialRow(shape, cells, Enumerable.Range(0, values.Length));
            values[i] = cells[i].Value;
        }
        return new RowData(new ColumnRow(shape.AllColumns, values));
    }

    private static RowData PartialRow(RelationShape shape, Cell[] cells, IEnumerable<int> columns)
    {
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var i in columns)
            if (cells[i].Kind != CellKind.Unchanged) values[shape.Columns[i].Name] = cells[i].Value;
        return new RowData(values);
    }

    private RelationShape Shape(RelationMessage relation) =>
        _relations.TryGetValue(relation.RelationId, out var shape)
            ? shape
            : throw new InvalidOperationException(
                $"A change of relation {relation.RelationId} ({relation.Namespace}.{relation.RelationName}) arrived before its Relation message.");

    /// <summary>
    /// Reads every value of a tuple before the next message: Npgsql reuses the message and its buffer.
    /// The cells are the reader's own (the message's first or second tuple), valid until the next message.
    /// </summary>
    private async ValueTask<Cell[]> ReadTupleAsync(RelationShape shape, ReplicationTuple tuple, bool second, CancellationToken cancellationToken)
    {
        if (tuple.NumColumns != shape.Columns.Length)
            throw new InvalidOperationException(
                $"A change of {shape.Table} has {tuple.NumColumns} columns; its last Relation message announced {shape.Columns.Length}.");
        ref var scratch = ref second ? ref _secondCells : ref _firstCells;
        if (scratch.Length != tuple.NumColumns) scratch = new Cell[tuple.NumColumns];
        var cells = scratch;
        var i = 0;
        await foreach (var value in tuple.WithCancellation(cancellationToken))
        {
            if (value.IsDBNull) cells[i] = new Cell(CellKind.Null, null, null);
            else if (value.IsUnchangedToastedValue) cells[i] = new Cell(CellKind.Unchanged, null, null);
            else cells[i] = Convert(shape, i, await ReadTextAsync(value, cancellationToken));
            i++;
        }
        return cells;
    }

    private async ValueTask<string> ReadTextAsync(ReplicationValue value, CancellationToken cancellationToken)
    {
        var length = value.Length;
        if (_buffer.Length < length)
            _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
        var stream = value.GetStream();
        await stream.ReadExactlyAsync(_buffer.AsMemory(0, length), cancellationToken);
        var text = StrictUtf8.GetString(_buffer, 0, length);
        // Do not keep a buffer of a huge value for ever.
        if (_buffer.Length > 1 << 20) _buffer = new byte[4096];
        return text;
    }

    private Cell Convert(RelationShape shape, int column, string text)
    {
        var type = shape.Columns[column].BaseTypeOid;
        try
        {
            return new Cell(CellKind.Value, PostgresValues.FromText(type, text), shape.IsKey[column] ? text : null);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            // Never skipped: the replication stops with the reason, and the workflow with it.
            throw new FormatException(
                $"Column '{shape.Columns[column].Name}' of {shape.Table} (type {shape.Columns[column].TypeOid}) in the transaction committed at " +
                $"{PostgresPosition.FormatLsn(_commitLsn)} cannot be read: {e.Message}", e);
        }
    }

    private async Task OnRelationAsync(RelationMessage relation, CancellationToken cancellationToken)
    {
        // Npgsql reuses the message and its column list: copy what is needed.
        var count = relation.Columns.Count;
        var names = new string[count];
        var types = new uint[count];
        var flagged = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var column = relation.Columns[i];
            names[i] = column.ColumnName;
            types[i] = column.DataTypeId;
            if ((column.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0) flagged.Add(i);
        }
        var schema = relation.Namespace;
        var name = relation.RelationName;
        var relationId = relation.RelationId;
        var identity = relation.ReplicaIdentity;

        var unknown = types.Where(t => t >= PostgresValues.Oids.FirstUserOid && !_baseTypes.ContainsKey(t)).Distinct().ToArray();
        if (unknown.Length > 0) await ResolveBaseTypesAsync(unknown, cancellationToken);

        int[] key;
        if (identity == RelationMessage.ReplicaIdentitySetting.AllColumns)
        {
            // With REPLICA IDENTITY FULL every column is flagged; the key is the primary key when there is one.
            var primaryKey = await PrimaryKeyAsync(relationId, cancellationToken);
            key = primaryKey.Count > 0 && primaryKey.All(names.Contains)
                ? primaryKey.Select(k => Array.IndexOf(names, k)).ToArray()
                : Enumerable.Range(0, count).ToArray();
        }
        else
        {
            key = flagged.Count > 0 ? flagged.ToArray() : Enumerable.Range(0, count).ToArray();
        }

        var columns = new ColumnShape[count];
        for (var i = 0; i < count; i++)
            columns[i] = new ColumnShape(names[i], types[i], _baseTypes.GetValueOrDefault(types[i], types[i]));
        var isKey = new bool[count];
        foreach (var k in key) isKey[k] = true;
        var shape = new RelationShape(schema, name, columns, key, isKey);
        if (_relations.TryGetValue(relationId, out var previous) && !previous.SameColumns(shape))
            _logger.LogInformation("Columns of {Table} changed: now {Columns}", shape.Table, string.Join(", ", names));
        _relations[relationId] = shape;
    }

    private async Task<IReadOnlyDictionary<uint, uint>> BaseTypesAsync(uint[] oids, CancellationToken cancellationToken)
    {
        var unknown = oids.Where(t => !_baseTypes.ContainsKey(t)).Distinct().ToArray();
        if (unknown.Length > 0) await ResolveBaseTypesAsync(unknown, cancellationToken);
        return oids.Distinct().ToDictionary(o => o, o => _baseTypes[o]);
    }

    private async Task ResolveBaseTypesAsync(uint[] oids, CancellationToken cancellationToken)
    {
        // Domains are sent with their own OID; their values have the text form of the base type.
        var pending = oids.ToHashSet();
        var found = new Dictionary<uint, (char Kind, uint Base)>();
        await using var connection = await _catalog.OpenConnectionAsync(cancellationToken);
        while (pending.Count > 0)
        {
            await using var command = new NpgsqlCommand("SELECT oid, typtype::text, typbasetype FROM pg_type WHERE oid = ANY(@oids)", connection);
            command.Parameters.AddWithValue("oids", pending.Select(o => (long)o).ToArray());
            pending.Clear();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var oid = reader.GetFieldValue<uint>(0);
                var kind = reader.GetString(1)[0];
                var baseType = reader.GetFieldValue<uint>(2);
                found[oid] = (kind, baseType);
                if (kind == 'd' && baseType >= PostgresValues.Oids.FirstUserOid && !found.ContainsKey(baseType)) pending.Add(baseType);
            }
        }
        foreach (var oid in oids)
        {
            var current = oid;
            for (var depth = 0; depth < 32 && found.TryGetValue(current, out var entry) && entry.Kind == 'd'; depth++)
                current = entry.Base;
            _baseTypes[oid] = current;
        }
    }

    private async Task<List<string>> PrimaryKeyAsync(uint relationId, CancellationToken cancellationToken)
    {
        await using var connection = await _catalog.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT a.attname::text
            FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = @relation AND i.indisprimary
            ORDER BY k.ord
            """, connection);
        command.Parameters.AddWithValue("relation", NpgsqlDbType.Oid, relationId);
        var names = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) names.Add(reader.GetString(0));
        return names;
    }

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await using var connection = await _catalog.OpenConnectionAsync(cancellationToken);
                    await using var command = new NpgsqlCommand("SELECT pg_logical_emit_message(false, @prefix, @content)", connection);
                    command.Parameters.AddWithValue("prefix", HeartbeatPrefix);
                    command.Parameters.AddWithValue("content", _workflowId);
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }
                catch (Exception e) when ((e is NpgsqlException or InvalidOperationException or TimeoutException) && !cancellationToken.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Heartbeat for slot {Slot} failed; the slot does not advance while the captured tables are idle", _slotName);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private enum CellKind : byte { Null, Unchanged, Value }

    /// <param name="Text">The value's text for key columns (to compare keys and to look the row up), else null.</param>
    private readonly record struct Cell(CellKind Kind, object? Value, string? Text);

    private sealed record ColumnShape(string Name, uint TypeOid, uint BaseTypeOid);

    private sealed class RelationShape(string schema, string name, ColumnShape[] columns, int[] key, bool[] isKey)
    {
        public string Schema { get; } = schema;
        public string Name { get; } = name;
        public string Table { get; } = schema + "." + name;
        public ColumnShape[] Columns { get; } = columns;
        public int[] Key { get; } = key;
        public bool[] IsKey { get; } = isKey;
        public ColumnSet AllColumns { get; } = new(columns.Select(c => c.Name).ToArray());
        public ColumnSet KeyColumns { get; } = new(key.Select(k => columns[k].Name).ToArray());

        public bool SameColumns(RelationShape other) => Columns.SequenceEqual(other.Columns);
    }
}
