using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Transforms.Tests;

public sealed class OutputRecordTests
{
    private sealed record Sale(string TicketId, decimal UnitPrice, long Quantity, string? StoreName, IReadOnlyList<string> SkuList);

    [Fact]
    public void Create_writes_the_payload_in_camelCase()
    {
        var record = OutputRecord.Create("sale", "T1", new Sale("T1", 9.99m, 2, null, ["A", "B"]));

        Assert.Equal("sale", record.Type);
        Assert.Equal("T1", record.Key);
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"ticketId":"T1","unitPrice":9.99,"quantity":2,"storeName":null,"skuList":["A","B"]}"""),
            record.Payload), record.Payload.ToJsonString());
    }

    [Fact]
    public void Create_accepts_anonymous_payloads()
    {
        var record = OutputRecord.Create("store", "S1", new { StoreId = "S1", City = "Zürich", Deleted = false });

        Assert.Equal("S1", record.Payload["storeId"]!.GetValue<string>());
        Assert.Equal("Zürich", record.Payload["city"]!.GetValue<string>());
        Assert.False(record.Payload["deleted"]!.GetValue<bool>());
        Assert.Equal(["storeId", "city", "deleted"], record.Payload.AsObject().Select(p => p.Key));
    }

    [Fact]
    public void Create_refuses_a_payload_that_serializes_to_null()
    {
        var e = Assert.Throws<ArgumentException>(() => OutputRecord.Create<Sale?>("sale", "T1", null));

        Assert.Equal("payload", e.ParamName);
        Assert.StartsWith("The payload serialized to JSON null.", e.Message);
    }

    [Fact]
    public void Delete_makes_a_marker_with_an_empty_payload_and_other_records_are_not_deletes()
    {
        var marker = OutputRecord.Delete("sale", "T1");

        Assert.True(marker.IsDelete);
        Assert.Equal(("sale", "T1", "{}"), (marker.Type, marker.Key, marker.Payload.ToJsonString()));
        Assert.False(OutputRecord.Create("sale", "T1", new { a = 1 }).IsDelete);
        Assert.False(new OutputRecord("sale", "T1", new JsonObject()).IsDelete);
        Assert.NotEqual(new OutputRecord("sale", "T1", marker.Payload), marker);
    }

    [Fact]
    public void Records_with_the_same_payload_instance_are_equal()
    {
        var payload = new JsonObject { ["a"] = 1 };

        Assert.Equal(new OutputRecord("t", "k", payload), new OutputRecord("t", "k", payload));
    }
}
