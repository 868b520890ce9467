using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace RetailStreaming.Cli.Output;

/// <summary>Reading the API's JSON for tables, and writing it for scripts (<c>--json</c>).</summary>
public static class Json
{
    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes the API's answer as indented JSON.</summary>
    public static void Write(TextWriter output, JsonElement element) =>
        output.WriteLine(JsonSerializer.Serialize(element, Indented));

    /// <summary>A property as text: strings as they are, numbers and booleans as JSON writes them, null or missing as null.</summary>
    public static string? Text(this JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => v.GetRawText(),
        };
    }

    /// <summary>A property, or an undefined element.</summary>
    public static JsonElement Get(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) ? v : default;

    /// <summary>The items of an array property (none when it is not an array).</summary>
    public static IEnumerable<JsonElement> Items(this JsonElement element) =>
        element.ValueKind == JsonValueKind.Array ? element.EnumerateArray() : [];

    /// <summary>A boolean property (false when missing).</summary>
    public static bool Bool(this JsonElement element, string name) => element.Get(name).ValueKind == JsonValueKind.True;

    /// <summary>A time property as <c>yyyy-MM-dd HH:mm:ssZ</c> in UTC, or null.</summary>
    public static string? Time(this JsonElement element, string name) =>
        element.Text(name) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : null;

    /// <summary>A number property rounded to <paramref name="decimals"/>, or null.</summary>
    public static string? Number(this JsonElement element, string name, int decimals) =>
        element.Get(name) is { ValueKind: JsonValueKind.Number } n
            ? Math.Round(n.GetDouble(), decimals).ToString("0." + new string('0', decimals), CultureInfo.InvariantCulture)
            : null;

    /// <summary>Shortens text for a table cell, on one line.</summary>
    public static string Cell(string? text, int max)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var line = text.ReplaceLineEndings(" ");
        return line.Length <= max ? line : line[..(max - 1)] + "…";
    }
}
