using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.Transforms;

/// <summary>
/// The JSON form of a <see cref="ChangeEvent"/>: how the platform stores a change in a dead letter
/// or a recorded sample, and how a local test reads one from a file.
/// </summary>
/// <remarks>
/// Row values keep their type across a round trip: integers that fit a <see cref="long"/> come
/// back as <see cref="long"/>, other numbers as <see cref="decimal"/> (or <see cref="double"/>
/// beyond its range), byte arrays are written <c>{"$base64": "..."}</c>.
/// </remarks>
public static class ChangeEventJson
{
    /// <summary>Writes the change as a JSON object.</summary>
    public static JsonObject ToJson(ChangeEvent change) => new()
    {
        ["source"] = change.Source,
        ["table"] = change.Table,
        ["operation"] = change.Operation.ToString().ToLowerInvariant(),
        ["position"] = change.Position.Value,
        ["commitTime"] = change.CommitTime.ToString("O", CultureInfo.InvariantCulture),
        ["key"] = RowToJson(change.Key),
        ["before"] = change.Before is null ? null : RowToJson(change.Before),
        ["after"] = change.After is null ? null : RowToJson(change.After),
    };

    /// <summary>The change as compact JSON text.</summary>
    public static string Serialize(ChangeEvent change) => ToJson(change).ToJsonString();

    /// <summary>Reads a change written by <see cref="Serialize"/>; throws <see cref="FormatException"/> naming the field at fault.</summary>
    public static ChangeEvent Deserialize(string json)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json); }
        catch (JsonException e) { throw new FormatException($"A change must be a JSON object: {e.Message}", e); }
        return FromJson(node as JsonObject ?? throw new FormatException("A change must be a JSON object."));
    }

    /// <summary>Reads a change from its JSON object; throws <see cref="FormatException"/> naming the field at fault.</summary>
    public static ChangeEvent FromJson(JsonObject o)
    {
        string Required(string field) =>
            o[field] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0
                ? s
                : throw new FormatException($"The change has no string field '{field}'.");

        var opText = Required("operation");
        if (!Enum.TryParse<ChangeOperation>(opText, ignoreCase: true, out var op) || !Enum.IsDefined(op))
            throw new FormatException($"Field 'operation' is '{opText}'; expected insert, update, delete or read.");
        if (!DateTimeOffset.TryParse(Required("commitTime"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var commit))
            throw new FormatException("Field 'commitTime' is not an ISO 8601 time.");
        return new ChangeEvent(
            Required("source"),
            Required("table"),
            op,
            RowFromJson(o["key"], "key") ?? RowData.Empty,
            RowFromJson(o["before"], "before"),
            RowFromJson(o["after"], "after"),
            commit,
            new SourcePosition(Required("position")));
    }

    /// <summary>Writes a row as a JSON object.</summary>
    public static JsonObject RowToJson(RowData row)
    {
        var o = new JsonObject();
        foreach (var (column, value) in row)
            o[column] = ValueToJson(value);
        return o;
    }

    private static JsonNode? ValueToJson(object? value) => value switch
    {
        null => null,
        string s => JsonValue.Create(s),
        long l => JsonValue.Create(l),
        int i => JsonValue.Create((long)i),
        double d when double.IsFinite(d) => JsonValue.Create(d),
        double d => JsonValue.Create(d.ToString("R", CultureInfo.InvariantCulture)),
        decimal m => JsonValue.Create(m),
        bool b => JsonValue.Create(b),
        byte[] bytes => new JsonObject { ["$base64"] = Convert.ToBase64String(bytes) },
        DateTimeOffset t => JsonValue.Create(t.ToString("O", CultureInfo.InvariantCulture)),
        DateTime t => JsonValue.Create(t.ToString("O", CultureInfo.InvariantCulture)),
        Guid g => JsonValue.Create(g.ToString()),
        IFormattable f => JsonValue.Create(f.ToString(null, CultureInfo.InvariantCulture)),
        var other => JsonValue.Create(other.ToString()),
    };

    private static RowData? RowFromJson(JsonNode? node, string field)
    {
        if (node is null) return null;
        if (node is not JsonObject o) throw new FormatException($"Field '{field}' must be a JSON object or null.");
        var values = new Dictionary<string, object?>(o.Count, StringComparer.Ordinal);
        foreach (var (column, v) in o)
            values[column] = ValueFromJson(v, $"{field}.{column}");
        return new RowData(values);
    }

    private static object? ValueFromJson(JsonNode? node, string path)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject o when o.Count == 1 && o["$base64"] is JsonValue b && b.TryGetValue<string>(out var text):
                try { return Convert.FromBase64String(text); }
                catch (FormatException) { throw new FormatException($"Field '{path}' is not valid base64."); }
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String: return v.GetValue<string>();
                    case JsonValueKind.True: return true;
                    case JsonValueKind.False: return false;
                    case JsonValueKind.Number:
                        if (v.TryGetValue<long>(out var l)) return l;
                        if (v.TryGetValue<decimal>(out var m)) return m;
                        if (v.TryGetValue<double>(out var d)) return d;
                        // Values parsed from text are backed by a JsonElement.
                        var element = v.GetValue<JsonElement>();
                        if (element.TryGetInt64(out l)) return l;
                        if (element.TryGetDecimal(out m)) return m;
                        return element.GetDouble();
                    default:
                        throw new FormatException($"Field '{path}' has an unsupported JSON value.");
                }
            default:
                // Nested JSON (a json/jsonb column) is kept as its text, losslessly.
                return node.ToJsonString();
        }
    }
}
