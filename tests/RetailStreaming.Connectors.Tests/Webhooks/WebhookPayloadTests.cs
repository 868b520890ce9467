using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Webhooks;

/// <summary>
/// The bytes a receiver sees must never change by accident: idempotency keys are stable across
/// replays and upgrades (DESIGN.md invariant 2), and a body, its message id and its signature are
/// checked here against their documented definitions, computed the plain way.
/// </summary>
public sealed class WebhookPayloadTests
{
    private static readonly DateTimeOffset Commit = new(2026, 1, 31, 9, 15, 0, 123, TimeSpan.FromHours(1));

    [Theory]
    [InlineData("retail-eu", "pg:0000000001A2B3C4:000012", 0, "rs_c2be3f5f5fea43dc7195fb3733f87a4e")]
    [InlineData("magasin-été", "pg:0000000001A2B3C4:000012", 3, "rs_613d9c12e84c4e8b271915b337cb02a9")]
    public void An_idempotency_key_is_the_same_as_in_every_earlier_build(string workflowId, string position, int index, string expected) =>
        Assert.Equal(expected, IdempotencyKey.For(workflowId, new SourcePosition(position), index));

    [Theory]
    [InlineData("w", "", 0)] // the start position (no value)
    [InlineData("w", "sqlite:000000000042", int.MaxValue)]
    [InlineData("клиент-1", "pg:00000000FFFFFFFF:999999", 7)]
    [InlineData(null, "pg:1", 1)] // a workflow id of 300 characters: past the stack buffer
    public void An_idempotency_key_is_sha256_over_the_documented_triple(string? workflowId, string position, int index)
    {
        workflowId ??= new string('x', 300);
        var input = Encoding.UTF8.GetBytes($"{workflowId}\u0000{position}\u0000{index.ToString(CultureInfo.InvariantCulture)}");
        var expected = "rs_" + Convert.ToHexStringLower(SHA256.HashData(input).AsSpan(0, 16));
        Assert.Equal(expected, IdempotencyKey.For(workflowId, position == "" ? default : new SourcePosition(position), index));
    }

    [Fact]
    public void A_message_id_is_sha256_over_the_keys_joined_by_newlines()
    {
        var batch = new[] { Record(0), Record(1) };
        Assert.Equal("msg_8c39a215346f326b9bc751c88cf6a76b", WebhookPayload.MessageId(batch));
        var joined = Encoding.UTF8.GetBytes(string.Join('\n', batch.Select(r => r.IdempotencyKey)));
        Assert.Equal("msg_" + Convert.ToHexStringLower(SHA256.HashData(joined).AsSpan(0, 16)), WebhookPayload.MessageId(batch));
    }

    [Fact]
    public void A_body_is_the_envelope_around_each_record_as_a_json_writer_writes_it()
    {
        var operations = Enum.GetValues<ChangeOperation>();
        var batch = operations.Select((op, i) => Record(i, op, delete: op == ChangeOperation.Delete, version: i % 2 == 0 ? "1.2.0" : null,
            kept: i % 3 == 0)).ToList();

        // The reference: one Utf8JsonWriter over the whole body, each record written as a JsonObject.
        var reference = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(reference))
        {
            writer.WriteStartObject();
            writer.WriteString("workflowId", "retail-eu");
            writer.WriteStartArray("records");
            foreach (var r in batch)
            {
                var o = new JsonObject
                {
                    ["id"] = r.IdempotencyKey, ["type"] = r.Record.Type, ["key"] = r.Record.Key, ["position"] = r.Position.Value,
                    ["outputIndex"] = r.OutputIndex, ["table"] = r.Table, ["operation"] = r.Operation.ToString().ToLowerInvariant(),
                    ["commitTime"] = r.CommitTime.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                };
                if (r.TransformVersion is { } v) o["transformVersion"] = v;
                if (r.Record.IsDelete) o["deleted"] = true;
                o["data"] = r.Record.Payload.DeepClone();
                o.WriteTo(writer);
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        var body = WebhookPayload.Serialize(batch);
        Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(body));
        Assert.Contains("\"commitTime\":\"2026-01-31T08:15:00.1230000Z\"", Encoding.UTF8.GetString(body), StringComparison.Ordinal);

        // Any subset, in any order, composes the same way, and the records' lengths add up to the body's.
        using var records = WebhookPayload.SerializeRecords(batch);
        Assert.Equal(batch.Count, records.Count);
        int[] picked = [3, 0, 4];
        var part = records.Compose(picked);
        Assert.Equal(Encoding.UTF8.GetString(WebhookPayload.Serialize(picked.Select(i => batch[i]).ToList())), Encoding.UTF8.GetString(part));
        Assert.Equal(part.Length, records.EnvelopeLength + picked.Sum(records.LengthOf) + picked.Length - 1);
        Assert.Equal(WebhookPayload.EnvelopeBytes("retail-eu"), records.EnvelopeLength);
    }

    [Fact]
    public void Records_of_another_workflow_are_refused_and_nothing_is_left_rented()
    {
        var other = Record(1) with { WorkflowId = "other" };
        var e = Assert.Throws<ArgumentException>(() => WebhookPayload.SerializeRecords([Record(0), other]));
        Assert.Contains("one workflow only", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => WebhookPayload.SerializeRecords([]));
    }

    [Fact]
    public void A_signature_is_hmac_sha256_over_id_timestamp_and_body()
    {
        var secret = StandardWebhooks.GenerateSecret();
        var key = StandardWebhooks.DecodeSecret(secret);
        var body = WebhookPayload.Serialize(Enumerable.Range(0, 300).Select(i => Record(i)).ToList()); // past the large-object size
        var signature = StandardWebhooks.Sign(key, "msg_1", 1_780_000_000, body);
        byte[] content = [.. "msg_1.1780000000."u8, .. body];
        var expected = HMACSHA256.HashData(key, content);
        Assert.Equal("v1," + Convert.ToBase64String(expected), signature);
        var headers = new Dictionary<string, string>
        {
            [StandardWebhooks.IdHeader] = "msg_1",
            [StandardWebhooks.TimestampHeader] = "1780000000",
            [StandardWebhooks.SignatureHeader] = signature,
        };
        Assert.True(StandardWebhooks.Verify(secret, headers, Encoding.UTF8.GetString(body), TimeSpan.FromDays(36500), out var failure), failure);
    }

    private static DeliveryRecord Record(int index, ChangeOperation operation = ChangeOperation.Insert, bool delete = false, string? version = null, bool kept = false)
    {
        var position = new SourcePosition("pg:0000000001A2B3C4:000012");
        var payload = new JsonObject { ["sku"] = $"SKU-{index}", ["total"] = 12.5m + index, ["note"] = "é \"quoted\" <tag>", ["lines"] = new JsonArray(1, 2) };
        var output = new OutputRecord("sale", $"T-{index}", payload) { IsDelete = delete };
        return new DeliveryRecord(IdempotencyKey.For("retail-eu", position, index), "retail-eu", position, index, "retail.tickets", operation, Commit, output)
        {
            TransformVersion = version,
            PayloadJson = kept ? JsonSerializer.SerializeToUtf8Bytes(payload) : null,
        };
    }
}
