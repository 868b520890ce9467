using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// The incremental, watermark-based snapshot (DBLog) of one replication connection. Driven by the
/// replication task alone: it issues one chunk at a time (low watermark, a short SELECT of at most
/// <see cref="PostgresSourceOptions.SnapshotChunkSize"/> rows in primary-key order, high
/// watermark), keeps the rows while it reads on, drops every key a streamed change touches, and
/// emits the rest as Read events when its own high watermark arrives in the stream; then it issues
/// the next chunk.
/// </summary>
/// <remarks>
/// Watermarks of chunks issued by an earlier connection (the slot sends again what was not
/// confirmed) are "replayed": nothing is emitted at a replayed high watermark (its rows may have
/// changed since, and a position must always carry the same row); when the platform may not have
/// all its rows, the snapshot is moved back to the chunk's lower bound and that range is read again
/// as new chunks, at new watermarks. See the README for why this neither loses nor re-applies rows.
/// </remarks>
internal sealed class PostgresIncrementalSnapshot(
    NpgsqlDataSource catalog,
    string objectName,
    IReadOnlyList<string> tables,
    int chunkSize,
    Func<uint[], CancellationToken, Task<IReadOnlyDictionary<uint, uint>>> resolveBaseTypes,
    ILogger logger)
{
    private Chunk? _live;

    /// <summary>Emits one Read event; supplied by the reader, which gives it the watermark's position.</summary>
    public delegate ValueTask EmitRead(string table, RowData key, RowData row, CancellationToken cancellationToken);

    private sealed class Chunk(PostgresSnapshotProgress.Marker high, List<SnapshotRow?> rows)
    {
        public PostgresSnapshotProgress.Marker High { get; } = high;
        public List<SnapshotRow?> Rows { get; } = rows;
        public Dictionary<string, int> Index { get; } = rows.Select((r, i) => (r!.KeyText, i)).ToDictionary(x => x.KeyText, x => x.i, StringComparer.Ordinal);
    }

    private sealed record SnapshotRow(string KeyText, string[] KeyValues, RowData Key, RowData Row);

    private sealed record TableShape(string Qualified, string Quoted, string[] Columns, uint[] BaseTypes, int[] Key, string[] KeyTypes, bool ByCtid);

    /// <summary>Whether a chunk issued by this connection waits for its high watermark.</summary>
    public bool ChunkInFlight => _live is not null;

    /// <summary>
    /// Makes sure a chunk is in flight when a snapshot is incomplete: called when the connection
    /// starts (before the stream is read), after a chunk of ours completed, and on a request.
    /// </summary>
    public async Task AdvanceAsync(CancellationToken cancellationToken)
    {
        if (_live is not null) return;
        await using var connection = await catalog.OpenConnectionAsync(cancellationToken);
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var entry = await PostgresSnapshotProgress.NextAsync(connection, objectName, tables, cancellationToken);
            if (entry is null) return;
            int chunk;
            string[]? lower;
            if (entry.State == "pending") (chunk, lower) = (0, null);
            else if (!entry.HighWritten) (chunk, lower) = (entry.Chunk, entry.Lower); // the previous connection stopped between the watermarks
            else if (entry.Last)
            {
                await PostgresSnapshotProgress.MarkDoneAsync(connection, objectName, entry, cancellationToken);
                logger.LogInformation("Snapshot {Snapshot} of {Table} complete: {Chunks} chunk(s)", entry.SnapshotId, entry.Table, entry.Chunk + 1);
                continue;
            }
            else (chunk, lower) = (entry.Chunk + 1, entry.Upper);

            if (await IssueAsync(connection, entry, chunk, lower, cancellationToken)) return;
        }
    }

    private async Task<bool> IssueAsync(NpgsqlConnection connection, PostgresSnapshotProgress.Entry entry, int chunk, string[]? lower, CancellationToken cancellationToken)
    {
        var token = Guid.NewGuid().ToString("N");
        var low = new PostgresSnapshotProgress.Marker("low", entry.SnapshotId, entry.Table, chunk, token, lower, null, false);
        if (!await PostgresSnapshotProgress.WriteLowAsync(connection, objectName, entry, low, cancellationToken)) return false;

        // One READ COMMITTED statement: its snapshot is taken after the low watermark committed and
        // released before the high one is written; no transaction stays open.
        var shape = await ShapeAsync(connection, entry.Table, cancellationToken);
        var rows = await SelectAsync(connection, shape, lower, null, chunkSize, cancellationToken);
        var last = rows.Count < chunkSize;
        var high = low with { Kind = "high", Upper = rows.Count > 0 ? rows[^1].KeyValues : null, Last = last };
        // Kept before the high watermark is written: from here on, streamed changes remove keys.
        _live = new Chunk(high, rows.Cast<SnapshotRow?>().ToList());
        await PostgresSnapshotProgress.WriteHighAsync(connection, objectName, high, cancellationToken);
        logger.LogDebug("Snapshot {Snapshot} of {Table}: chunk {Chunk} issued, {Rows} row(s)", entry.SnapshotId, entry.Table, chunk, rows.Count);
        return true;
    }

    /// <summary>True while a chunk of <paramref name="table"/> waits for its high watermark: only then does a streamed change's key matter.</summary>
    public bool Watches(string table) => _live is { } live && live.High.Table == table;

    /// <summary>A streamed change of a row: it supersedes the row's snapshot in the chunks open for its table.</summary>
    public void OnChange(string table, string keyText)
    {
        if (_live is { } live && live.High.Table == table && live.Index.Remove(keyText, out var i))
            live.Rows[i] = null;
    }

    /// <summary>A streamed TRUNCATE: rows selected before it must not come back after it.</summary>
    public void OnTruncate(string table)
    {
        if (_live is { } live && live.High.Table == table)
        {
            for (var i = 0; i < live.Rows.Count; i++) live.Rows[i] = null;
            live.Index.Clear();
        }
    }

    /// <summary>
    /// A snapshot marker decoded from the stream. <paramref name="alreadyDelivered"/> says the
    /// platform has every row at this watermark already (its position is below the resume point).
    /// </summary>
    public async Task OnMarkerAsync(PostgresSnapshotProgress.Marker marker, bool alreadyDelivered, EmitRead emit, CancellationToken cancellationToken)
    {
        switch (marker.Kind)
        {
            case "request":
                logger.LogInformation("Snapshot {Snapshot} of {Table} requested", marker.Id, marker.Table);
                await AdvanceAsync(cancellationToken);
                break;

            case "high" when _live is { } live && live.High.Token == marker.Token:
                _live = null;
                var emitted = 0;
                foreach (var row in live.Rows)
                {
                    if (row is null) continue;
                    await emit(marker.Table, row.Key, row.Row, cancellationToken);
                    emitted++;
                }
                logger.LogDebug("Snapshot {Snapshot} of {Table}: chunk {Chunk} emitted {Rows} of {Selected} row(s)",
                    marker.Id, marker.Table, marker.Chunk, emitted, live.Rows.Count);
                await AdvanceAsync(cancellationToken);
                break;

            // A chunk of an earlier connection. Without rows it has nothing to give again (rows inserted in its range since are streamed).
            case "high":
                if (alreadyDelivered || marker.Upper is null || !tables.Contains(marker.Table)) break;
                if (await RewindAsync(marker, cancellationToken)) await AdvanceAsync(cancellationToken);
                break;
        }
    }

    /// <summary>
    /// A chunk issued by an earlier connection, whose rows the platform may not all have (its high
    /// watermark is above the resume point). They are not emitted at that watermark: the earlier
    /// connection may have emitted some of them there already, and the table may have changed since,
    /// so the same position would carry another row. Instead the table's snapshot moves back to the
    /// chunk's lower bound (unless it is already at or before it), and the range is read again as new
    /// chunks with new watermarks; the chunks after it are read again too (duplicates, never loss).
    /// True when the snapshot was moved back.
    /// </summary>
    private async Task<bool> RewindAsync(PostgresSnapshotProgress.Marker high, CancellationToken cancellationToken)
    {
        await using var connection = await catalog.OpenConnectionAsync(cancellationToken);
        // Null: the table's snapshot was requested again since; the new one reads every row, after this point.
        if (await PostgresSnapshotProgress.GetAsync(connection, objectName, high.Table, high.Id, cancellationToken) is not { } entry) return false;
        // Where the next chunk of the table starts (null: at its first row), unless the snapshot is complete.
        (bool complete, string[]? next) = entry switch
        {
            { State: "pending" } => (false, null),
            { State: "done" } or { HighWritten: true, Last: true } => (true, null),
            { HighWritten: true } => (false, entry.Upper),
            _ => (false, entry.Lower),
        };
        var lower = high.Lower;
        if (!complete)
        {
            if (next is null) return false;
            if (lower is not null)
            {
                var below = await BelowAsync(connection, high.Table, lower, next, cancellationToken);
                if (below == false) return false;
                // The key cannot be compared any more (the table or its primary key changed): the whole table is read again.
                if (below is null) lower = null;
            }
        }
        if (!await PostgresSnapshotProgress.RewindAsync(connection, objectName, high.Table, high.Id, lower, cancellationToken)) return false;
        logger.LogInformation(
            "Snapshot {Snapshot} of {Table}: chunk {Chunk} was not all delivered before a restart; the snapshot reads again from {Lower} in new chunks",
            high.Id, high.Table, high.Chunk, lower is null ? "the first row" : "(" + string.Join(", ", lower) + ")");
        return true;
    }

    /// <summary>Whether key bound <paramref name="a"/> sorts before <paramref name="b"/> in chunk order; null when they cannot be compared.</summary>
    private async Task<bool?> BelowAsync(NpgsqlConnection connection, string table, string[] a, string[] b, CancellationToken cancellationToken)
    {
        TableShape shape;
        try
        {
            shape = await ShapeAsync(connection, table, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            logger.LogWarning(e, "The snapshot of {Table} cannot compare its chunk bounds", table);
            return null;
        }
        if (a.Length != shape.KeyTypes.Length || b.Length != shape.KeyTypes.Length) return null;
        await using var command = new NpgsqlCommand { Connection = connection };
        command.CommandText = "SELECT " + Bound("a", a, shape, command) + " < " + Bound("b", b, shape, command);
        try
        {
            return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        // A bound that no longer converts to the key's type (data exception) or a type without order (syntax or access rule).
        catch (PostgresException e) when (e.SqlState.StartsWith("22", StringComparison.Ordinal) || e.SqlState.StartsWith("42", StringComparison.Ordinal))
        {
            logger.LogWarning(e, "The snapshot of {Table} cannot compare its chunk bounds", table);
            return null;
        }
    }

    private async Task<TableShape> ShapeAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        var (schema, name) = PostgresCaptureNames.ParseTable(table);
        var quoted = PostgresCaptureNames.Quote(schema, name);
        await using var command = new NpgsqlCommand(
            """
            SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod),
                   array_position(i.indkey::int2[], a.attnum)
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = @table::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, connection);
        command.Parameters.AddWithValue("table", quoted);
        var columns = new List<string>();
        var types = new List<uint>();
        var typeNames = new List<string>();
        var key = new List<(int Column, int Order)>();
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                columns.Add(reader.GetString(0));
                types.Add(reader.GetFieldValue<uint>(1));
                typeNames.Add(reader.GetString(2));
                if (!reader.IsDBNull(3)) key.Add((columns.Count - 1, reader.GetInt32(3)));
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            throw new InvalidOperationException($"Table {table} no longer exists.", e);
        }
        var unknown = types.Where(t => t >= PostgresValues.Oids.FirstUserOid).Distinct().ToArray();
        var bases = unknown.Length > 0 ? await resolveBaseTypes(unknown, cancellationToken) : new Dictionary<uint, uint>();
        var baseTypes = types.Select(t => bases.GetValueOrDefault(t, t)).ToArray();
        var keyColumns = key.OrderBy(k => k.Order).Select(k => k.Column).ToArray();
        // Without a primary key (REPLICA IDENTITY FULL) the chunks follow the physical order, and a row's key is all its columns, as in the stream.
        var byCtid = keyColumns.Length == 0;
        return new TableShape(table, quoted, columns.ToArray(), baseTypes,
            byCtid ? Enumerable.Range(0, columns.Count).ToArray() : keyColumns,
            byCtid ? ["tid"] : keyColumns.Select(k => typeNames[k]).ToArray(), byCtid);
    }

    private static async Task<List<SnapshotRow>> SelectAsync(
        NpgsqlConnection connection, TableShape shape, string[]? lower, string[]? upper, int limit, CancellationToken cancellationToken)
    {
        var order = shape.ByCtid ? ["ctid"] : shape.Key.Select(k => PostgresCaptureNames.Quote(shape.Columns[k])).ToArray();
        var keyExpression = "(" + string.Join(", ", order) + ")";
        var sql = new StringBuilder("SELECT ");
        // format('%s') prints with the type's output function, as pgoutput does (a cast to text differs for bool, inet, ...).
        sql.AppendJoin(", ", shape.Columns.Select(c => PostgresCaptureNames.Quote(c)).Select(c => $"CASE WHEN num_nulls({c}) = 1 THEN NULL ELSE format('%s', {c}) END"));
        if (shape.ByCtid) sql.Append(", ctid::text");
        sql.Append(" FROM ").Append(shape.Quoted);
        await using var command = new NpgsqlCommand { Connection = connection };
        var conditions = new List<string>();
        if (lower is not null) conditions.Add(keyExpression + " > " + Bound("l", lower, shape, command));
        if (upper is not null) conditions.Add(keyExpression + " <= " + Bound("u", upper, shape, command));
        if (conditions.Count > 0) sql.Append(" WHERE ").AppendJoin(" AND ", conditions);
        sql.Append(" ORDER BY ").AppendJoin(", ", order).Append(" LIMIT ").Append(limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        command.CommandText = sql.ToString();

        var rows = new List<SnapshotRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var texts = new string?[shape.Columns.Length];
            var values = new Dictionary<string, object?>(shape.Columns.Length, StringComparer.Ordinal);
            for (var i = 0; i < shape.Columns.Length; i++)
            {
                texts[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
                // format() prints bool as true/false; pgoutput sends the output function's t/f.
                if (shape.BaseTypes[i] == PostgresValues.Oids.Bool && texts[i] is { } b) texts[i] = b == "true" ? "t" : b == "false" ? "f" : b;
                values[shape.Columns[i]] = texts[i] is { } text ? ConvertValue(shape, i, text) : null;
            }
            var keyValues = new Dictionary<string, object?>(shape.Key.Length, StringComparer.Ordinal);
            foreach (var k in shape.Key) keyValues[shape.Columns[k]] = values[shape.Columns[k]];
            var bound = shape.ByCtid ? [reader.GetString(shape.Columns.Length)] : shape.Key.Select(k => texts[k]!).ToArray();
            // Key columns in column order, as the stream's key text is built.
            rows.Add(new SnapshotRow(KeyText(shape.Key.Order().Select(k => texts[k])), bound, new RowData(keyValues), new RowData(values)));
        }
        return rows;
    }

    private static string Bound(string prefix, string[] values, TableShape shape, NpgsqlCommand command)
    {
        var parts = new string[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var name = prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            parts[i] = "@" + name + "::" + shape.KeyTypes[i];
            command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Text) { Value = values[i] });
        }
        return "(" + string.Join(", ", parts) + ")";
    }

    private static object? ConvertValue(TableShape shape, int column, string text)
    {
        try
        {
            return PostgresValues.FromText(shape.BaseTypes[column], text);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new FormatException($"Column '{shape.Columns[column]}' of {shape.Qualified} cannot be read by the snapshot: {e.Message}", e);
        }
    }

    /// <summary>The identity of a row by the text of its key columns, as the stream and the snapshot both print them.</summary>
    public static string KeyText(IEnumerable<string?> texts)
    {
        var sb = new StringBuilder();
        foreach (var text in texts)
        {
            if (text is null) sb.Append("N;");
            else sb.Append(text.Length).Append(':').Append(text).Append(';');
        }
        return sb.ToString();
    }
}
