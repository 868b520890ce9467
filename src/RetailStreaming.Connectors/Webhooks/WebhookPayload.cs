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
    private static readonly byte[] EnvelopeEnd = "]}"u8.ToArray();

    /// <summary>The UTF-8 JSON body of a batch (all records of one workflow).</summary>
    public static byte[] Serialize(IReadOnlyList<DeliveryRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("A webhook batch cannot be empty.", nameof(batch));
        using var records = SerializeRecords(batch);
        var all = new int[records.Count];
        for (var i = 0; i < all.Length; i++) all[i] = i;
        return records.Compose(all);
    }

    /// <summary>
    /// Each record's JSON object, as it appears in the <c>records</c> array of a body, written one
    /// after the other into one pooled buffer (one writer for all). Dispose the result when the bodies
    /// are composed: it returns the buffer.
    /// </summary>
    public static SerializedRecords SerializeRecords(IReadOnlyList<DeliveryRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("A webhook batch cannot be empty.", nameof(batch));
        var workflowId = batch[0].WorkflowId;
        var buffer = new PooledBufferWriter(batch.Count * 512);
        try
        {
            var ends = new int[batch.Count];
            using (var writer = new Utf8JsonWriter(buffer))
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    // Reset: each record is a JSON value of its own (no comma before it).
                    writer.Reset(buffer);
                    WriteRecord(writer, batch[i], workflowId);
                    writer.Flush();
                    ends[i] = buffer.WrittenCount;
                }
            }
            return new SerializedRecords(Envelope(workflowId), buffer, ends);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
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
        writer.WriteString("operation", OperationName(record.Operation));
        // The round-trip form, 7 fractional digits ("O"), formatted without a string of its own.
        Span<char> commitTime = stackalloc char[64];
        if (!record.CommitTime.UtcDateTime.TryFormat(commitTime, out var length, "O", CultureInfo.InvariantCulture))
            throw new InvalidOperationException("The commit time does not fit its buffer.");
        writer.WriteString("commitTime", commitTime[..length]);
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

    private static string OperationName(ChangeOperation operation) => operation switch
    {
        ChangeOperation.Insert => "insert",
        ChangeOperation.Update => "update",
        ChangeOperation.Delete => "delete",
        ChangeOperation.Read => "read",
        ChangeOperation.Truncate => "truncate",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <summary>The bytes a body adds around its records: the envelope, and a comma between two records.</summary>
    public static int EnvelopeBytes(string workflowId) => Envelope(workflowId).Length + EnvelopeEnd.Length;

    /// <summary>The start of a body, up to the opening of its <c>records</c> array.</summary>
    private static byte[] Envelope(string workflowId)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + workflowId.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("workflowId", workflowId);
            writer.WriteStartArray("records");
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Records serialized by <see cref="SerializeRecords"/>: one pooled buffer, each record a slice of
    /// it. Bodies are composed from any of them, in the order given, each into a byte array of its exact size.
    /// </summary>
    public sealed class SerializedRecords : IDisposable
    {
        private readonly byte[] _envelope;
        private readonly PooledBufferWriter _buffer;
        private readonly int[] _ends;

        internal SerializedRecords(byte[] envelope, PooledBufferWriter buffer, int[] ends)
        {
            _envelope = envelope;
            _buffer = buffer;
            _ends = ends;
        }

        /// <summary>How many records.</summary>
        public int Count => _ends.Length;

        /// <summary>The bytes a body adds around its records (see <see cref="EnvelopeBytes"/>).</summary>
        public int EnvelopeLength => _envelope.Length + EnvelopeEnd.Length;

        /// <summary>Record <paramref name="index"/>'s JSON.</summary>
        public ReadOnlySpan<byte> this[int index] => _buffer.WrittenSpan[Start(index).._ends[index]];

        /// <summary>The length of record <paramref name="index"/>'s JSON.</summary>
        public int LengthOf(int index) => _ends[index] - Start(index);

        private int Start(int index) => index == 0 ? 0 : _ends[index - 1];

        /// <summary>A body holding the given records, in the order given (the same bytes a JSON writer writes).</summary>
        public byte[] Compose(ReadOnlySpan<int> indices)
        {
            var size = (long)_envelope.Length + EnvelopeEnd.Length + Math.Max(0, indices.Length - 1);
            foreach (var i in indices) size += LengthOf(i);
            var body = new byte[size];
            var at = body.AsSpan();
            _envelope.CopyTo(at);
            at = at[_envelope.Length..];
            for (var k = 0; k < indices.Length; k++)
            {
                if (k > 0)
                {
                    at[0] = (byte)',';
                    at = at[1..];
                }
                var record = this[indices[k]];
                record.CopyTo(at);
                at = at[record.Length..];
            }
            EnvelopeEnd.CopyTo(at);
            return body;
        }

        /// <summary>Returns the buffer to the pool; no record may be read after.</summary>
        public void Dispose() => _buffer.Dispose();
    }

    /// <summary>
    /// The <c>webhook-id</c> of a batch: <c>msg_</c> and 32 hex digits of SHA-256 over its records'
    /// idempotency keys, so a retry of the same records carries the same id, and a part of a split
    /// batch its own.
    /// </summary>
    public static string MessageId(IReadOnlyList<DeliveryRecord> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        // The keys joined by '\n', hashed as UTF-8 piece by piece.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> key = stackalloc byte[256];
        for (var i = 0; i < batch.Count; i++)
        {
            if (i > 0) sha.AppendData("\n"u8);
            var text = batch[i].IdempotencyKey;
            if (Encoding.UTF8.GetMaxByteCount(text.Length) <= key.Length)
                sha.AppendData(key[..Encoding.UTF8.GetBytes(text, key)]);
            else
                sha.AppendData(Encoding.UTF8.GetBytes(text));
        }
        Span<byte> hash = stackalloc byte[32];
        sha.GetHashAndReset(hash);
        return "msg_" + Convert.ToHexStringLower(hash[..16]);
    }
}
