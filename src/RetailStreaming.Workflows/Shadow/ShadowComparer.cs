using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Shadow;

/// <summary>
/// Compares what a candidate transform made of one change with what the live one made: the same
/// records in the same order (type, key, delete flag, payload as JSON values: member order does
/// not matter, 12.50 equals 12.5). Returns null when they are equal, else one line per difference.
/// The regress run compares recorded outputs with the current build's the same way, under its own names.
/// </summary>
internal static class ShadowComparer
{
    private const int MaxLines = 10;

    public static string? Diff(IReadOnlyList<OutputRecord> live, IReadOnlyList<OutputRecord> candidate) =>
        Diff(live, candidate, "live", "candidate");

    /// <summary>As <see cref="Diff(IReadOnlyList{OutputRecord}, IReadOnlyList{OutputRecord})"/>, naming the two sides <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static string? Diff(IReadOnlyList<OutputRecord> live, IReadOnlyList<OutputRecord> candidate, string a, string b)
    {
        var lines = new List<string>();
        if (live.Count != candidate.Count)
            lines.Add($"records: {a} {live.Count}, {b} {candidate.Count}");
        for (var i = 0; i < Math.Min(live.Count, candidate.Count) && lines.Count < MaxLines; i++)
        {
            var (l, c) = (live[i], candidate[i]);
            var at = live.Count == 1 && candidate.Count == 1 ? "" : $"[{i}].";
            if (l.Type != c.Type) lines.Add($"{at}type: {a} {Quote(l.Type)}, {b} {Quote(c.Type)}");
            if (l.Key != c.Key) lines.Add($"{at}key: {a} {Quote(l.Key)}, {b} {Quote(c.Key)}");
            if (l.IsDelete != c.IsDelete) lines.Add($"{at}delete: {a} {l.IsDelete}, {b} {c.IsDelete}");
            else if (!l.IsDelete) Payload(l.Payload, c.Payload, at + "payload", lines, a, b);
        }
        return lines.Count == 0 ? null : string.Join("; ", lines.Take(MaxLines));
    }

    private static void Payload(JsonNode? live, JsonNode? candidate, string path, List<string> lines, string a, string b)
    {
        if (lines.Count >= MaxLines) return;
        switch (live, candidate)
        {
            case (JsonObject l, JsonObject c):
                foreach (var name in l.Select(p => p.Key).Union(c.Select(p => p.Key)).Order(StringComparer.Ordinal))
                {
                    var (hasL, hasC) = (l.TryGetPropertyValue(name, out var lv), c.TryGetPropertyValue(name, out var cv));
                    if (!hasC) lines.Add($"{path}.{name}: {a} {Text(lv)}, {b} missing");
                    else if (!hasL) lines.Add($"{path}.{name}: {a} missing, {b} {Text(cv)}");
                    else Payload(lv, cv, $"{path}.{name}", lines, a, b);
                }
                return;
            case (JsonArray l, JsonArray c) when l.Count == c.Count:
                for (var i = 0; i < l.Count; i++) Payload(l[i], c[i], $"{path}[{i}]", lines, a, b);
                return;
            default:
                if (!SameValue(live, candidate)) lines.Add($"{path}: {a} {Text(live)}, {b} {Text(candidate)}");
                return;
        }
    }

    private static bool SameValue(JsonNode? a, JsonNode? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is JsonValue va && b is JsonValue vb
            && va.GetValueKind() == JsonValueKind.Number && vb.GetValueKind() == JsonValueKind.Number
            && decimal.TryParse(va.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var da)
            && decimal.TryParse(vb.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var db))
            return da == db;
        return JsonNode.DeepEquals(a, b);
    }

    private static string Text(JsonNode? node)
    {
        var text = node?.ToJsonString() ?? "null";
        return text.Length <= 80 ? text : text[..77] + "...";
    }

    private static string Quote(string s) => JsonSerializer.Serialize(s);
}
