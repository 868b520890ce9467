using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.Transforms.Testing;

/// <summary>The leaves at which two JSON values differ, with their paths (<c>payload.lines[2].sku</c>).</summary>
internal static class JsonDiff
{
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Each difference as (path, expected JSON or null when absent, actual JSON or null when absent).</summary>
    public static IEnumerable<(string Path, string? Expected, string? Actual)> Differences(string path, JsonNode? expected, JsonNode? actual)
    {
        switch (expected, actual)
        {
            case (JsonObject e, JsonObject a):
                foreach (var (name, value) in e)
                {
                    var child = $"{path}.{name}";
                    if (!a.TryGetPropertyValue(name, out var other))
                    {
                        yield return (child, Text(value), null);
                        continue;
                    }
                    foreach (var d in Differences(child, value, other)) yield return d;
                }
                foreach (var (name, value) in a)
                    if (!e.ContainsKey(name))
                        yield return ($"{path}.{name}", null, Text(value));
                break;
            case (JsonArray e, JsonArray a):
                for (var i = 0; i < Math.Max(e.Count, a.Count); i++)
                {
                    var child = $"{path}[{i}]";
                    if (i >= a.Count) yield return (child, Text(e[i]), null);
                    else if (i >= e.Count) yield return (child, null, Text(a[i]));
                    else
                        foreach (var d in Differences(child, e[i], a[i])) yield return d;
                }
                break;
            default:
                if (!SameValue(expected, actual)) yield return (path, Text(expected), Text(actual));
                break;
        }
    }

    private static bool SameValue(JsonNode? expected, JsonNode? actual)
    {
        if (expected is null || actual is null) return expected is null && actual is null;
        if (expected is not JsonValue e || actual is not JsonValue a) return false;
        var kind = e.GetValueKind();
        if (kind != a.GetValueKind()) return false;
        if (kind == JsonValueKind.Number)
        {
            var et = e.ToJsonString();
            var at = a.ToJsonString();
            if (decimal.TryParse(et, NumberStyles.Float, CultureInfo.InvariantCulture, out var ed)
                && decimal.TryParse(at, NumberStyles.Float, CultureInfo.InvariantCulture, out var ad))
                return ed == ad;
            return double.Parse(et, CultureInfo.InvariantCulture).Equals(double.Parse(at, CultureInfo.InvariantCulture));
        }
        return e.ToJsonString() == a.ToJsonString();
    }

    private static string Text(JsonNode? node) => node is null ? "null" : node.ToJsonString(Compact);
}
