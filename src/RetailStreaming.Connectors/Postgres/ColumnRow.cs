using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// The column names of one relation (or of its key), in column order, with their positions: built
/// once per Relation message and shared by every row of that relation.
/// </summary>
internal sealed class ColumnSet
{
    private readonly Dictionary<string, int> _positions;

    public ColumnSet(IReadOnlyList<string> names)
    {
        Names = [.. names];
        _positions = new Dictionary<string, int>(Names.Length, StringComparer.Ordinal);
        for (var i = 0; i < Names.Length; i++) _positions.TryAdd(Names[i], i);
    }

    public string[] Names { get; }

    public bool TryGetPosition(string name, out int position) => _positions.TryGetValue(name, out position);
}

/// <summary>
/// One row's values by column name, backed by the relation's shared <see cref="ColumnSet"/> and an
/// array of values: the replication reader builds one or two per change, so a row costs one array
/// instead of a dictionary of its own. Read-only, enumerated in column order (as a dictionary filled
/// in column order would be).
/// </summary>
internal sealed class ColumnRow(ColumnSet columns, object?[] values) : IReadOnlyDictionary<string, object?>
{
    public object? this[string key] =>
        TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The row has no column '{key}'.");

    public IEnumerable<string> Keys => columns.Names;

    public IEnumerable<object?> Values => values;

    public int Count => values.Length;

    public bool ContainsKey(string key) => columns.TryGetPosition(key, out _);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object? value)
    {
        if (columns.TryGetPosition(key, out var position))
        {
            value = values[position];
            return true;
        }
        value = null;
        return false;
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < values.Length; i++)
            yield return new KeyValuePair<string, object?>(columns.Names[i], values[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
