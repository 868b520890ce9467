using System.Globalization;
using System.Text.Json;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Sqlite;

/// <summary>
/// Reads the row JSON the capture triggers write (see <see cref="SqliteChangeTableSource"/> for the
/// encoding) back into typed values.
/// </summary>
internal static class SqliteRowJson
{
    /// <summary>Parses a row object; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static RowData Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new FormatException($"expected a JSON object, found {document.RootElement.ValueKind}");
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
            values[property.Name] = Value(property.Value, property.Name);
        return new RowData(values);
    }

    private static object? Value(JsonElement value, string column)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return value.GetString();
            case JsonValueKind.Number:
                // SQLite writes a REAL with a decimal point or an exponent (1.0, 1.0e+300, 9.0e+999 for
                // infinity) and an INTEGER without, so the text tells the storage class.
                var raw = value.GetRawText();
                if (raw.AsSpan().IndexOfAny('.', 'e', 'E') >= 0)
                    return double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
                if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                    return l;
                throw new FormatException($"column '{column}': {raw} is not a 64-bit integer");
            case JsonValueKind.Object:
                if (value.TryGetProperty("$hex", out var hex) && hex.ValueKind == JsonValueKind.String
                    && value.EnumerateObject().Count() == 1)
                {
                    try { return Convert.FromHexString(hex.GetString()!); }
                    catch (FormatException) { throw new FormatException($"column '{column}': the blob is not valid hex"); }
                }
                throw new FormatException($"column '{column}': an object other than {{\"$hex\": ...}}");
            default:
                throw new FormatException($"column '{column}': unexpected JSON {value.ValueKind}");
        }
    }
}
