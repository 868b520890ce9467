using RetailStreaming.Store;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Delivery;

/// <summary>
/// The never-roll-back rule's bookkeeping on the delivery side: the source rows (table, primary
/// key) of the workflow that have open dead letters, loaded from the store on the first batch
/// (usually a handful) and kept up to date with the batches. When a later change of such a row is
/// delivered, its older dead letters are marked superseded in the store, so that a redrive skips
/// them instead of sending the client older data than it already has.
/// </summary>
internal sealed class SupersedeTracker(IDeadLetterStore store, string workflowId)
{
    // Row -> positions of its open dead letters. Only tables with an open letter are looked at,
    // so a workflow without dead letters pays one set lookup per change.
    private Dictionary<(string Table, string Key), SortedSet<string>>? _open;
    private readonly Dictionary<string, int> _tables = new(StringComparer.Ordinal);

    /// <summary>The key of a row as the store keeps it (compact JSON of the primary key, as ChangeEventJson writes it).</summary>
    public static string KeyOf(ChangeEvent change) => ChangeEventJson.RowToJson(change.Key).ToJsonString();

    /// <summary>
    /// After a batch: its dead-lettered changes (rejected by the transform, or with a record the
    /// endpoint refused) open their rows; its delivered changes supersede older letters of theirs.
    /// </summary>
    public async Task AfterBatchAsync(IReadOnlyList<TransformedChange> batch, IReadOnlySet<SourcePosition> refused, CancellationToken cancellationToken)
    {
        if (_open is null)
        {
            _open = [];
            foreach (var row in await store.ListOpenRowsAsync(workflowId, cancellationToken))
                Open(row.Table, row.Key, row.Position);
        }

        foreach (var item in batch)
        {
            var change = item.Change;
            if (change.Key.Count == 0) continue;
            if (item.DeadLettered || refused.Contains(change.Position))
            {
                Open(change.Table, KeyOf(change), change.Position.Value);
                continue;
            }
            // A change that gave no record delivered nothing: it supersedes nothing either.
            if (item.Outputs.Count == 0 || !_tables.ContainsKey(change.Table)) continue;
            var row = (change.Table, KeyOf(change));
            if (!_open.TryGetValue(row, out var positions) || string.CompareOrdinal(positions.Min, change.Position.Value) >= 0) continue;
            await store.MarkSupersededAsync(workflowId, row.Table, row.Item2, change.Position.Value, cancellationToken);
            positions.RemoveWhere(p => string.CompareOrdinal(p, change.Position.Value) < 0);
            if (positions.Count == 0) Close(row);
        }
    }

    private void Open(string table, string key, string position)
    {
        if (!_open!.TryGetValue((table, key), out var positions))
        {
            _open[(table, key)] = positions = new SortedSet<string>(StringComparer.Ordinal);
            _tables[table] = _tables.GetValueOrDefault(table) + 1;
        }
        positions.Add(position);
    }

    private void Close((string Table, string Key) row)
    {
        _open!.Remove(row);
        if (--_tables[row.Table] == 0) _tables.Remove(row.Table);
    }
}
