using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>One firing of an alert rule for a workflow.</summary>
/// <param name="Id">Store-assigned id.</param>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="Rule">The rule (<c>lag</c>, <c>error-rate</c>, <c>stalled</c>, <c>breaker-open</c>, <c>sla</c>, <c>wal-retained</c>, or another raiser's name).</param>
/// <param name="Value">The value that broke the threshold, when the rule has one.</param>
/// <param name="Threshold">The threshold, when the rule has one.</param>
/// <param name="Detail">Plain words.</param>
/// <param name="Node">The node that saw it fire.</param>
/// <param name="FiredAt">When it fired.</param>
/// <param name="ResolvedAt">When it cleared; null while it fires.</param>
/// <param name="ResolvedDetail">What was seen when it cleared.</param>
public sealed record AlertRecord(
    long Id, string WorkflowId, string ClientId, string Rule, double? Value, double? Threshold, string Detail,
    string Node, DateTimeOffset FiredAt, DateTimeOffset? ResolvedAt, string? ResolvedDetail);

/// <summary>
/// Alert firings in the platform store. At most one firing per (workflow, rule) is open (a unique
/// index), so that two nodes evaluating the same workflow while it moves between them notify a
/// firing once, and its resolution once.
/// </summary>
public sealed class AlertStore
{
    private const string Columns = "id, workflow_id, client_id, rule, value, threshold, detail, node, fired_at, resolved_at, resolved_detail";
    private readonly PlatformDatabase _database;

    internal AlertStore(PlatformDatabase database) => _database = database;

    /// <summary>Opens a firing; null when one of that rule is already open for the workflow (nothing to notify).</summary>
    public async Task<AlertRecord?> TryFireAsync(string workflowId, string clientId, string rule, double? value, double? threshold,
        string detail, string node, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(workflowId, nameof(workflowId));
        DeadLetterStore.RequireText(rule, nameof(rule));
        var now = _database.Now();
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"""
            INSERT INTO alerts (workflow_id, client_id, rule, value, threshold, detail, node, fired_at)
            VALUES (@workflow_id, @client_id, @rule, @value, @threshold, @detail, @node, @now)
            ON CONFLICT DO NOTHING
            RETURNING id
            """)
            .With("@workflow_id", workflowId)
            .With("@client_id", clientId)
            .With("@rule", rule)
            .With("@value", value)
            .With("@threshold", threshold)
            .With("@detail", detail)
            .With("@node", node)
            .With("@now", _database.TimeParameter(now));
        var id = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return id is null or DBNull
            ? null
            : new AlertRecord(Convert.ToInt64(id, System.Globalization.CultureInfo.InvariantCulture), workflowId, clientId, rule, value, threshold, detail, node, now, null, null);
    }

    /// <summary>Closes the open firing of a rule for a workflow; null when none was open (nothing to notify).</summary>
    public async Task<AlertRecord?> TryResolveAsync(string workflowId, string rule, string detail, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"""
            UPDATE alerts SET resolved_at = @now, resolved_detail = @detail
            WHERE workflow_id = @workflow_id AND rule = @rule AND resolved_at IS NULL
            RETURNING {Columns}
            """)
            .With("@workflow_id", workflowId)
            .With("@rule", rule)
            .With("@detail", detail)
            .With("@now", _database.NowParameter());
        var rows = await ReadAsync(command, cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The open firings (of the given workflows, or all).</summary>
    public async Task<IReadOnlyList<AlertRecord>> OpenAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.Command($"SELECT {Columns} FROM alerts WHERE resolved_at IS NULL ORDER BY id");
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Firings that were open at some time after <paramref name="since"/> (open ones included), newest first.</summary>
    public async Task<IReadOnlyList<AlertRecord>> ListAsync(string? clientId, DateTimeOffset since, int limit = 500, CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var filter = clientId is null ? "" : " AND client_id = @client_id";
        await using var command = connection.Command(
                $"SELECT {Columns} FROM alerts WHERE (resolved_at IS NULL OR resolved_at >= @since){filter} ORDER BY id DESC LIMIT @limit")
            .With("@since", _database.TimeParameter(since))
            .With("@limit", limit);
        if (clientId is not null) command.With("@client_id", clientId);
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    private async Task<List<AlertRecord>> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var rows = new List<AlertRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            rows.Add(new AlertRecord(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetDouble(4),
                reader.IsDBNull(5) ? null : reader.GetDouble(5),
                reader.GetString(6), reader.GetString(7), _database.ReadTime(reader, 8),
                reader.IsDBNull(9) ? null : _database.ReadTime(reader, 9),
                reader.GetNullableString(10)));
        return rows;
    }
}
