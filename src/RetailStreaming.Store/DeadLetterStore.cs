using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.Store;

/// <summary>The dead-letter store of every workflow, in the platform store's <c>dead_letters</c> table.</summary>
public sealed class DeadLetterStore : IDeadLetterStore
{
    /// <summary>The most dead letters one <see cref="ListAsync"/> call returns.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>Redrive outcomes: the endpoint accepted every record, or not (see the last attempt).</summary>
    public const string Delivered = "delivered";

    /// <inheritdoc cref="Delivered"/>
    public const string Failed = "failed";

    private const string Columns =
        "id, workflow_id, client_id, stage, position, output_index, transform_version, reason, input_json, output_json, created_at, " +
        "superseded_by, superseded_at, redriven_at, redrive_outcome, redrive_transform_version, redrive_count";

    // Neither superseded nor redriven with success: a later delivery of the same row supersedes it.
    private const string Open = "superseded_by IS NULL AND (redrive_outcome IS NULL OR redrive_outcome <> 'delivered')";

    private readonly PlatformDatabase _database;

    internal DeadLetterStore(PlatformDatabase database) => _database = database;

    /// <summary>The dead-letter stages: where in the workflow the record was given up on.</summary>
    public static IReadOnlyList<string> Stages { get; } = ["transform", "delivery"];

    /// <inheritdoc />
    /// <remarks>The store assigns <see cref="DeadLetter.Id"/> and <see cref="DeadLetter.CreatedAt"/>; the values passed are ignored.</remarks>
    public async Task<long> AddAsync(DeadLetter letter, CancellationToken cancellationToken = default)
    {
        Validate(letter);
        var (rowTable, rowKey) = RowOf(letter.InputJson);
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // One transaction: durable when it returns (synchronous = FULL on SQLite, a commit on
        // PostgreSQL), with its attempts or not at all.
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command("""
            INSERT INTO dead_letters (workflow_id, client_id, stage, position, output_index, transform_version, reason, input_json, output_json, created_at, row_table, row_key)
            VALUES (@workflow_id, @client_id, @stage, @position, @output_index, @transform_version, @reason, @input_json, @output_json, @created_at, @row_table, @row_key)
            RETURNING id
            """, transaction)
            .With("@workflow_id", letter.WorkflowId)
            .With("@client_id", letter.ClientId)
            .With("@stage", letter.Stage)
            .With("@position", letter.Position)
            .With("@output_index", letter.OutputIndex)
            .With("@transform_version", letter.TransformVersion)
            .With("@reason", letter.Reason)
            .With("@input_json", letter.InputJson)
            .With("@output_json", letter.OutputJson)
            .With("@created_at", _database.NowParameter())
            .With("@row_table", rowTable)
            .With("@row_key", rowKey);
        var id = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
        var seq = 0;
        foreach (var attempt in letter.Attempts ?? [])
        {
            await using var insert = connection.Command(
                    "INSERT INTO dead_letter_attempts (dead_letter_id, seq, at, status_code, detail) VALUES (@id, @seq, @at, @status_code, @detail)", transaction)
                .With("@id", id).With("@seq", ++seq).With("@at", _database.TimeParameter(attempt.At))
                .With("@status_code", attempt.StatusCode).With("@detail", attempt.Detail ?? "");
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <summary>
    /// The source row a dead letter is about, from its input (a change as ChangeEventJson writes
    /// it): the table and the primary key as compact JSON; nulls when the input has neither.
    /// </summary>
    public static (string? Table, string? Key) RowOf(string inputJson)
    {
        try
        {
            return JsonNode.Parse(inputJson) is JsonObject o && o["table"] is JsonValue t && t.TryGetValue<string>(out var table)
                   && o["key"] is JsonObject key && key.Count > 0
                ? (table, key.ToJsonString())
                : (null, null);
        }
        catch (JsonException)
        {
            return (null, null);
        }
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

    /// <inheritdoc />
    public async Task<IReadOnlyList<OpenDeadLetterRow>> ListOpenRowsAsync(string workflowId, CancellationToken cancellationToken = default)
    {
        RequireText(workflowId, nameof(workflowId));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command(
                $"SELECT row_table, row_key, position FROM dead_letters WHERE workflow_id = @workflow_id AND row_key IS NOT NULL AND {Open}")
            .With("@workflow_id", workflowId);
        var rows = new List<OpenDeadLetterRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            rows.Add(new OpenDeadLetterRow(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        return rows;
    }

    /// <inheritdoc />
    /// <remarks>
    /// Positions of one workflow compare as ordinal strings (SourcePosition); the column is
    /// binary-collated on both providers (SQLite's default, <c>COLLATE "C"</c> on PostgreSQL).
    /// </remarks>
    public async Task<int> MarkSupersededAsync(string workflowId, string table, string key, string byPosition, CancellationToken cancellationToken = default)
    {
        RequireText(workflowId, nameof(workflowId));
        RequireText(byPosition, nameof(byPosition));
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"""
            UPDATE dead_letters SET superseded_by = @by, superseded_at = @at
            WHERE workflow_id = @workflow_id AND row_table = @row_table AND row_key = @row_key AND position < @by AND {Open}
            """)
            .With("@by", byPosition).With("@at", _database.NowParameter())
            .With("@workflow_id", workflowId).With("@row_table", table).With("@row_key", key);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DeadLetter>> SelectForRedriveAsync(string workflowId, DeadLetterFilter filter, int limit, CancellationToken cancellationToken = default)
    {
        RequireText(workflowId, nameof(workflowId));
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);
        if (filter.Stage is not null && !Stages.Contains(filter.Stage))
            throw new ArgumentException($"Stage must be one of {string.Join(", ", Stages)}; got '{filter.Stage}'.", nameof(filter));

        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command("").With("@workflow_id", workflowId).With("@limit", limit);
        var where = "workflow_id = @workflow_id AND (redrive_outcome IS NULL OR redrive_outcome <> 'delivered')";
        if (filter.Stage is not null) { where += " AND stage = @stage"; command.With("@stage", filter.Stage); }
        if (filter.Table is not null) { where += " AND row_table = @row_table"; command.With("@row_table", filter.Table); }
        if (filter.FromId is not null) { where += " AND id >= @from_id"; command.With("@from_id", filter.FromId.Value); }
        if (filter.ToId is not null) { where += " AND id <= @to_id"; command.With("@to_id", filter.ToId.Value); }
        command.CommandText = $"SELECT {Columns} FROM dead_letters WHERE {where} ORDER BY position, id LIMIT @limit";
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RecordRedriveAsync(long id, string outcome, string? transformVersion, DeadLetterAttempt attempt, CancellationToken cancellationToken = default)
    {
        if (outcome is not (Delivered or Failed))
            throw new ArgumentException($"Outcome must be {Delivered} or {Failed}; got '{outcome}'.", nameof(outcome));
        ArgumentNullException.ThrowIfNull(attempt);
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var update = connection.Command("""
            UPDATE dead_letters SET redriven_at = @at, redrive_outcome = @outcome, redrive_transform_version = @version, redrive_count = redrive_count + 1
            WHERE id = @id
            """, transaction)
            .With("@at", _database.NowParameter()).With("@outcome", outcome).With("@version", transformVersion).With("@id", id))
        {
            if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                throw new KeyNotFoundException($"There is no dead letter {id} (purged?).");
        }
        await using (var insert = connection.Command("""
            INSERT INTO dead_letter_attempts (dead_letter_id, seq, at, status_code, detail)
            SELECT @id, COALESCE(MAX(seq), 0) + 1, @at, @status_code, @detail FROM dead_letter_attempts WHERE dead_letter_id = @id
            """, transaction)
            .With("@id", id).With("@at", _database.TimeParameter(attempt.At)).With("@status_code", attempt.StatusCode).With("@detail", attempt.Detail ?? ""))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<PurgedDeadLetters>> PurgeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var cut = _database.TimeParameter(cutoff);
        await using (var attempts = connection.Command(
            "DELETE FROM dead_letter_attempts WHERE dead_letter_id IN (SELECT id FROM dead_letters WHERE created_at < @cutoff)", transaction)
            .With("@cutoff", cut))
        {
            await attempts.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var letters = connection.Command("DELETE FROM dead_letters WHERE created_at < @cutoff RETURNING workflow_id", transaction)
            .With("@cutoff", cut))
        {
            await using var reader = await letters.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                counts[reader.GetString(0)] = counts.GetValueOrDefault(reader.GetString(0)) + 1;
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new PurgedDeadLetters(c.Key, c.Value)).ToList();
    }

    private async Task<IReadOnlyList<DeadLetter>> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var letters = new List<DeadLetter>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
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
                    CreatedAt: _database.ReadTime(reader, 10),
                    Superseded: reader.IsDBNull(11) ? null : new DeadLetterSuperseded(reader.GetString(11), _database.ReadTime(reader, 12)),
                    Redrive: reader.IsDBNull(13) ? null : new DeadLetterRedrive(
                        _database.ReadTime(reader, 13), reader.GetString(14), reader.GetNullableString(15), Convert.ToInt32(reader.GetValue(16)))));
            }
        }
        if (letters.Count == 0) return letters;

        // The attempts of the letters read, in one query (a page holds at most MaxPageSize letters).
        var byId = letters.Select((l, i) => (l.Id, i)).ToDictionary(x => x.Id, x => x.i);
        var attempts = new Dictionary<long, List<DeadLetterAttempt>>();
        await using (var query = command.Connection!.Command(""))
        {
            var names = new List<string>();
            foreach (var (id, i) in byId)
            {
                names.Add("@a" + i);
                query.With("@a" + i, id);
            }
            query.CommandText = $"SELECT dead_letter_id, at, status_code, detail FROM dead_letter_attempts WHERE dead_letter_id IN ({string.Join(", ", names)}) ORDER BY dead_letter_id, seq";
            await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetInt64(0);
                if (!attempts.TryGetValue(id, out var list)) attempts[id] = list = [];
                list.Add(new DeadLetterAttempt(_database.ReadTime(reader, 1), reader.IsDBNull(2) ? null : Convert.ToInt32(reader.GetValue(2)), reader.GetString(3)));
            }
        }
        foreach (var (id, list) in attempts)
            letters[byId[id]] = letters[byId[id]] with { Attempts = list };
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
