using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace RetailStreaming.Connectors.Tables;

/// <summary>
/// Delivers records into a PostgreSQL table, one row per record key, so that the table mirrors
/// the latest state the transform produced for each key.
/// </summary>
/// <remarks>
/// <para>
/// A record is applied only when its (source position, output index) is after the one stored in
/// the row: a duplicate, a replay after a restart or an older record arriving late changes
/// nothing, so the table converges to the same state whatever the number of deliveries.
/// Positions are stored in a <c>text COLLATE "C"</c> column and compared with that collation,
/// which is byte order, the same as the ordinal order of the (ASCII) positions.
/// </para>
/// <para>
/// A delete marker (<see cref="Transforms.OutputRecord.IsDelete"/>) does not remove the row but
/// turns it into a tombstone (<c>deleted = true</c>, <c>document = NULL</c>) carrying the delete's
/// position. Without it, a replayed upsert older than the delete would find no row and bring the
/// document back until the replay reached the delete again. Readers filter <c>NOT deleted</c>;
/// tombstones whose position is below the workflow's checkpoint can be purged, since no replay
/// goes back past the checkpoint.
/// </para>
/// <para>
/// Each batch is one transaction. When PostgreSQL refuses the data of a record (a JSON string
/// with a NUL character, a key too long for the index), the batch is applied again record by
/// record, each in a savepoint, and only the refused records are returned as refused.
/// Connection failures and timeouts are retried with backoff; a table of another layout, a
/// missing schema or a denied permission throws <see cref="SinkConfigurationException"/>.
/// </para>
/// </remarks>
public sealed class PostgresTableSink : IDeliverySink
{
    /// <summary>The columns the sink writes, with their types as <c>format_type</c> shows them.</summary>
    public static readonly IReadOnlyList<(string Name, string Type)> Layout =
    [
        ("key", "text"),
        ("type", "text"),
        ("position", "text"),
        ("output_index", "integer"),
        ("deleted", "boolean"),
        ("document", "jsonb"),
        ("idempotency_key", "text"),
        ("source_table", "text"),
        ("operation", "text"),
        ("commit_time", "timestamp with time zone"),
        ("updated_at", "timestamp with time zone"),
    ];

    private readonly PostgresTableOptions _options;
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly string _upsert;
    private bool _tableChecked;

    /// <summary>Creates the sink; nothing is opened before the first batch.</summary>
    public PostgresTableSink(PostgresTableOptions options, ILogger? logger = null, Random? random = null)
    {
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _random = random ?? Random.Shared;
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            CommandTimeout = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds),
        };
        if (string.IsNullOrEmpty(builder.ApplicationName))
            builder.ApplicationName = "retailstreaming " + options.WorkflowId;
        _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        _upsert = UpsertSql(options.QuotedTable);
    }

    /// <inheritdoc />
    public async Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0) return DeliveryResult.AllAccepted(0);
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            string reason;
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
                if (!_tableChecked)
                {
                    await PrepareTableAsync(connection, cancellationToken);
                    _tableChecked = true;
                }

                var refused = await ApplyAsync(connection, batch, cancellationToken);
                _options.Observer.Accepted(batch.Count - refused.Count, Stopwatch.GetElapsedTime(started));
                return new DeliveryResult(refused, attempt);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsTransient(e))
            {
                reason = Describe(e);
            }
            catch (PostgresException e) when (IsConfiguration(e))
            {
                throw new SinkConfigurationException(
                    $"Table sink {_options.Table} on {_options.DisplayTarget}: {Describe(e)}", e);
            }

            if (_options.MaxAttempts > 0 && attempt >= _options.MaxAttempts)
            {
                _logger.LogWarning("Table sink {Table} gave up on {Records} records after {Attempts} attempts: {Reason}",
                    _options.Table, batch.Count, attempt, reason);
                return new DeliveryResult(
                    batch.Select(r => new RefusedRecord(r, $"gave up after {attempt} attempts: {reason}")).ToList(), attempt);
            }

            var delay = Backoff(attempt);
            _options.Observer.Retrying(attempt, delay, reason);
            _logger.LogInformation("Table sink {Table} attempt {Attempt} failed ({Reason}); retrying in {Delay}",
                _options.Table, attempt, reason, delay);
            await Task.Delay(delay, cancellationToken);
        }
    }

    /// <summary>One transaction for the batch; on a data error, again record by record in savepoints.</summary>
    private async Task<IReadOnlyList<RefusedRecord>> ApplyAsync(
        NpgsqlConnection connection, IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // ON CONFLICT cannot touch a row twice in one statement: keep the latest record of each key.
            await UpsertAsync(connection, transaction, LatestPerKey(batch), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return [];
        }
        catch (PostgresException e) when (IsDataError(e))
        {
            _logger.LogWarning("Table sink {Table} refused a batch of {Records} records ({Reason}); applying them one at a time",
                _options.Table, batch.Count, Describe(e));
        }

        var refused = new List<RefusedRecord>();
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            // In batch order, so that the position guard sees the same sequence as a record-by-record delivery.
            foreach (var record in batch)
            {
                await transaction.SaveAsync("record", cancellationToken);
                try
                {
                    await UpsertAsync(connection, transaction, [record], cancellationToken);
                    await transaction.ReleaseAsync("record", cancellationToken);
                }
                catch (PostgresException e) when (IsDataError(e))
                {
                    await transaction.RollbackAsync("record", cancellationToken);
                    refused.Add(new RefusedRecord(record, $"PostgreSQL refused the record for table {_options.Table}: {Describe(e)}"));
                }
            }

            await transaction.CommitAsync(cancellationToken);
        }

        foreach (var r in refused)
            _logger.LogWarning("Table sink {Table} refused record {IdempotencyKey} (key {Key}): {Reason}",
                _options.Table, r.Record.IdempotencyKey, r.Record.Record.Key, r.Reason);
        return refused;
    }

    private async Task UpsertAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<DeliveryRecord> records, CancellationToken cancellationToken)
    {
        var n = records.Count;
        var keys = new string[n];
        var types = new string[n];
        var positions = new string[n];
        var indexes = new int[n];
        var deleted = new bool[n];
        var documents = new string?[n];
        var ids = new string[n];
        var tables = new string[n];
        var operations = new string[n];
        var commitTimes = new DateTime[n];
        for (var i = 0; i < n; i++)
        {
            var r = records[i];
            keys[i] = r.Record.Key;
            types[i] = r.Record.Type;
            positions[i] = r.Position.Value;
            indexes[i] = r.OutputIndex;
            deleted[i] = r.Record.IsDelete;
            documents[i] = r.Record.IsDelete ? null : r.Record.Payload.ToJsonString();
            ids[i] = r.IdempotencyKey;
            tables[i] = r.Table;
            operations[i] = r.Operation.ToString().ToLowerInvariant();
            commitTimes[i] = r.CommitTime.UtcDateTime;
        }

        await using var command = new NpgsqlCommand(_upsert, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = keys });
        command.Parameters.Add(new NpgsqlParameter<string[]>("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = types });
        command.Parameters.Add(new NpgsqlParameter<string[]>("positions", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = positions });
        command.Parameters.Add(new NpgsqlParameter<int[]>("indexes", NpgsqlDbType.Array | NpgsqlDbType.Integer) { TypedValue = indexes });
        command.Parameters.Add(new NpgsqlParameter<bool[]>("deleted", NpgsqlDbType.Array | NpgsqlDbType.Boolean) { TypedValue = deleted });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("documents", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = documents });
        command.Parameters.Add(new NpgsqlParameter<string[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = ids });
        command.Parameters.Add(new NpgsqlParameter<string[]>("tables", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = tables });
        command.Parameters.Add(new NpgsqlParameter<string[]>("operations", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = operations });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("commit_times", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = commitTimes });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The upsert: a row changes only when the incoming (position, output index) is after the
    /// stored one, compared byte-wise (<c>COLLATE "C"</c>), so duplicates and replays are no-ops.
    /// A delete writes a tombstone (<c>deleted</c>, no document) with the same guard.
    /// </summary>
    private static string UpsertSql(string table) => $"""
        INSERT INTO {table} AS t (key, type, position, output_index, deleted, document,
                                  idempotency_key, source_table, operation, commit_time, updated_at)
        SELECT u.key, u.type, u.position, u.output_index, u.deleted, u.document::jsonb,
               u.idempotency_key, u.source_table, u.operation, u.commit_time, clock_timestamp()
        FROM unnest(@keys, @types, @positions, @indexes, @deleted, @documents, @ids, @tables, @operations, @commit_times)
             AS u(key, type, position, output_index, deleted, document, idempotency_key, source_table, operation, commit_time)
        ON CONFLICT (key) DO UPDATE SET
            type = EXCLUDED.type,
            position = EXCLUDED.position,
            output_index = EXCLUDED.output_index,
            deleted = EXCLUDED.deleted,
            document = EXCLUDED.document,
            idempotency_key = EXCLUDED.idempotency_key,
            source_table = EXCLUDED.source_table,
            operation = EXCLUDED.operation,
            commit_time = EXCLUDED.commit_time,
            updated_at = EXCLUDED.updated_at
        WHERE (t.position COLLATE "C", t.output_index) < (EXCLUDED.position COLLATE "C", EXCLUDED.output_index)
        """;

    /// <summary>The record with the highest (position, output index) of each key, in batch order.</summary>
    internal static IReadOnlyList<DeliveryRecord> LatestPerKey(IReadOnlyList<DeliveryRecord> batch)
    {
        var latest = new Dictionary<string, DeliveryRecord>(StringComparer.Ordinal);
        foreach (var record in batch)
        {
            if (!latest.TryGetValue(record.Record.Key, out var kept) || IsAfter(record, kept))
                latest[record.Record.Key] = record;
        }

        return latest.Count == batch.Count ? batch : batch.Where(r => ReferenceEquals(latest[r.Record.Key], r)).ToList();
    }

    private static bool IsAfter(DeliveryRecord a, DeliveryRecord b)
    {
        var byPosition = string.CompareOrdinal(a.Position.Value, b.Position.Value);
        return byPosition > 0 || (byPosition == 0 && a.OutputIndex > b.OutputIndex);
    }

    /// <summary>Creates the table when it is missing; checks its layout when it exists.</summary>
    private async Task PrepareTableAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var create = $"""
            CREATE TABLE IF NOT EXISTS {_options.QuotedTable} (
                key text NOT NULL PRIMARY KEY,
                type text NOT NULL,
                position text COLLATE "C" NOT NULL,
                output_index integer NOT NULL,
                deleted boolean NOT NULL,
                document jsonb,
                idempotency_key text NOT NULL,
                source_table text NOT NULL,
                operation text NOT NULL,
                commit_time timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )
            """;
        try
        {
            await using var command = new NpgsqlCommand(create, connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable)
        {
            // Created at the same moment by another connection: check it like any existing table.
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidSchemaName)
        {
            throw new SinkConfigurationException(
                $"Table sink {_options.Table} on {_options.DisplayTarget}: the schema does not exist; create it or name another table in delivery.table.", e);
        }

        var problems = await LayoutProblemsAsync(connection, cancellationToken);
        if (problems.Count > 0)
            throw new SinkConfigurationException(
                $"Table sink: table {_options.Table} on {_options.DisplayTarget} exists but does not have the sink's layout: "
                + string.Join("; ", problems)
                + ". Point delivery.table at a new table (the sink creates it) or fix this one; the layout is: "
                + "key text PRIMARY KEY, type text, position text COLLATE \"C\", output_index integer, deleted boolean, "
                + "document jsonb, idempotency_key text, source_table text, operation text, commit_time timestamptz, updated_at timestamptz.");
        _logger.LogInformation("Table sink writes to {Table} on {Target}", _options.Table, _options.DisplayTarget);
    }

    private async Task<List<string>> LayoutProblemsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef, a.attgenerated <> '' OR a.attidentity <> '',
                   coalesce(c.collname, ''),
                   EXISTS (SELECT 1 FROM pg_index i
                           WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indpred IS NULL
                             AND i.indnatts = 1 AND i.indkey[0] = a.attnum)
            FROM pg_attribute a
            LEFT JOIN pg_collation c ON c.oid = a.attcollation
            WHERE a.attrelid = @table::regclass AND a.attnum > 0 AND NOT a.attisdropped
            """;
        var columns = new Dictionary<string, (string Type, bool NotNull, bool HasDefault, bool Generated, string Collation, bool Unique)>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand(sql, connection))
        {
            command.Parameters.AddWithValue("table", _options.QuotedTable);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                columns[reader.GetString(0)] = (reader.GetString(1), reader.GetBoolean(2), reader.GetBoolean(3), reader.GetBoolean(4),
                    reader.GetString(5), reader.GetBoolean(6));
        }

        var problems = new List<string>();
        foreach (var (name, type) in Layout)
        {
            if (!columns.TryGetValue(name, out var column))
                problems.Add($"column {name} ({type}) is missing");
            else if (column.Type != type)
                problems.Add($"column {name} is {column.Type}, expected {type}");
        }

        if (columns.TryGetValue("position", out var position) && position.Collation != "C")
            problems.Add($"column position has collation \"{position.Collation}\", expected \"C\" (positions must compare byte-wise)");
        if (columns.TryGetValue("key", out var key) && !key.Unique)
            problems.Add("column key has no primary key or unique index of its own");
        foreach (var (name, column) in columns)
        {
            if (Layout.All(l => l.Name != name) && column.NotNull && !column.HasDefault && !column.Generated)
                problems.Add($"column {name} is NOT NULL without a default, and the sink does not write it");
        }

        return problems;
    }

    private TimeSpan Backoff(int attempt)
    {
        var initial = _options.InitialBackoff.Ticks;
        var ceiling = Math.Min(_options.MaxBackoff.Ticks, initial * Math.Pow(2, Math.Min(attempt - 1, 62)));
        return TimeSpan.FromTicks((long)(initial + _random.NextDouble() * (ceiling - initial)));
    }

    /// <summary>Errors that a retry may cure: the connection, the server going away, timeouts, lock conflicts.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        PostgresException p => p.IsTransient
                               || p.SqlState.StartsWith("08", StringComparison.Ordinal)   // connection exception
                               || p.SqlState.StartsWith("53", StringComparison.Ordinal)   // insufficient resources
                               || p.SqlState.StartsWith("57P", StringComparison.Ordinal)  // shutdown, cannot connect now
                               || p.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
                                   or PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.QueryCanceled,
        NpgsqlException n => n.IsTransient || n.InnerException is IOException or System.Net.Sockets.SocketException or TimeoutException,
        IOException or TimeoutException or System.Net.Sockets.SocketException => true,
        _ => false,
    };

    /// <summary>PostgreSQL refused the data of a record: a retry gives the same answer.</summary>
    private static bool IsDataError(PostgresException e) =>
        e.SqlState.StartsWith("22", StringComparison.Ordinal)      // data exception (e.g. \u0000 in jsonb)
        || e.SqlState.StartsWith("23", StringComparison.Ordinal)   // integrity constraint (a CHECK the client added)
        || e.SqlState == PostgresErrorCodes.ProgramLimitExceeded;  // a key too long for the index

    /// <summary>The target is not as the definition says: authentication, database, schema, permissions, layout.</summary>
    private static bool IsConfiguration(PostgresException e) =>
        e.SqlState.StartsWith("28", StringComparison.Ordinal)      // invalid authorization
        || e.SqlState.StartsWith("42", StringComparison.Ordinal)   // syntax or access rule: permission, undefined table or column
        || e.SqlState == PostgresErrorCodes.InvalidCatalogName     // the database does not exist
        || e.SqlState == PostgresErrorCodes.ReadOnlySqlTransaction;

    private static string Describe(Exception e) => e switch
    {
        PostgresException p => $"{p.SqlState}: {p.MessageText}" + (p.Detail is { Length: > 0 } d ? $" ({d})" : ""),
        _ => e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message,
    };

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
