using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// The catalog side of PostgreSQL capture: the checks made before anything is created, the
/// workflow's publication and replication slot, and what the lag figures are read from.
/// </summary>
internal static class PostgresCaptureSetup
{
    /// <summary>The oldest server with pgoutput's <c>messages</c> option (heartbeats travel as logical decoding messages).</summary>
    public const int MinimumServerVersion = 140000;

    /// <summary>A configured table as found in the catalog.</summary>
    public sealed record CapturedTable(uint Oid, string Schema, string Name)
    {
        public string Qualified => Schema + "." + Name;
    }

    /// <summary>The workflow's replication slot as pg_replication_slots shows it.</summary>
    public sealed record SlotState(string? Plugin, string SlotType, string? Database, int? ActivePid, string? WalStatus, ulong? ConfirmedFlush, ulong? RestartLsn);

    private sealed record ServerState(
        int Version, string WalLevel, int MaxSlots, int MaxWalSenders, bool Superuser, bool Replication,
        string User, string Database, int SlotsInUse, int WalSendersInUse);

    private sealed record CatalogTable(uint Oid, string Schema, string Name, char ReplicaIdentity, bool HasPrimaryKey, bool HasIdentityIndex, bool CanSelect)
    {
        public string Qualified => Schema + "." + Name;
    }

    /// <summary>
    /// Checks that capture can work (every problem found, in one <see cref="SourceConfigurationException"/>)
    /// and only then creates or updates the publication. Returns the captured tables.
    /// </summary>
    public static async Task<IReadOnlyList<CapturedTable>> PrepareAsync(
        NpgsqlConnection connection, string workflowId, string objectName, IReadOnlyList<string> configuredTables,
        ILogger logger, CancellationToken cancellationToken)
    {
        var server = await ReadServerAsync(connection, cancellationToken);
        var problems = new List<string>();
        if (server.Version < MinimumServerVersion)
            problems.Add($"The server runs PostgreSQL {server.Version / 10000}; capture needs PostgreSQL 14 or later.");
        if (server.WalLevel != "logical")
            problems.Add($"wal_level is '{server.WalLevel}'; logical replication needs wal_level = logical " +
                         "(ALTER SYSTEM SET wal_level = logical, then restart the server).");
        if (!server.Replication && !server.Superuser)
            problems.Add($"User '{server.User}' has neither the REPLICATION attribute nor superuser; " +
                         $"grant it with ALTER ROLE {PostgresCaptureNames.Quote(server.User)} REPLICATION.");

        var tables = await ResolveTablesAsync(connection, server, configuredTables, problems, cancellationToken);

        var slot = await ReadSlotAsync(connection, objectName, cancellationToken);
        if (slot is null)
        {
            if (server.SlotsInUse >= server.MaxSlots)
                problems.Add($"No replication slot is free: max_replication_slots = {server.MaxSlots} and {server.SlotsInUse} are in use. " +
                             "Raise max_replication_slots (server restart) or drop a slot nobody uses (pg_drop_replication_slot).");
            if (server.WalSendersInUse >= server.MaxWalSenders)
                problems.Add($"No WAL sender is free: max_wal_senders = {server.MaxWalSenders} and {server.WalSendersInUse} are in use. " +
                             "Raise max_wal_senders (server restart).");
        }
        else
        {
            if (SlotProblem(slot, objectName, server.Database) is { } problem)
                problems.Add(problem);
            // The slot's own connection, if still open, frees its WAL sender when it closes.
            else if (slot.ActivePid is null && server.WalSendersInUse >= server.MaxWalSenders)
                problems.Add($"No WAL sender is free: max_wal_senders = {server.MaxWalSenders} and {server.WalSendersInUse} are in use. " +
                             "Raise max_wal_senders (server restart).");
        }

        if (problems.Count > 0)
            throw new SourceConfigurationException(
                $"PostgreSQL capture of workflow '{workflowId}' cannot start on database '{server.Database}':\n- " + string.Join("\n- ", problems));

        await PublishAsync(connection, server, objectName, tables, logger, cancellationToken);
        try
        {
            await PostgresSnapshotProgress.CreateAsync(connection, objectName, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new SourceConfigurationException(
                $"User '{server.User}' cannot create the snapshot progress table {PostgresSnapshotProgress.Qualified(objectName)}: {e.MessageText}. " +
                "It needs CREATE on the database (for the schema), as the publication does.", e);
        }
        return tables;
    }

    /// <summary>Why an existing slot cannot be used, or null.</summary>
    public static string? SlotProblem(SlotState slot, string slotName, string database)
    {
        if (slot.SlotType != "logical" || slot.Plugin != "pgoutput")
            return $"Replication slot '{slotName}' exists but is a {slot.SlotType} slot with plugin '{slot.Plugin}', not a pgoutput logical slot; " +
                   "drop it (pg_drop_replication_slot) or give the workflow another id.";
        if (slot.Database != database)
            return $"Replication slot '{slotName}' belongs to database '{slot.Database}', not '{database}'; " +
                   "drop it there or give the workflow another id.";
        if (slot.WalStatus == "lost")
            return LostSlotMessage(slotName, "its WAL was removed (wal_status = lost, max_slot_wal_keep_size exceeded)");
        return null;
    }

    /// <summary>The message of a slot that can no longer deliver the changes after the checkpoint.</summary>
    public static string LostSlotMessage(string slotName, string reason) =>
        $"Replication slot '{slotName}' was lost: {reason}. The changes since the workflow's last checkpoint cannot be read any more, " +
        "and the slot is never recreated past a checkpoint silently. A re-snapshot is needed: remove the workflow's capture " +
        "(PostgresLogicalSource.RemoveCaptureAsync, or drop the slot and the publication) and start the workflow again from the beginning.";

    public static async Task<SlotState?> ReadSlotAsync(NpgsqlConnection connection, string slotName, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT plugin, slot_type, database, active_pid, wal_status, confirmed_flush_lsn, restart_lsn " +
            "FROM pg_replication_slots WHERE slot_name = @slot", connection);
        command.Parameters.AddWithValue("slot", slotName);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return new SlotState(
            reader.IsDBNull(0) ? null : reader.GetString(0),
            reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetInt32(3),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.IsDBNull(5) ? null : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(5),
            reader.IsDBNull(6) ? null : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(6));
    }

    /// <summary>Creates the workflow's slot (pgoutput); waits for transactions running at that moment to end, as PostgreSQL does.</summary>
    public static async Task<ulong> CreateSlotAsync(NpgsqlConnection connection, string slotName, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT lsn FROM pg_create_logical_replication_slot(@slot, 'pgoutput')", connection)
        {
            CommandTimeout = 0,
        };
        command.Parameters.AddWithValue("slot", slotName);
        return (ulong)(NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>WAL bytes the slot keeps on the server's disk (current LSN - restart_lsn), or null without a slot.</summary>
    public static async Task<long?> RetainedWalBytesAsync(NpgsqlConnection connection, string slotName, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = @slot", connection);
        command.Parameters.AddWithValue("slot", slotName);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is long bytes ? Math.Max(0, bytes) : null;
    }

    /// <summary>Drops the workflow's slot (waiting for its connection to close) and publication, if they exist.</summary>
    public static async Task<(bool Slot, bool Publication)> RemoveAsync(NpgsqlConnection connection, string objectName, CancellationToken cancellationToken)
    {
        var slot = await ReadSlotAsync(connection, objectName, cancellationToken);
        if (slot is not null)
        {
            if (slot.ActivePid is { } pid)
            {
                await using var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", connection);
                terminate.Parameters.AddWithValue("pid", pid);
                await terminate.ExecuteNonQueryAsync(cancellationToken);
            }
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await using var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot(@slot)", connection);
                    drop.Parameters.AddWithValue("slot", objectName);
                    await drop.ExecuteNonQueryAsync(cancellationToken);
                    break;
                }
                // 55006: the terminated WAL sender has not let go of the slot yet.
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 50)
                {
                    await Task.Delay(100, cancellationToken);
                }
            }
        }
        await PostgresSnapshotProgress.DropAsync(connection, objectName, cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT count(*) FROM pg_publication WHERE pubname = @pub", connection);
        exists.Parameters.AddWithValue("pub", objectName);
        var publication = (long)(await exists.ExecuteScalarAsync(cancellationToken))! > 0;
        if (publication)
        {
            await using var drop = new NpgsqlCommand($"DROP PUBLICATION IF EXISTS {PostgresCaptureNames.Quote(objectName)}", connection);
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
        return (slot is not null, publication);
    }

    private static async Task<ServerState> ReadServerAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT current_setting('server_version_num')::int,
                   current_setting('wal_level'),
                   current_setting('max_replication_slots')::int,
                   current_setting('max_wal_senders')::int,
                   r.rolsuper, r.rolreplication, current_user::text, current_database()::text,
                   (SELECT count(*) FROM pg_replication_slots)::int,
                   (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int
            FROM pg_roles r WHERE r.rolname = current_user
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new SourceConfigurationException("The connected user is not in pg_roles; cannot check its privileges.");
        return new ServerState(
            reader.GetInt32(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetBoolean(4), reader.GetBoolean(5),
            reader.GetString(6), reader.GetString(7), reader.GetInt32(8), reader.GetInt32(9));
    }

    private static async Task<List<CapturedTable>> ResolveTablesAsync(
        NpgsqlConnection connection, ServerState server, IReadOnlyList<string> configured, List<string> problems, CancellationToken cancellationToken)
    {
        var catalog = new List<CatalogTable>();
        await using (var command = new NpgsqlCommand(
            """
            SELECT c.oid, n.nspname::text, c.relname::text, c.relreplident::text,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
                   has_table_privilege(c.oid, 'SELECT')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
            ORDER BY 2, 3
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                catalog.Add(new CatalogTable(reader.GetFieldValue<uint>(0), reader.GetString(1), reader.GetString(2),
                    reader.GetString(3)[0], reader.GetBoolean(4), reader.GetBoolean(5), reader.GetBoolean(6)));
        }

        string Existing()
        {
            if (catalog.Count == 0) return "none";
            var names = catalog.Select(t => t.Qualified).ToList();
            return names.Count <= 50 ? string.Join(", ", names) : string.Join(", ", names.Take(50)) + $" and {names.Count - 50} more";
        }

        var tables = new List<CapturedTable>();
        var missing = false;
        foreach (var name in configured)
        {
            var (schema, table) = PostgresCaptureNames.ParseTable(name);
            // Unquoted SQL identifiers fold to lower case: 'Products' means products unless a table is named "Products".
            var match = catalog.FirstOrDefault(t => t.Schema == schema && t.Name == table)
                        ?? catalog.FirstOrDefault(t => t.Schema == schema.ToLowerInvariant() && t.Name == table.ToLowerInvariant());
            if (match is null)
            {
                problems.Add($"Table '{schema}.{table}' does not exist in database '{server.Database}'.");
                missing = true;
                continue;
            }
            if (tables.Any(t => t.Oid == match.Oid)) continue;
            var quoted = PostgresCaptureNames.Quote(match.Schema, match.Name);
            switch (match.ReplicaIdentity)
            {
                case 'd' when !match.HasPrimaryKey:
                    problems.Add($"Table '{match.Qualified}' has neither a primary key nor REPLICA IDENTITY FULL, so its updates and deletes " +
                                 "cannot be keyed (and once published, PostgreSQL would refuse the application's UPDATE and DELETE on it). " +
                                 $"Add a primary key, or run ALTER TABLE {quoted} REPLICA IDENTITY FULL.");
                    break;
                case 'n':
                    problems.Add($"Table '{match.Qualified}' has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be keyed " +
                                 "(and once published, PostgreSQL would refuse the application's UPDATE and DELETE on it). " +
                                 $"Run ALTER TABLE {quoted} REPLICA IDENTITY DEFAULT (with a primary key) or REPLICA IDENTITY FULL.");
                    break;
                case 'i' when !match.HasIdentityIndex:
                    problems.Add($"Table '{match.Qualified}' has REPLICA IDENTITY USING INDEX but the index is gone. " +
                                 $"Run ALTER TABLE {quoted} REPLICA IDENTITY DEFAULT (with a primary key) or REPLICA IDENTITY FULL.");
                    break;
            }
            if (!match.CanSelect)
                problems.Add($"User '{server.User}' cannot SELECT from '{match.Qualified}'; capture reads it to fill unchanged TOASTed values. " +
                             $"GRANT SELECT ON {quoted} TO {PostgresCaptureNames.Quote(server.User)}.");
            tables.Add(new CapturedTable(match.Oid, match.Schema, match.Name));
        }
        if (missing)
            problems.Add($"Tables in database '{server.Database}': {Existing()}.");
        return tables;
    }

    private static async Task PublishAsync(
        NpgsqlConnection connection, ServerState server, string publication, IReadOnlyList<CapturedTable> tables, ILogger logger,
        CancellationToken cancellationToken)
    {
        const string Publish = "insert, update, delete, truncate";
        var tableList = string.Join(", ", tables.Select(t => PostgresCaptureNames.Quote(t.Schema, t.Name)));
        var quoted = PostgresCaptureNames.Quote(publication);

        bool? allTables = null;
        var flagsMatch = false;
        await using (var command = new NpgsqlCommand(
            "SELECT puballtables, pubinsert AND pubupdate AND pubdelete AND pubtruncate AND pubviaroot FROM pg_publication WHERE pubname = @pub",
            connection))
        {
            command.Parameters.AddWithValue("pub", publication);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                allTables = reader.GetBoolean(0);
                flagsMatch = reader.GetBoolean(1);
            }
        }

        try
        {
            if (allTables is null)
            {
                await ExecuteAsync(connection,
                    $"CREATE PUBLICATION {quoted} FOR TABLE {tableList} WITH (publish = '{Publish}', publish_via_partition_root = true)",
                    cancellationToken);
                logger.LogInformation("Created publication {Publication} for {Tables}", publication, string.Join(", ", tables.Select(t => t.Qualified)));
                return;
            }
            if (allTables == true)
                throw new SourceConfigurationException(
                    $"Publication '{publication}' exists and is FOR ALL TABLES; the workflow's publication lists its tables. " +
                    $"Drop it (DROP PUBLICATION {quoted}) and start the workflow again.");

            var published = new HashSet<string>(StringComparer.Ordinal);
            await using (var command = new NpgsqlCommand("SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = @pub", connection))
            {
                command.Parameters.AddWithValue("pub", publication);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                    published.Add(reader.GetString(0) + "." + reader.GetString(1));
            }
            if (!published.SetEquals(tables.Select(t => t.Qualified)))
            {
                await ExecuteAsync(connection, $"ALTER PUBLICATION {quoted} SET TABLE {tableList}", cancellationToken);
                logger.LogInformation("Publication {Publication} now lists {Tables} (was {Previous})", publication,
                    string.Join(", ", tables.Select(t => t.Qualified)), string.Join(", ", published.Order(StringComparer.Ordinal)));
            }
            if (!flagsMatch)
            {
                await ExecuteAsync(connection, $"ALTER PUBLICATION {quoted} SET (publish = '{Publish}', publish_via_partition_root = true)", cancellationToken);
                logger.LogInformation("Publication {Publication} now publishes {Operations}", publication, Publish);
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new SourceConfigurationException(
                $"User '{server.User}' cannot create or change publication '{publication}': {e.MessageText}. " +
                "Creating a publication needs CREATE on the database and ownership of the tables; a database owner can create it instead: " +
                $"CREATE PUBLICATION {quoted} FOR TABLE {tableList} WITH (publish = '{Publish}', publish_via_partition_root = true).", e);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A short description of a server error for logs and exceptions.</summary>
    public static string Describe(PostgresException e)
    {
        var sb = new StringBuilder(e.SqlState).Append(": ").Append(e.MessageText);
        if (!string.IsNullOrEmpty(e.Detail)) sb.Append(" (").Append(e.Detail).Append(')');
        return sb.ToString();
    }
}
