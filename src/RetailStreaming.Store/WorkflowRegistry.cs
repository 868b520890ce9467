using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>The registry of every workflow of the platform, in the platform store's <c>workflows</c> table.</summary>
public sealed class WorkflowRegistry : IWorkflowRegistry
{
    private readonly PlatformDatabase _database;

    internal WorkflowRegistry(PlatformDatabase database) => _database = database;

    /// <inheritdoc />
    /// <remarks>
    /// Registering a deleted workflow again restores it, with its first creation time.
    /// A workflow id belongs to one client for good: registering it for another client
    /// throws <see cref="InvalidOperationException"/> (a client's token sees its own workflows only).
    /// </remarks>
    public async Task RegisterAsync(string workflowId, string clientId, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(workflowId, nameof(workflowId));
        DeadLetterStore.RequireText(clientId, nameof(clientId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // The WHERE makes a conflicting client a no-op (0 rows), told apart from the idempotent case.
        await using var command = connection.Command("""
            INSERT INTO workflows (workflow_id, client_id, created_at, deleted_at)
            VALUES (@workflow_id, @client_id, @now, NULL)
            ON CONFLICT (workflow_id) DO UPDATE SET deleted_at = NULL
            WHERE workflows.client_id = excluded.client_id
            """)
            .With("@workflow_id", workflowId)
            .With("@client_id", clientId)
            .With("@now", _database.NowParameter());
        if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            throw new InvalidOperationException($"Workflow '{workflowId}' is registered for another client; it cannot be registered for client '{clientId}'.");
    }

    /// <inheritdoc />
    /// <remarks>Idempotent: deleting a deleted or unknown workflow changes nothing; the first deletion time is kept.</remarks>
    public async Task MarkDeletedAsync(string workflowId, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(workflowId, nameof(workflowId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command(
                "UPDATE workflows SET deleted_at = @now WHERE workflow_id = @workflow_id AND deleted_at IS NULL")
            .With("@workflow_id", workflowId)
            .With("@now", _database.NowParameter());
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<WorkflowEntry>> ListAsync(string? clientId = null, CancellationToken cancellationToken = default)
    {
        if (clientId is not null)
            DeadLetterStore.RequireText(clientId, nameof(clientId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var filter = clientId is null ? "" : " AND client_id = @client_id";
        await using var command = connection.Command(
            $"SELECT workflow_id, client_id, created_at, deleted_at FROM workflows WHERE deleted_at IS NULL{filter} ORDER BY workflow_id");
        if (clientId is not null)
            command.With("@client_id", clientId);
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One workflow, deleted or not, or null when it was never registered.</summary>
    public async Task<WorkflowEntry?> GetAsync(string workflowId, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(workflowId, nameof(workflowId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command(
                "SELECT workflow_id, client_id, created_at, deleted_at FROM workflows WHERE workflow_id = @workflow_id")
            .With("@workflow_id", workflowId);
        var entries = await ReadAsync(command, cancellationToken).ConfigureAwait(false);
        return entries.Count == 0 ? null : entries[0];
    }

    private async Task<IReadOnlyList<WorkflowEntry>> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var entries = new List<WorkflowEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new WorkflowEntry(
                WorkflowId: reader.GetString(0),
                ClientId: reader.GetString(1),
                CreatedAt: _database.ReadTime(reader, 2),
                Deleted: !reader.IsDBNull(3)));
        }

        return entries;
    }
}
