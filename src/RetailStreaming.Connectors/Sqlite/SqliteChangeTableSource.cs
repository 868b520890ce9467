using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Sqlite;

/// <summary>
/// Captures the changes of SQLite tables through triggers that write every row change into a
/// per-workflow change table, <c>_rs_changes_&lt;workflow&gt;</c>, which is then read in sequence order.
/// </summary>
/// <remarks>
/// <para><b>Objects in the client database.</b> <see cref="PrepareAsync"/> creates the change table
/// and, per captured table, the triggers <c>_rs_&lt;workflow&gt;:&lt;table&gt;:insert|update|delete</c>.
/// The triggers run inside the client application's write transactions, so a change is recorded if
/// and only if it commits. The client's SQLite must have the JSON functions (built in since 3.38).
/// A column cannot be dropped from a captured table while the triggers reference it (SQLite refuses
/// the ALTER TABLE); <see cref="RemoveCaptureAsync"/> removes them. Added and renamed columns are
/// picked up: the triggers are recreated when their text no longer matches the table, at the next
/// <see cref="PrepareAsync"/> or <see cref="ReadAsync"/> after the schema changed. Changes written
/// in between come from the old triggers and lack the new column.</para>
/// <para><b>Initial snapshot.</b> When a table's triggers are created for the first time, every row
/// of the table is copied into the change table as a snapshot read (<c>'r'</c>), in the same
/// <c>BEGIN IMMEDIATE</c> transaction. SQLite has one writer at a time, so no client write can fall
/// between the snapshot and the first trigger-recorded change: no gap and no change applied twice.
/// The snapshot holds the write lock while it copies; client writers wait (busy timeout).</para>
/// <para><b>Positions.</b> <c>sqlite:</c> followed by the change's sequence as 19 digits (fixed
/// width, so that ordinal string order is sequence order); <see cref="SourcePosition.Start"/> is
/// before every change.</para>
/// <para><b>Values.</b> Each row is stored as a JSON object written by <c>json_object</c>; a change
/// row's <c>key_json</c>, <c>before_json</c> and <c>after_json</c> use this representation, lossless for
/// SQLite's storage classes: INTEGER is a JSON integer (read back as <see cref="long"/>), REAL a JSON
/// number with a decimal point or an exponent (<see cref="double"/>; SQLite 3.53 writes 17
/// significant digits, which round-trips, older writers may round; -0.0 reads as 0.0), TEXT a JSON
/// string (<see cref="string"/>, the empty string stays empty), NULL a JSON null (<c>null</c>), and a
/// BLOB the object <c>{"$hex": "0A1B..."}</c> (<see cref="byte"/>[]): json_object cannot take a blob,
/// and a TEXT value is always written as a JSON string, never as an object, so the two cannot be
/// confused. The storage class of each value is what counts, not the declared column type (SQLite
/// is dynamically typed).</para>
/// <para><b>Updates</b> carry the row before and after; an update that changes the primary key is
/// recorded as a delete of the old key followed by an insert of the new one.</para>
/// </remarks>
public sealed class SqliteChangeTableSource : IChangeSource, IReplayableSource, ISnapshotSource
{
    /// <summary>The prefix of every position this connector writes.</summary>
    public const string PositionPrefix = "sqlite:";

    /// <summary>How long a statement waits for the client application's write lock.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(10);

    private const int SequenceDigits = 19;

    private readonly string _workflowId;
    private readonly string _connectionString;
    private readonly IReadOnlyList<string> _tables;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private SqliteConnection? _connection;

    // PRAGMA schema_version when the capture objects were last checked; -1 before the first check.
    private long _checkedSchemaVersion = -1;

    /// <summary>Creates the source; nothing is opened until the first call.</summary>
    /// <param name="workflowId">The workflow capturing; names the change table and the triggers.</param>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string naming an existing database file.</param>
    /// <param name="tables">The tables to capture (each needs a primary key).</param>
    /// <param name="logger">Where capture events are logged.</param>
    /// <param name="timeProvider">The clock for lag ages; the system clock by default.</param>
    /// <param name="retention">Changes kept in the change table below the confirmed checkpoint, so that a replay can reach back that far (0: pruned at the checkpoint).</param>
    public SqliteChangeTableSource(
        string workflowId,
        string connectionString,
        IReadOnlyList<string> tables,
        ILogger logger,
        TimeProvider? timeProvider = null,
        int retention = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(retention);
        Retention = retention;
        ArgumentException.ThrowIfNullOrWhiteSpace(workflowId);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(logger);
        if (tables.Count == 0)
            throw new ArgumentException("At least one table must be captured.", nameof(tables));
        if (tables.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("A table name cannot be empty.", nameof(tables));

        _workflowId = workflowId;
        _connectionString = connectionString;
        _tables = tables.ToArray();
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        ChangeTableName = SqliteCaptureSchema.ChangeTableName(workflowId);
        string database;
        // A connection string without a file is reported by PrepareAsync, like every other configuration error.
        try { database = Path.GetFileNameWithoutExtension(DatabasePath(connectionString)); }
        catch (SourceConfigurationException) { database = "invalid"; }
        SourceName = PositionPrefix + database;
    }

    /// <summary>The <see cref="ChangeEvent.Source"/> of the changes: <c>sqlite:</c> and the database file name without extension.</summary>
    public string SourceName { get; }

    /// <summary>The name of the workflow's change table in the client database.</summary>
    public string ChangeTableName { get; }

    /// <summary>How many changes at or below the confirmed checkpoint stay in the change table for replays.</summary>
    public int Retention { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> CapturedTables => _tables;

    /// <summary>The position of the change with the given sequence.</summary>
    public static SourcePosition PositionOf(long sequence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequence);
        return new SourcePosition(PositionPrefix + sequence.ToString("D19", CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The sequence a position stands for (0 for <see cref="SourcePosition.Start"/>); throws
    /// <see cref="FormatException"/> for a position this connector did not write.
    /// </summary>
    public static long SequenceOf(SourcePosition position)
    {
        if (position.IsStart) return 0;
        var value = position.Value;
        var digits = value.AsSpan(Math.Min(value.Length, PositionPrefix.Length));
        if (value.Length == PositionPrefix.Length + SequenceDigits
            && value.StartsWith(PositionPrefix, StringComparison.Ordinal)
            && !digits.ContainsAnyExceptInRange('0', '9')
            && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            return sequence;
        throw new FormatException(
            $"'{value}' is not a SQLite change-table position (expected '{PositionPrefix}' followed by {SequenceDigits} digits).");
    }

    /// <summary>The name of a workflow's change table: <c>_rs_changes_</c> and the sanitized workflow id.</summary>
    public static string ChangeTableNameFor(string workflowId) => SqliteCaptureSchema.ChangeTableName(workflowId);

    /// <inheritdoc />
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken);
        await SynchronizeCaptureAsync(connection, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Change rows come back in sequence order, which is commit order: SQLite serializes writers,
    /// so every row of a transaction gets its sequence before any row of a transaction that commits
    /// later, and AUTOINCREMENT never hands out a sequence again (not even one of a rolled-back
    /// transaction or of a pruned row), so a reader never sees a smaller sequence appear later.
    /// A change row that cannot be read stops the read with a <see cref="FormatException"/> naming
    /// its sequence: it is never skipped.
    /// </remarks>
    public async Task<IReadOnlyList<ChangeEvent>> ReadAsync(SourcePosition after, int maxCount, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        var afterSequence = SequenceOf(after);
        var connection = await ConnectionAsync(cancellationToken);
        if (await SchemaVersionAsync(connection, null, cancellationToken) != _checkedSchemaVersion)
            await SynchronizeCaptureAsync(connection, cancellationToken);

        await using var command = connection.CreateCommand();
        command.CommandText =
            $"SELECT seq, tbl, op, key_json, before_json, after_json, committed_at FROM {SqliteCaptureSchema.Identifier(ChangeTableName)} " +
            "WHERE seq > $after ORDER BY seq LIMIT $max";
        command.Parameters.AddWithValue("$after", afterSequence);
        command.Parameters.AddWithValue("$max", maxCount);
        var changes = new List<ChangeEvent>(Math.Min(maxCount, 1024));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            changes.Add(ToChange(reader));
        return changes;
    }

    /// <inheritdoc />
    /// <remarks>
    /// Deletes the change rows at or below the checkpoint, except the last <see cref="Retention"/> of
    /// them (kept for replays); AUTOINCREMENT keeps later sequences above them.
    /// </remarks>
    public async Task ConfirmAsync(SourcePosition checkpoint, CancellationToken cancellationToken)
    {
        var sequence = SequenceOf(checkpoint) - Retention;
        if (sequence <= 0) return;
        var connection = await ConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"DELETE FROM {SqliteCaptureSchema.Identifier(ChangeTableName)} WHERE seq <= $seq";
        command.Parameters.AddWithValue("$seq", sequence);
        var pruned = await command.ExecuteNonQueryAsync(cancellationToken);
        _logger.LogDebug("Pruned {Count} change rows up to {Position} from {ChangeTable}", pruned, checkpoint, ChangeTableName);
    }

    /// <inheritdoc />
    public async Task<SourceLag> GetLagAsync(SourcePosition position, CancellationToken cancellationToken)
    {
        var sequence = SequenceOf(position);
        var connection = await ConnectionAsync(cancellationToken);
        var table = SqliteCaptureSchema.Identifier(ChangeTableName);
        await using var command = connection.CreateCommand();
        command.CommandText =
            $"SELECT count(*), (SELECT committed_at FROM {table} WHERE seq > $seq ORDER BY seq LIMIT 1) FROM {table} WHERE seq > $seq";
        command.Parameters.AddWithValue("$seq", sequence);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var pending = reader.GetInt64(0);
        if (pending == 0 || reader.IsDBNull(1)) return new SourceLag(pending, null, null);
        var age = _time.GetUtcNow() - ParseCommitTime(reader.GetString(1));
        return new SourceLag(pending, null, age < TimeSpan.Zero ? TimeSpan.Zero : age);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The change table holds every change not yet pruned: the oldest row left, but never below
    /// checkpoint - <see cref="Retention"/>, which the next confirmation may prune while the replay runs.
    /// </remarks>
    public async Task<ReplayReach> GetReplayReachAsync(SourcePosition checkpoint, CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken);
        var table = SqliteCaptureSchema.Identifier(ChangeTableName);
        await using var command = connection.CreateCommand();
        command.CommandText =
            $"SELECT (SELECT min(seq) FROM {table}), (SELECT seq FROM sqlite_sequence WHERE name = $name)";
        command.Parameters.AddWithValue("$name", ChangeTableName);
        long oldestHeld, lastWritten;
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            lastWritten = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
            oldestHeld = reader.IsDBNull(0) ? lastWritten + 1 : reader.GetInt64(0);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 1 && e.Message.Contains("no such table", StringComparison.Ordinal))
        {
            (oldestHeld, lastWritten) = (1, 0);
        }
        var earliest = Math.Max(oldestHeld - 1, SequenceOf(checkpoint) - Retention);
        return new ReplayReach(PositionOf(Math.Max(0, earliest)),
            $"the change table {ChangeTableName} keeps the last {Retention} changes at or below the checkpoint (source.retention) and " +
            "prunes older ones; raise source.retention to reach further back, or re-snapshot the table (rsctl workflow snapshot)");
    }

    /// <inheritdoc />
    /// <remarks>
    /// Copies the table's rows into the change table as snapshot reads (<c>'r'</c>), in key order, in
    /// one <c>BEGIN IMMEDIATE</c> transaction: SQLite has one writer at a time, so the rows are a
    /// consistent image placed exactly between the changes committed before and after it. Returns
    /// <c>sqlite-</c> and the sequence of the first row copied.
    /// </remarks>
    public async Task<string> RequestSnapshotAsync(string table, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        var connection = await ConnectionAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);
        var shapes = await ReadTableShapesAsync(connection, transaction, cancellationToken);
        var shape = shapes.FirstOrDefault(s => string.Equals(s.Name, table, StringComparison.OrdinalIgnoreCase))
                    ?? throw new ArgumentException(
                        $"Table '{table}' is not captured by workflow '{_workflowId}' (captured: {string.Join(", ", shapes.Select(s => s.Name))}).", nameof(table));
        await using var next = connection.CreateCommand();
        next.Transaction = transaction;
        next.CommandText = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = $name), 0) + 1";
        next.Parameters.AddWithValue("$name", ChangeTableName);
        var first = Convert.ToInt64(await next.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        var rows = await ExecuteAsync(connection, transaction, SqliteCaptureSchema.Snapshot(ChangeTableName, shape), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        _logger.LogInformation("Workflow {WorkflowId} re-snapshot of {Table}: {Rows} rows into {ChangeTable} from sequence {First}",
            _workflowId, shape.Name, rows, ChangeTableName, first);
        return "sqlite-" + first.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Removes a workflow's capture from a database: its triggers on every table and its change
    /// table (with the changes not yet pruned). For deleting a workflow; the client's tables are untouched.
    /// </summary>
    /// <exception cref="SourceConfigurationException">The database file does not exist.</exception>
    public static async Task RemoveCaptureAsync(string connectionString, string workflowId, ILogger? logger, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workflowId);
        logger ??= NullLogger.Instance;
        await using var connection = await OpenAsync(connectionString, logger, cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);
        var prefix = SqliteCaptureSchema.TriggerPrefix(workflowId);
        var triggers = (await ReadTriggersAsync(connection, transaction, cancellationToken))
            .Where(t => t.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .ToList();
        foreach (var trigger in triggers)
            await ExecuteAsync(connection, transaction, $"DROP TRIGGER IF EXISTS {SqliteCaptureSchema.Identifier(trigger.Name)}", cancellationToken);
        var changeTable = SqliteCaptureSchema.ChangeTableName(workflowId);
        await ExecuteAsync(connection, transaction, $"DROP TABLE IF EXISTS {SqliteCaptureSchema.Identifier(changeTable)}", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Removed capture of workflow {WorkflowId}: {TriggerCount} triggers and change table {ChangeTable}",
            workflowId, triggers.Count, changeTable);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
            _connection = null;
        }
    }

    private async Task<SqliteConnection> ConnectionAsync(CancellationToken cancellationToken) =>
        _connection ??= await OpenAsync(_connectionString, _logger, cancellationToken);

    private static string DatabasePath(string connectionString)
    {
        SqliteConnectionStringBuilder builder;
        try { builder = new SqliteConnectionStringBuilder(connectionString); }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new SourceConfigurationException($"The SQLite connection string is not valid: {e.Message}", e);
        }
        if (string.IsNullOrWhiteSpace(builder.DataSource) || builder.DataSource == ":memory:" || builder.Mode == SqliteOpenMode.Memory)
            throw new SourceConfigurationException(
                "SQLite capture needs a database file shared with the client application; the connection string names none (or an in-memory database).");
        return builder.DataSource;
    }

    private static async Task<SqliteConnection> OpenAsync(string connectionString, ILogger logger, CancellationToken cancellationToken)
    {
        var path = Path.GetFullPath(DatabasePath(connectionString));
        if (!File.Exists(path))
            throw new SourceConfigurationException($"The SQLite database file '{path}' does not exist.");
        var builder = new SqliteConnectionStringBuilder(connectionString)
        {
            // Never create the client's database, and let Dispose really close the file (a pooled
            // connection would keep it open after the workflow is gone).
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        };
        var connection = new SqliteConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            // The client application writes concurrently: wait for its write lock rather than fail.
            await ExecuteAsync(connection, null, $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds}", cancellationToken);
            // WAL lets the capture read while the client writes (https://www.sqlite.org/wal.html);
            // the mode is persistent in the file.
            await using var wal = connection.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode = WAL";
            var mode = Convert.ToString(await wal.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                logger.LogWarning("SQLite database {Database} stays in journal mode {JournalMode}, not WAL; capture reads will wait for client writes",
                    Path.GetFileName(path), mode);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Makes the change table and the triggers match the configured tables, in one
    /// <c>BEGIN IMMEDIATE</c> transaction (the initial snapshot of a table whose triggers are new included).
    /// </summary>
    private async Task SynchronizeCaptureAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        // deferred: false is BEGIN IMMEDIATE: the write lock is taken before the schema is read, so
        // no client write can come between what is read here and the triggers created from it.
        await using var transaction = connection.BeginTransaction(deferred: false);
        var shapes = await ReadTableShapesAsync(connection, transaction, cancellationToken);
        await ExecuteAsync(connection, transaction, SqliteCaptureSchema.CreateChangeTable(ChangeTableName), cancellationToken);

        var prefix = SqliteCaptureSchema.TriggerPrefix(_workflowId);
        var existing = (await ReadTriggersAsync(connection, transaction, cancellationToken))
            .Where(t => t.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .ToList();

        var snapshots = new List<(string Table, int Rows)>();
        var recreated = new List<string>();
        foreach (var shape in shapes)
        {
            var wanted = SqliteCaptureSchema.Triggers(_workflowId, ChangeTableName, shape);
            var present = existing.Where(t => string.Equals(t.Table, shape.Name, StringComparison.OrdinalIgnoreCase)).ToList();
            var current = present.Count == wanted.Count
                          && present.All(t => wanted.TryGetValue(t.Name, out var sql) && sql == t.Sql);
            if (current) continue;

            foreach (var trigger in present)
                await ExecuteAsync(connection, transaction, $"DROP TRIGGER {SqliteCaptureSchema.Identifier(trigger.Name)}", cancellationToken);
            foreach (var sql in wanted.Values)
                await ExecuteAsync(connection, transaction, sql, cancellationToken);

            if (present.Count == 0)
            {
                // First capture of this table: its existing rows go into the change table before any
                // change the new triggers record, inside the same write transaction.
                var rows = await ExecuteAsync(connection, transaction, SqliteCaptureSchema.Snapshot(ChangeTableName, shape), cancellationToken);
                snapshots.Add((shape.Name, rows));
            }
            else
            {
                recreated.Add(shape.Name);
            }
        }

        // Triggers of tables no longer captured would keep filling the change table.
        var captured = shapes.Select(s => s.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var obsolete = existing.Where(t => !captured.Contains(t.Table)).ToList();
        foreach (var trigger in obsolete)
            await ExecuteAsync(connection, transaction, $"DROP TRIGGER {SqliteCaptureSchema.Identifier(trigger.Name)}", cancellationToken);

        // Read inside the write transaction: no one else can change the schema before the commit.
        var schemaVersion = await SchemaVersionAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        _checkedSchemaVersion = schemaVersion;

        foreach (var (table, rows) in snapshots)
            _logger.LogInformation("Workflow {WorkflowId} started capturing {Table}: snapshot of {Rows} rows into {ChangeTable}",
                _workflowId, table, rows, ChangeTableName);
        foreach (var table in recreated)
            _logger.LogInformation("Workflow {WorkflowId} recreated the capture triggers of {Table}: its columns changed", _workflowId, table);
        foreach (var table in obsolete.Select(t => t.Table).Distinct(StringComparer.OrdinalIgnoreCase))
            _logger.LogInformation("Workflow {WorkflowId} stopped capturing {Table}: no longer configured", _workflowId, table);
    }

    private async Task<List<SqliteTableShape>> ReadTableShapesAsync(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        var tables = new List<(string Name, string Sql)>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'table' ORDER BY name";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                tables.Add((reader.GetString(0), reader.GetString(1)));
        }
        var userTables = tables
            .Where(t => !t.Name.StartsWith("sqlite_", StringComparison.OrdinalIgnoreCase)
                        && !t.Name.StartsWith(SqliteCaptureSchema.ObjectPrefix, StringComparison.OrdinalIgnoreCase))
            .ToList();
        string Existing() => userTables.Count == 0 ? "none" : string.Join(", ", userTables.Select(t => t.Name));

        var shapes = new List<SqliteTableShape>();
        foreach (var configured in _tables)
        {
            if (configured.StartsWith(SqliteCaptureSchema.ObjectPrefix, StringComparison.OrdinalIgnoreCase)
                || configured.StartsWith("sqlite_", StringComparison.OrdinalIgnoreCase))
                throw new SourceConfigurationException(
                    $"Table '{configured}' belongs to SQLite or to the platform and cannot be captured. Tables: {Existing()}.");
            // SQLite table names are case-insensitive; the changes carry the name as the schema spells it.
            var match = userTables.FirstOrDefault(t => string.Equals(t.Name, configured, StringComparison.OrdinalIgnoreCase));
            if (match.Name is null)
                throw new SourceConfigurationException(
                    $"Table '{configured}' does not exist in {Path.GetFileName(DatabasePath(_connectionString))}. Tables: {Existing()}.");
            if (match.Sql.StartsWith("CREATE VIRTUAL TABLE", StringComparison.OrdinalIgnoreCase))
                throw new SourceConfigurationException($"Table '{match.Name}' is a virtual table; SQLite cannot put triggers on it.");
            if (shapes.Any(s => s.Name == match.Name)) continue;

            var columns = new List<(string Name, int KeyIndex)>();
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = "SELECT name, pk FROM pragma_table_info($table) ORDER BY cid";
                command.Parameters.AddWithValue("$table", match.Name);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                    columns.Add((reader.GetString(0), reader.GetInt32(1)));
            }
            var key = columns.Where(c => c.KeyIndex > 0).OrderBy(c => c.KeyIndex).Select(c => c.Name).ToList();
            if (key.Count == 0)
                throw new SourceConfigurationException(
                    $"Table '{match.Name}' has no primary key; SQLite capture keys every change by it. Declare a PRIMARY KEY on the table.");
            shapes.Add(new SqliteTableShape(match.Name, columns.Select(c => c.Name).ToList(), key));
        }
        return shapes;
    }

    private sealed record TriggerRow(string Name, string Table, string Sql);

    private static async Task<List<TriggerRow>> ReadTriggersAsync(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        var triggers = new List<TriggerRow>();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT name, tbl_name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'trigger'";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            triggers.Add(new TriggerRow(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        return triggers;
    }

    private static async Task<long> SchemaVersionAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA schema_version";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static async Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private ChangeEvent ToChange(SqliteDataReader reader)
    {
        var sequence = reader.GetInt64(0);
        var table = reader.IsDBNull(1) ? "?" : reader.GetString(1);
        var field = "op";
        try
        {
            var operation = reader.GetString(2) switch
            {
                "i" => ChangeOperation.Insert,
                "u" => ChangeOperation.Update,
                "d" => ChangeOperation.Delete,
                "r" => ChangeOperation.Read,
                var other => throw new FormatException($"unknown operation '{other}'"),
            };
            field = "key_json";
            var key = SqliteRowJson.Parse(reader.GetString(3));
            field = "before_json";
            var before = reader.IsDBNull(4) ? null : SqliteRowJson.Parse(reader.GetString(4));
            field = "after_json";
            var after = reader.IsDBNull(5) ? null : SqliteRowJson.Parse(reader.GetString(5));
            field = "committed_at";
            var committed = ParseCommitTime(reader.GetString(6));
            if (after is null && operation != ChangeOperation.Delete)
                throw new FormatException("after_json is NULL for an operation that has a row after it");
            if (before is null && operation == ChangeOperation.Delete)
                throw new FormatException("before_json is NULL for a delete");
            return new ChangeEvent(SourceName, table, operation, key, before, after, committed, PositionOf(sequence));
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidCastException or InvalidOperationException)
        {
            // Never skipped: the read fails, and the workflow stops or dead-letters with this reason.
            throw new FormatException(
                $"Change {sequence} ({PositionOf(sequence)}, table '{table}') in {ChangeTableName} cannot be read: {field}: {e.Message}", e);
        }
    }

    private static DateTimeOffset ParseCommitTime(string text) =>
        DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
