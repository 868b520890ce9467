using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Regress;

/// <summary>
/// A sample's outputs as stored: a JSON array of <c>{"type", "key", "delete", "payload"}</c>, in the
/// transform's order. Payloads are written as the delivery writes them, and read back as JSON values.
/// </summary>
public static class RecordedOutputs
{
    /// <summary>The records as one compact JSON array.</summary>
    public static string Serialize(IReadOnlyList<OutputRecord> outputs)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var record in outputs)
            {
                writer.WriteStartObject();
                writer.WriteString("type", record.Type);
                writer.WriteString("key", record.Key);
                writer.WriteBoolean("delete", record.IsDelete);
                writer.WritePropertyName("payload");
                record.Payload.WriteTo(writer);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Reads what <see cref="Serialize"/> wrote; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static IReadOnlyList<OutputRecord> Deserialize(string json)
    {
        JsonArray array;
        try
        {
            array = JsonNode.Parse(json) as JsonArray ?? throw new FormatException("the recorded outputs are not a JSON array");
        }
        catch (JsonException e)
        {
            throw new FormatException($"the recorded outputs are not JSON: {e.Message}", e);
        }
        var records = new List<OutputRecord>(array.Count);
        foreach (var item in array)
        {
            if (item is not JsonObject o
                || o["type"] is not JsonValue type || !type.TryGetValue<string>(out var t)
                || o["key"] is not JsonValue key || !key.TryGetValue<string>(out var k))
                throw new FormatException($"recorded output {records.Count} needs a string type and key");
            var delete = o["delete"] is JsonValue d && d.TryGetValue<bool>(out var isDelete) && isDelete;
            records.Add(delete ? OutputRecord.Delete(t, k) : new OutputRecord(t, k, o["payload"]?.DeepClone() ?? new JsonObject()));
        }
        return records;
    }
}
