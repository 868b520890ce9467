using System.Text.Json;
using Npgsql;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// The snapshot progress table of a workflow, <c>rs_&lt;workflow&gt;.snapshot_progress</c> (a schema named
/// like the slot, so that a user with CREATE on the database can create it whatever the rights on
/// <c>public</c>): per captured table, the snapshot requested or running, the last chunk issued, its
/// bounds, and whether its high watermark is written. Not published, so its updates never reach
/// the replication stream.
/// </summary>
internal static class PostgresSnapshotProgress
{
    /// <summary>The prefix of the snapshot watermarks and requests in the WAL.</summary>
    public const string MessagePrefix = "retailstreaming-snapshot";

    public const string TableName = "snapshot_progress";

    public static string Qualified(string objectName) => PostgresCaptureNames.Quote(objectName, TableName);

    /// <summary>A table's row: <see cref="Chunk"/> is the last chunk issued (-1 before the first).</summary>
    public sealed record Entry(
        string Table, string SnapshotId, string State, int Chunk, string? Token, string[]? Lower, string[]? Upper, bool HighWritten, bool Last);

    /// <summary>A watermark or a request, as written with <c>pg_logical_emit_message(true, ...)</c>.</summary>
    /// <param name="Kind"><c>low</c>, <c>high</c> or <c>request</c>.</param>
    /// <param name="Token">Unique per issue of a chunk: a reader recognises the chunk it issued itself.</param>
    /// <param name="Lower">The exclusive lower key bound (null: from the first row).</param>
    /// <param name="Upper">The inclusive upper key bound of the rows read (null: no row).</param>
    public sealed record Marker(string Kind, string Id, string Table, int Chunk, string? Token, string[]? Lower, string[]? Upper, bool Last);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string Serialize(Marker marker) => JsonSerializer.Serialize(marker, Json);

    public static Marker? Deserialize(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return JsonSerializer.Deserialize<Marker>(utf8, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static async Task CreateAsync(NpgsqlConnection connection, string objectName, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"""
             CREATE SCHEMA IF NOT EXISTS {PostgresCaptureNames.Quote(objectName)};
             CREATE TABLE IF NOT EXISTS {Qualified(objectName)} (
                 table_name text PRIMARY KEY,
                 snapshot_id text NOT NULL,
                 state text NOT NULL,
                 chunk int NOT NULL DEFAULT -1,
                 token text,
                 lower_key text[],
                 upper_key text[],
                 high_written bool NOT NULL DEFAULT false,
                 last_chunk bool NOT NULL DEFAULT false,
                 requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                 updated_at timestamptz NOT NULL DEFAULT clock_timestamp())
             """, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A fresh slot: every captured table is to be snapshotted, in the configured order.</summary>
    public static async Task ResetAsync(NpgsqlConnection connection, string objectName, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var delete = new NpgsqlCommand($"DELETE FROM {Qualified(objectName)}", connection, transaction))
            await delete.ExecuteNonQueryAsync(cancellationToken);
        foreach (var table in tables)
            await InsertPendingAsync(connection, transaction, objectName, table, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>An existing slot: a table configured since gets its own snapshot; the others keep their state.</summary>
    public static async Task AddMissingAsync(NpgsqlConnection connection, string objectName, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        foreach (var table in tables)
            await InsertPendingAsync(connection, null, objectName, table, cancellationToken);
    }

    private static async Task InsertPendingAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string objectName, string table, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand(
            $"INSERT INTO {Qualified(objectName)} (table_name, snapshot_id, state) VALUES (@t, @id, 'pending') ON CONFLICT (table_name) DO NOTHING",
            connection, transaction);
        insert.Parameters.AddWithValue("t", table);
        insert.Parameters.AddWithValue("id", NewId());
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Asks for a (new) snapshot of one table: the row restarts from the first chunk, and a request marker goes into the WAL.</summary>
    public static async Task<string> RequestAsync(NpgsqlConnection connection, string objectName, string table, CancellationToken cancellationToken)
    {
        var id = NewId();
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var upsert = new NpgsqlCommand(
                         $"""
                          INSERT INTO {Qualified(objectName)} (table_name, snapshot_id, state) VALUES (@t, @id, 'pending')
                          ON CONFLICT (table_name) DO UPDATE SET snapshot_id = @id, state = 'pending', chunk = -1, token = NULL,
                              lower_key = NULL, upper_key = NULL, high_written = false, last_chunk = false,
                              requested_at = clock_timestamp(), updated_at = clock_timestamp()
                          """, connection, transaction))
        {
            upsert.Parameters.AddWithValue("t", table);
            upsert.Parameters.AddWithValue("id", id);
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }
        await EmitAsync(connection, transaction, new Marker("request", id, table, -1, null, null, null, false), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return id;
    }

    /// <summary>The snapshot to work on next among the configured tables: a running one first, then the oldest request.</summary>
    public static async Task<Entry?> NextAsync(NpgsqlConnection connection, string objectName, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"""
             SELECT table_name, snapshot_id, state, chunk, token, lower_key, upper_key, high_written, last_chunk
             FROM {Qualified(objectName)}
             WHERE table_name = ANY(@tables) AND state <> 'done'
             ORDER BY state = 'running' DESC, requested_at, table_name
             LIMIT 1
             """, connection);
        command.Parameters.AddWithValue("tables", tables.ToArray());
        return await ReadEntryAsync(command, cancellationToken);
    }

    /// <summary>One table's row while its snapshot is <paramref name="snapshotId"/>; null when it was requested again since.</summary>
    public static async Task<Entry?> GetAsync(NpgsqlConnection connection, string objectName, string table, string snapshotId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"""
             SELECT table_name, snapshot_id, state, chunk, token, lower_key, upper_key, high_written, last_chunk
             FROM {Qualified(objectName)}
             WHERE table_name = @t AND snapshot_id = @id
             """, connection);
        command.Parameters.AddWithValue("t", table);
        command.Parameters.AddWithValue("id", snapshotId);
        return await ReadEntryAsync(command, cancellationToken);
    }

    private static async Task<Entry?> ReadEntryAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return new Entry(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.IsDBNull(5) ? null : reader.GetFieldValue<string[]>(5),
            reader.IsDBNull(6) ? null : reader.GetFieldValue<string[]>(6),
            reader.GetBoolean(7), reader.GetBoolean(8));
    }

    /// <summary>
    /// Moves a table's snapshot back: its next chunk starts after <paramref name="lower"/> (null: at
    /// the first row), even when the snapshot was complete. The chunk number goes on increasing, so
    /// a chunk issued again is a new chunk. False when the table's snapshot was requested again
    /// meanwhile (its snapshot id changed).
    /// </summary>
    public static async Task<bool> RewindAsync(NpgsqlConnection connection, string objectName, string table, string snapshotId, string[]? lower, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"""
             UPDATE {Qualified(objectName)} SET state = 'running', upper_key = @lower, high_written = true, last_chunk = false,
                 updated_at = clock_timestamp()
             WHERE table_name = @t AND snapshot_id = @id
             """, connection);
        command.Parameters.AddWithValue("t", table);
        command.Parameters.AddWithValue("id", snapshotId);
        command.Parameters.Add(new NpgsqlParameter("lower", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)lower ?? DBNull.Value });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public static async Task<bool> MarkDoneAsync(NpgsqlConnection connection, string objectName, Entry entry, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"UPDATE {Qualified(objectName)} SET state = 'done', updated_at = clock_timestamp() WHERE table_name = @t AND snapshot_id = @id",
            connection);
        command.Parameters.AddWithValue("t", entry.Table);
        command.Parameters.AddWithValue("id", entry.SnapshotId);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Records that a chunk is issued and writes its low watermark, in one transaction; false when
    /// the table's snapshot was requested again meanwhile (its snapshot id changed).
    /// </summary>
    public static async Task<bool> WriteLowAsync(NpgsqlConnection connection, string objectName, Entry entry, Marker low, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var update = new NpgsqlCommand(
                         $"""
                          UPDATE {Qualified(objectName)} SET state = 'running', chunk = @chunk, token = @token, lower_key = @lower, upper_key = NULL,
                              high_written = false, last_chunk = false, updated_at = clock_timestamp()
                          WHERE table_name = @t AND snapshot_id = @id
                          """, connection, transaction))
        {
            update.Parameters.AddWithValue("t", entry.Table);
            update.Parameters.AddWithValue("id", entry.SnapshotId);
            update.Parameters.AddWithValue("chunk", low.Chunk);
            update.Parameters.AddWithValue("token", low.Token!);
            update.Parameters.Add(new NpgsqlParameter("lower", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)low.Lower ?? DBNull.Value });
            if (await update.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                await transaction.RollbackAsync(cancellationToken);
                return false;
            }
        }
        await EmitAsync(connection, transaction, low, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Records the chunk's upper bound and writes its high watermark, in one transaction.</summary>
    public static async Task WriteHighAsync(NpgsqlConnection connection, string objectName, Marker high, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var update = new NpgsqlCommand(
                         $"""
                          UPDATE {Qualified(objectName)} SET upper_key = @upper, high_written = true, last_chunk = @last, updated_at = clock_timestamp()
                          WHERE table_name = @t AND snapshot_id = @id AND token = @token
                          """, connection, transaction))
        {
            update.Parameters.AddWithValue("t", high.Table);
            update.Parameters.AddWithValue("id", high.Id);
            update.Parameters.AddWithValue("token", high.Token!);
            update.Parameters.AddWithValue("last", high.Last);
            update.Parameters.Add(new NpgsqlParameter("upper", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)high.Upper ?? DBNull.Value });
            // No row: the table was requested again meanwhile; the watermark still closes this chunk in the stream.
            await update.ExecuteNonQueryAsync(cancellationToken);
        }
        await EmitAsync(connection, transaction, high, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task EmitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Marker marker, CancellationToken cancellationToken)
    {
        // Transactional: decoded at the transaction's commit, in commit order with the captured changes.
        await using var emit = new NpgsqlCommand("SELECT pg_logical_emit_message(true, @prefix, @content)", connection, transaction);
        emit.Parameters.AddWithValue("prefix", MessagePrefix);
        emit.Parameters.AddWithValue("content", Serialize(marker));
        await emit.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task DropAsync(NpgsqlConnection connection, string objectName, CancellationToken cancellationToken)
    {
        await using (var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {Qualified(objectName)}", connection))
            await drop.ExecuteNonQueryAsync(cancellationToken);
        try
        {
            await using var schema = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {PostgresCaptureNames.Quote(objectName)}", connection);
            await schema.ExecuteNonQueryAsync(cancellationToken);
        }
        // Someone put objects of their own in it: leave it.
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DependentObjectsStillExist)
        {
        }
    }

    private static string NewId() => Guid.NewGuid().ToString("N");
}
