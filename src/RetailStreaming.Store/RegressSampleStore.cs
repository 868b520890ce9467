using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>One change a workflow's transform ran, with what it made of it: a regression sample.</summary>
/// <param name="Id">Store-assigned id, increasing in recording order (0 before it is stored).</param>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="Position">The change's source position.</param>
/// <param name="Table">The change's source table.</param>
/// <param name="Operation">The change's operation (insert, update, delete, read), lower case.</param>
/// <param name="Key">The change's primary key as compact JSON.</param>
/// <param name="TransformPackage">The package that made the outputs.</param>
/// <param name="TransformVersion">Its version.</param>
/// <param name="InputJson">The change, as ChangeEventJson writes it.</param>
/// <param name="OutputsJson">The records the transform made, a JSON array of <c>{type, key, delete, payload}</c>.</param>
/// <param name="RecordedAt">When it was stored.</param>
public sealed record RegressSample(
    long Id,
    string WorkflowId,
    string ClientId,
    string Position,
    string Table,
    string Operation,
    string Key,
    string TransformPackage,
    string TransformVersion,
    string InputJson,
    string OutputsJson,
    DateTimeOffset RecordedAt);

/// <summary>
/// The recorded regression samples, in the platform store's <c>regress_samples</c> table: a bounded
/// sample per workflow, table and operation, newest kept, written in batches by the node's recorder.
/// </summary>
public sealed class RegressSampleStore
{
    private readonly PlatformDatabase _database;

    internal RegressSampleStore(PlatformDatabase database) => _database = database;

    /// <summary>
    /// Stores the samples in one transaction (a change already recorded for the workflow is replaced;
    /// samples of a workflow marked deleted are dropped) and then deletes, for each (workflow, table, operation) written, the oldest beyond
    /// <paramref name="bound"/>. Returns how many rows the bound deleted.
    /// </summary>
    public async Task<int> AddAsync(IReadOnlyList<RegressSample> samples, int bound, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        if (samples.Count == 0) return 0;
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = _database.NowParameter();
        foreach (var s in samples)
        {
            DeadLetterStore.RequireText(s.WorkflowId, nameof(s.WorkflowId));
            DeadLetterStore.RequireText(s.Position, nameof(s.Position));
            // A replayed change replaces its row, and takes a new id: it is the newest sample again.
            await using (var delete = connection.Command(
                    "DELETE FROM regress_samples WHERE workflow_id = @workflow_id AND position = @position", transaction)
                .With("@workflow_id", s.WorkflowId).With("@position", s.Position))
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            // Never for a deleted workflow: a flush picked before the deletion must not bring client data back.
            await using var insert = connection.Command("""
                    INSERT INTO regress_samples (workflow_id, position, client_id, source_table, operation, row_key,
                        transform_package, transform_version, input_json, outputs_json, recorded_at)
                    SELECT @workflow_id, @position, @client_id, @source_table, @operation, @row_key,
                        @transform_package, @transform_version, @input_json, @outputs_json, @now
                    WHERE NOT EXISTS (SELECT 1 FROM workflows WHERE workflow_id = @workflow_id AND deleted_at IS NOT NULL)
                    """, transaction)
                .With("@workflow_id", s.WorkflowId).With("@position", s.Position).With("@client_id", s.ClientId)
                .With("@source_table", s.Table).With("@operation", s.Operation).With("@row_key", s.Key)
                .With("@transform_package", s.TransformPackage).With("@transform_version", s.TransformVersion)
                .With("@input_json", s.InputJson).With("@outputs_json", s.OutputsJson).With("@now", now);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var pruned = 0;
        foreach (var kind in samples.Select(s => (s.WorkflowId, s.Table, s.Operation)).Distinct())
        {
            await using var prune = connection.Command("""
                    DELETE FROM regress_samples
                    WHERE workflow_id = @workflow_id AND source_table = @source_table AND operation = @operation
                      AND id NOT IN (SELECT id FROM regress_samples
                                     WHERE workflow_id = @workflow_id AND source_table = @source_table AND operation = @operation
                                     ORDER BY id DESC LIMIT @bound)
                    """, transaction)
                .With("@workflow_id", kind.WorkflowId).With("@source_table", kind.Table).With("@operation", kind.Operation)
                .With("@bound", bound);
            pruned += await prune.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return pruned;
    }

    /// <summary>A workflow's samples in recording order (oldest first), at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<RegressSample>> ListAsync(string workflowId, int limit = 100_000, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(workflowId, nameof(workflowId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command("""
                SELECT id, workflow_id, client_id, position, source_table, operation, row_key, transform_package,
                       transform_version, input_json, outputs_json, recorded_at
                FROM regress_samples WHERE workflow_id = @workflow_id ORDER BY id LIMIT @limit
                """)
            .With("@workflow_id", workflowId).With("@limit", limit);
        var samples = new List<RegressSample>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            samples.Add(Read(reader));
        return samples;
    }

    /// <summary>Deletes a workflow's samples (a deleted workflow); returns how many.</summary>
    public async Task<int> DeleteAsync(string workflowId, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(workflowId, nameof(workflowId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command("DELETE FROM regress_samples WHERE workflow_id = @workflow_id")
            .With("@workflow_id", workflowId);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private RegressSample Read(DbDataReader r) => new(
        Id: Convert.ToInt64(r.GetValue(0)),
        WorkflowId: r.GetString(1),
        ClientId: r.GetString(2),
        Position: r.GetString(3),
        Table: r.GetString(4),
        Operation: r.GetString(5),
        Key: r.GetString(6),
        TransformPackage: r.GetString(7),
        TransformVersion: r.GetString(8),
        InputJson: r.GetString(9),
        OutputsJson: r.GetString(10),
        RecordedAt: _database.ReadTime(r, 11));
}
