using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>The dead-letter store of every workflow, in the platform store's <c>dead_letters</c> table.</summary>
public sealed class DeadLetterStore : IDeadLetterStore
{
    /// <summary>The most dead letters one <see cref="ListAsync"/> call returns.</summary>
    public const int MaxPageSize = 1000;

    private const string Columns =
        "id, workflow_id, client_id, stage, position, output_index, transform_version, reason, input_json, output_json, created_at";

    private readonly PlatformDatabase _database;

    internal DeadLetterStore(PlatformDatabase database) => _database = database;

    /// <summary>The dead-letter stages: where in the workflow the record was given up on.</summary>
    public static IReadOnlyList<string> Stages { get; } = ["transform", "delivery"];

    /// <inheritdoc />
    /// <remarks>The store assigns <see cref="DeadLetter.Id"/> and <see cref="DeadLetter.CreatedAt"/>; the values passed are ignored.</remarks>
    public async Task<long> AddAsync(DeadLetter letter, CancellationToken cancellationToken = default)
    {
        Validate(letter);
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // One autocommit statement: durable when it returns (synchronous = FULL on SQLite, a commit on PostgreSQL).
        await using var command = connection.Command("""
            INSERT INTO dead_letters (workflow_id, client_id, stage, position, output_index, transform_version, reason, input_json, output_json, created_at)
            VALUES (@workflow_id, @client_id, @stage, @position, @output_index, @transform_version, @reason, @input_json, @output_json, @created_at)
            RETURNING id
            """)
            .With("@workflow_id", letter.WorkflowId)
            .With("@client_id", letter.ClientId)
            .With("@stage", letter.Stage)
            .With("@position", letter.Position)
            .With("@output_index", letter.OutputIndex)
            .With("@transform_version", letter.TransformVersion)
            .With("@reason", letter.Reason)
            .With("@input_json", letter.InputJson)
            .With("@output_json", letter.OutputJson)
            .With("@created_at", _database.NowParameter());
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DeadLetter>> ListAsync(string? workflowId, long afterId = 0, int limit = 100, CancellationToken cancellationToken = default)
    {
        if (workflowId is not null)
            RequireText(workflowId, nameof(workflowId));
        ArgumentOutOfRangeException.ThrowIfNegative(afterId);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);

        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var filter = workflowId is null ? "" : "workflow_id = @workflow_id AND ";
        await using var command = connection.Command(
                $"SELECT {Columns} FROM dead_letters WHERE {filter}id > @after_id ORDER BY id LIMIT @limit")
            .With("@after_id", afterId)
            .With("@limit", limit);
        if (workflowId is not null)
            command.With("@workflow_id", workflowId);
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<DeadLetter?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"SELECT {Columns} FROM dead_letters WHERE id = @id").With("@id", id);
        var letters = await ReadAsync(command, cancellationToken).ConfigureAwait(false);
        return letters.Count == 0 ? null : letters[0];
    }

    /// <inheritdoc />
    public async Task<long> CountAsync(string workflowId, CancellationToken cancellationToken = default)
    {
        RequireText(workflowId, nameof(workflowId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command("SELECT COUNT(*) FROM dead_letters WHERE workflow_id = @workflow_id")
            .With("@workflow_id", workflowId);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
    }

    private async Task<IReadOnlyList<DeadLetter>> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var letters = new List<DeadLetter>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            letters.Add(new DeadLetter(
                Id: reader.GetInt64(0),
                WorkflowId: reader.GetString(1),
                ClientId: reader.GetString(2),
                Stage: reader.GetString(3),
                Position: reader.GetString(4),
                OutputIndex: reader.IsDBNull(5) ? null : Convert.ToInt32(reader.GetValue(5)),
                TransformVersion: reader.GetNullableString(6),
                Reason: reader.GetString(7),
                InputJson: reader.GetString(8),
                OutputJson: reader.GetNullableString(9),
                CreatedAt: _database.ReadTime(reader, 10)));
        }

        return letters;
    }

    private static void Validate(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        RequireText(letter.WorkflowId, $"{nameof(letter)}.{nameof(DeadLetter.WorkflowId)}");
        RequireText(letter.ClientId, $"{nameof(letter)}.{nameof(DeadLetter.ClientId)}");
        if (!Stages.Contains(letter.Stage))
            throw new ArgumentException(
                $"Stage must be one of {string.Join(", ", Stages)}; got '{letter.Stage}'.", $"{nameof(letter)}.{nameof(DeadLetter.Stage)}");
        RequireText(letter.Position, $"{nameof(letter)}.{nameof(DeadLetter.Position)}");
        if (letter.OutputIndex < 0)
            throw new ArgumentException($"OutputIndex must not be negative; got {letter.OutputIndex}.", $"{nameof(letter)}.{nameof(DeadLetter.OutputIndex)}");
        if (letter.TransformVersion is not null)
            RequireText(letter.TransformVersion, $"{nameof(letter)}.{nameof(DeadLetter.TransformVersion)}");
        // Nothing is skipped silently: a dead letter without its reason or input cannot be redriven or explained.
        RequireText(letter.Reason, $"{nameof(letter)}.{nameof(DeadLetter.Reason)}");
        RequireText(letter.InputJson, $"{nameof(letter)}.{nameof(DeadLetter.InputJson)}");
    }

    internal static void RequireText(string? value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentException($"{field} must not be empty.", field);
    }
}
