using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Webhooks;

/// <summary>
/// The body and the message id of a webhook request.
/// </summary>
/// <remarks>
/// The body is
/// <code>
/// {"workflowId": "...", "records": [
///   {"id": "rs_...", "type": "sale", "key": "T-1", "position": "...", "outputIndex": 0, "table": "tickets",
///    "operation": "insert|update|delete|read", "commitTime": "2026-01-31T09:15:00.1230000Z", "data": { ... }}]}
/// </code>
/// with the records in delivery order; a record the transform marked as a delete
/// (<see cref="OutputRecord.IsDelete"/>) also has <c>"deleted": true</c> (and usually empty data). <c>id</c> is the record's idempotency key: a receiver that
/// has already applied a record with that id can ignore it (retries and replays send it again).
/// </remarks>
public static class WebhookPayload
{
    /// <summary>The UTF-8 JSON body of a batch (all records of one workflow).</summary>
    public static byte[] Serialize(IReadOnlyList<DeliveryRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("A webhook batch cannot be empty.", nameof(batch));
        return Compose(batch[0].WorkflowId, SerializeRecords(batch));
    }

    /// <summary>Each record's JSON object, as it appears in the <c>records</c> array of a body (one writer for all).</summary>
    public static byte[][] SerializeRecords(IReadOnlyList<DeliveryRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var result = new byte[batch.Count][];
        if (batch.Count == 0) return result;
        var buffer = new ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(buffer);
        for (var i = 0; i < batch.Count; i++)
        {
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            WriteRecord(writer, batch[i], batch[0].WorkflowId);
            writer.Flush();
            result[i] = buffer.WrittenSpan.ToArray();
        }
        return result;
    }

    /// <summary>One record's JSON object, as it appears in the <c>records</c> array of a body.</summary>
    public static byte[] SerializeRecord(DeliveryRecord record, string workflowId)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
            WriteRecord(writer, record, workflowId);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteRecord(Utf8JsonWriter writer, DeliveryRecord record, string workflowId)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.WorkflowId != workflowId)
            throw new ArgumentException("A webhook batch holds the records of one workflow only.", nameof(record));
        writer.WriteStartObject();
        writer.WriteString("id", record.IdempotencyKey);
        writer.WriteString("type", record.Record.Type);
        writer.WriteString("key", record.Record.Key);
        writer.WriteString("position", record.Position.Value);
        writer.WriteNumber("outputIndex", record.OutputIndex);
        writer.WriteString("table", record.Table);
        writer.WriteString("operation", record.Operation.ToString().ToLowerInvariant());
        writer.WriteString("commitTime", record.CommitTime.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        if (record.TransformVersion is { } version)
            writer.WriteString("transformVersion", version);
        // Only on deletes, so that the body of every other record stays as it was.
        if (record.Record.IsDelete)
            writer.WriteBoolean("deleted", true);
        writer.WritePropertyName("data");
        // The bytes the transform host wrote for it, when it kept them; else WriteTo, not adding the node
        // to a new tree: a JsonNode has one parent and belongs to the caller.
        if (record.PayloadJson is { } json) writer.WriteRawValue(json, skipInputValidation: true);
        else record.Record.Payload.WriteTo(writer);
        writer.WriteEndObject();
    }

    /// <summary>The bytes a body adds around its records: the envelope, and a comma between two records.</summary>
    public static int EnvelopeBytes(string workflowId) => Compose(workflowId, []).Length;

    /// <summary>A body from records serialized by <see cref="SerializeRecord"/>, in order.</summary>
    public static byte[] Compose(string workflowId, IReadOnlyList<byte[]> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var buffer = new ArrayBufferWriter<byte>(64 + records.Sum(r => r.Length + 1));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("workflowId", workflowId);
            writer.WriteStartArray("records");
            foreach (var record in records)
                writer.WriteRawValue(record, skipInputValidation: true);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The <c>webhook-id</c> of a batch: <c>msg_</c> and 32 hex digits of SHA-256 over its records'
    /// idempotency keys, so a retry of the same records carries the same id, and a part of a split
    /// batch its own.
    /// </summary>
    public static string MessageId(IReadOnlyList<DeliveryRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var keys = string.Join('\n', batch.Select(r => r.IdempotencyKey));
        return "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(keys)).AsSpan(0, 16));
    }
}
