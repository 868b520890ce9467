namespace RetailStreaming.Transforms;

/// <summary>
/// One row change captured from a client database, in source commit order.
/// </summary>
/// <param name="Source">The name of the source (the workflow's source kind and database), for example <c>sqlite:retail</c>.</param>
/// <param name="Table">The table the row belongs to, as the source names it (schema-qualified where the source has schemas).</param>
/// <param name="Operation">What happened to the row.</param>
/// <param name="Key">The primary-key columns of the row and their values.</param>
/// <param name="Before">The row before the change (updates where the source provides it, deletes); null otherwise.</param>
/// <param name="After">The row after the change (inserts, updates, snapshot reads); null for deletes.</param>
/// <param name="CommitTime">When the source committed the change (for snapshot reads: when the row was read).</param>
/// <param name="Position">The change's position in the source stream: opaque, ordered, unique within the workflow.</param>
public sealed record ChangeEvent(
    string Source,
    string Table,
    ChangeOperation Operation,
    RowData Key,
    RowData? Before,
    RowData? After,
    DateTimeOffset CommitTime,
    SourcePosition Position)
{
    /// <summary>The row as it is now: <see cref="After"/>, or <see cref="Before"/> for a delete.</summary>
    public RowData Row => After ?? Before ?? Key;
}
