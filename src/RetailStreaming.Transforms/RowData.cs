using System.Collections;
using System.Globalization;

namespace RetailStreaming.Transforms;

/// <summary>
/// The column values of one row, by column name (case-sensitive, as the source names them).
/// </summary>
/// <remarks>
/// Values are <c>null</c> (SQL NULL, distinct from an empty string), <see cref="string"/>,
/// <see cref="long"/>, <see cref="double"/>, <see cref="decimal"/>, <see cref="bool"/> or
/// <see cref="byte"/>[]. Where a .NET type cannot hold a source value without loss, the connector
/// delivers its canonical string; the connector's documentation lists those cases.
/// </remarks>
public sealed class RowData : IReadOnlyDictionary<string, object?>
{
    private readonly IReadOnlyDictionary<string, object?> _values;

    /// <summary>Wraps the given column values; the dictionary is not copied.</summary>
    public RowData(IReadOnlyDictionary<string, object?> values) =>
        _values = values ?? throw new ArgumentNullException(nameof(values));

    /// <summary>A row with no columns.</summary>
    public static RowData Empty { get; } = new(new Dictionary<string, object?>());

    /// <summary>The value of a column, or an exception naming the column when it is absent.</summary>
    public object? this[string column] =>
        _values.TryGetValue(column, out var v)
            ? v
            : throw new KeyNotFoundException($"The row has no column '{column}'. Columns: {string.Join(", ", _values.Keys)}.");

    /// <summary>True when the row has the column and its value is not NULL.</summary>
    public bool HasValue(string column) => _values.TryGetValue(column, out var v) && v is not null;

    /// <summary>The column as a string (numbers in invariant culture), or null for NULL.</summary>
    public string? GetString(string column) => this[column] switch
    {
        null => null,
        string s => s,
        byte[] b => Convert.ToBase64String(b),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var o => o.ToString(),
    };

    /// <summary>The column as a 64-bit integer; throws <see cref="FormatException"/> naming the column when it is not one.</summary>
    public long GetInt64(string column) => this[column] switch
    {
        long l => l,
        int i => i,
        decimal d when d == decimal.Truncate(d) => (long)d,
        double d when d == Math.Truncate(d) => (long)d,
        string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
        var o => throw new FormatException($"Column '{column}' is not an integer: {Describe(o)}."),
    };

    /// <summary>The column as a decimal; throws <see cref="FormatException"/> naming the column when it is not a number.</summary>
    public decimal GetDecimal(string column) => this[column] switch
    {
        decimal d => d,
        long l => l,
        int i => i,
        double d => (decimal)d,
        string s when decimal.TryParse(s, NumberStyles.Number | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var d) => d,
        var o => throw new FormatException($"Column '{column}' is not a number: {Describe(o)}."),
    };

    /// <summary>The column as a double; throws <see cref="FormatException"/> naming the column when it is not a number.</summary>
    public double GetDouble(string column) => this[column] switch
    {
        double d => d,
        decimal d => (double)d,
        long l => l,
        int i => i,
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        var o => throw new FormatException($"Column '{column}' is not a number: {Describe(o)}."),
    };

    /// <summary>The column as a boolean (true/false, or 0/1 as SQLite stores them).</summary>
    public bool GetBoolean(string column) => this[column] switch
    {
        bool b => b,
        long l when l is 0 or 1 => l == 1,
        string s when bool.TryParse(s, out var b) => b,
        var o => throw new FormatException($"Column '{column}' is not a boolean: {Describe(o)}."),
    };

    private static string Describe(object? o) => o is null ? "NULL" : $"{o.GetType().Name} '{o}'";

    /// <inheritdoc />
    public int Count => _values.Count;

    /// <inheritdoc />
    public IEnumerable<string> Keys => _values.Keys;

    /// <inheritdoc />
    public IEnumerable<object?> Values => _values.Values;

    /// <inheritdoc />
    public bool ContainsKey(string key) => _values.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, out object? value) => _values.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
