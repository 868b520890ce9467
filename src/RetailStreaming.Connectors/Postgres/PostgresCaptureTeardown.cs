using Microsoft.Extensions.Logging;
using Npgsql;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// Removes what a workflow's PostgreSQL capture owns in the client database when the workflow is
/// deleted: its replication slot (which otherwise keeps WAL on the client's disk for ever), its
/// publication and its snapshot progress schema <c>rs_&lt;workflow&gt;</c> (only when nothing else
/// lives in it). The client's tables are untouched. Idempotent: what is already gone is skipped.
/// </summary>
public static class PostgresCaptureTeardown
{
    /// <summary>What the teardown found and dropped.</summary>
    /// <param name="ObjectName">The slot's, publication's and schema's name.</param>
    /// <param name="SlotDropped">True when a slot was dropped, false when there was none.</param>
    /// <param name="PublicationDropped">True when a publication was dropped, false when there was none.</param>
    public sealed record Result(string ObjectName, bool SlotDropped, bool PublicationDropped)
    {
        /// <summary>One line for the operator.</summary>
        public string Describe() =>
            $"PostgreSQL replication slot {ObjectName} {(SlotDropped ? "dropped" : "absent")}, " +
            $"publication {ObjectName} {(PublicationDropped ? "dropped" : "absent")}, snapshot progress schema {ObjectName} removed";
    }

    /// <summary>
    /// Drops the slot (ending the connection that still uses it), the snapshot progress table and
    /// schema, and the publication; then checks that neither the slot nor the publication is left.
    /// </summary>
    /// <exception cref="CaptureTeardownException">Something could not be dropped; the message says what to run by hand.</exception>
    public static async Task<Result> RunAsync(string connectionString, string workflowId, ILogger logger, CancellationToken cancellationToken)
    {
        var name = PostgresCaptureNames.ObjectName(workflowId);
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            var (slot, publication) = await PostgresCaptureSetup.RemoveAsync(connection, name, cancellationToken);
            var (slotLeft, publicationLeft) = await RemainingAsync(connection, name, cancellationToken);
            if (slotLeft || publicationLeft)
                throw new InvalidOperationException(
                    $"{(slotLeft ? "the slot" : "the publication")} is still there after it was dropped (recreated by another process?)");
            var result = new Result(name, slot, publication);
            logger.LogInformation("Removed the capture of workflow {WorkflowId}: {Teardown}", workflowId, result.Describe());
            return result;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException or ArgumentException)
        {
            var reason = e is PostgresException pg ? PostgresCaptureSetup.Describe(pg) : e.Message;
            throw new CaptureTeardownException(
                $"the PostgreSQL capture of workflow '{workflowId}' could not be removed: {reason}. " +
                $"Run 'rsctl workflow delete {workflowId}' again once the database is reachable, or run on the client database as a " +
                $"superuser or the slot's owner: {ManualSql(name)}", e);
        }
    }

    /// <summary>Whether a slot or a publication of that name exists.</summary>
    public static async Task<(bool Slot, bool Publication)> RemainingAsync(NpgsqlConnection connection, string objectName, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = @name), (SELECT count(*) FROM pg_publication WHERE pubname = @name)",
            connection);
        command.Parameters.AddWithValue("name", objectName);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0) > 0, reader.GetInt64(1) > 0);
    }

    /// <summary>The statements that remove a workflow's capture by hand.</summary>
    public static string ManualSql(string objectName) =>
        $"SELECT pg_drop_replication_slot('{objectName}') FROM pg_replication_slots WHERE slot_name = '{objectName}'; " +
        $"DROP PUBLICATION IF EXISTS {PostgresCaptureNames.Quote(objectName)}; " +
        $"DROP TABLE IF EXISTS {PostgresSnapshotProgress.Qualified(objectName)}; DROP SCHEMA IF EXISTS {PostgresCaptureNames.Quote(objectName)};";
}
