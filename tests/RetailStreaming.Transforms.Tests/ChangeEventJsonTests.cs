using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Transforms.Tests;

public sealed class ChangeEventJsonTests
{
    private static readonly DateTimeOffset Committed = new(2026, 11, 26, 10, 15, 30, 123, TimeSpan.FromHours(2));

    private static RowData Row(params (string Column, object? Value)[] values) =>
        new(values.ToDictionary(v => v.Column, v => v.Value));

    private static ChangeEvent Change(RowData? before, RowData? after, ChangeOperation op = ChangeOperation.Update) =>
        new("sqlite:retail", "main.tickets", op, Row(("ticket_id", "T1")), before, after, Committed, new SourcePosition("00000000000000000042"));

    private static ChangeEvent RoundTrip(ChangeEvent change) => ChangeEventJson.Deserialize(ChangeEventJson.Serialize(change));

    [Fact]
    public void The_envelope_round_trips()
    {
        var change = Change(null, Row(("ticket_id", "T1")), ChangeOperation.Insert);

        var back = RoundTrip(change);

        Assert.Equal("sqlite:retail", back.Source);
        Assert.Equal("main.tickets", back.Table);
        Assert.Equal(ChangeOperation.Insert, back.Operation);
        Assert.Equal(Committed, back.CommitTime);
        Assert.Equal(Committed.Offset, back.CommitTime.Offset);
        Assert.Equal(change.Position, back.Position);
        Assert.Equal("T1", back.Key.GetString("ticket_id"));
        Assert.Null(back.Before);
        Assert.NotNull(back.After);
    }

    [Fact]
    public void Values_keep_their_type_across_a_round_trip()
    {
        var bytes = new byte[] { 0, 1, 2, 250, 255 };
        var after = Row(
            ("long", 9_007_199_254_740_993L), // beyond double precision
            ("negative", long.MinValue),
            ("int", 7),
            ("decimal", 12345678901234567.89m),
            ("scaled", 19.90m),
            ("double", 1.5e300),
            ("true", true),
            ("false", false),
            ("null", null),
            ("empty", ""),
            ("bytes", bytes),
            ("unicode", "Zürich — café ☕ 𝄞 \"quoted\" \\ \n tab\t"));

        var row = RoundTrip(Change(null, after)).After!;

        Assert.Equal(9_007_199_254_740_993L, Assert.IsType<long>(row["long"]));
        Assert.Equal(long.MinValue, Assert.IsType<long>(row["negative"]));
        Assert.Equal(7L, Assert.IsType<long>(row["int"]));
        Assert.Equal(12345678901234567.89m, Assert.IsType<decimal>(row["decimal"]));
        Assert.Equal(19.90m, Assert.IsType<decimal>(row["scaled"]));
        Assert.Equal("19.90", row.GetString("scaled")); // the scale survives
        Assert.Equal(1.5e300, Assert.IsType<double>(row["double"]));
        Assert.Equal(true, row["true"]);
        Assert.Equal(false, row["false"]);
        Assert.True(row.ContainsKey("null"));
        Assert.Null(row["null"]);
        Assert.Equal("", Assert.IsType<string>(row["empty"])); // NULL and '' stay distinct
        Assert.Equal(bytes, Assert.IsType<byte[]>(row["bytes"]));
        Assert.Equal("Zürich — café ☕ 𝄞 \"quoted\" \\ \n tab\t", row["unicode"]);
    }

    [Fact]
    public void Numbers_come_back_as_the_documented_types()
    {
        // Integers that fit a long come back as long; other numbers as decimal, or double beyond its range.
        var row = RoundTrip(Change(null, Row(("whole", 5m), ("fraction", 0.1d), ("huge", 1e30d)))).After!;

        Assert.Equal(5L, Assert.IsType<long>(row["whole"]));
        Assert.Equal(0.1m, Assert.IsType<decimal>(row["fraction"]));
        Assert.Equal(0.1d, row.GetDouble("fraction"));
        Assert.Equal(1e30d, row.GetDouble("huge"));
    }

    [Fact]
    public void A_delete_keeps_its_before_row_and_null_after()
    {
        var back = RoundTrip(Change(Row(("ticket_id", "T1"), ("quantity", 2L)), null, ChangeOperation.Delete));

        Assert.Equal(ChangeOperation.Delete, back.Operation);
        Assert.Null(back.After);
        Assert.Equal(2L, back.Before!.GetInt64("quantity"));
        Assert.Equal(2L, back.Row.GetInt64("quantity"));
    }

    [Fact]
    public void The_json_form_is_readable()
    {
        var json = ChangeEventJson.ToJson(Change(null, Row(("photo", new byte[] { 1, 2, 3 }), ("note", null)), ChangeOperation.Read));

        Assert.Equal("read", json["operation"]!.GetValue<string>());
        Assert.Equal("00000000000000000042", json["position"]!.GetValue<string>());
        Assert.Equal("2026-11-26T10:15:30.1230000+02:00", json["commitTime"]!.GetValue<string>());
        Assert.Equal("AQID", json["after"]!["photo"]!["$base64"]!.GetValue<string>());
        Assert.Null(json["before"]);
        Assert.True(((JsonObject)json["after"]!).ContainsKey("note"));
    }

    [Fact]
    public void Nested_json_is_kept_as_its_text()
    {
        var change = ChangeEventJson.Deserialize("""
            {"source":"pg:retail","table":"public.orders","operation":"insert","position":"1","commitTime":"2026-11-26T10:00:00Z",
             "key":{"id":1},"before":null,"after":{"id":1,"tags":["a","b"],"meta":{"x":1,"y":null}}}
            """);

        Assert.Equal("""["a","b"]""", change.After!["tags"]);
        Assert.Equal("""{"x":1,"y":null}""", change.After!["meta"]);
    }

    [Fact]
    public void A_missing_key_reads_as_an_empty_row()
    {
        var change = ChangeEventJson.Deserialize("""
            {"source":"s","table":"t","operation":"Delete","position":"2","commitTime":"2026-11-26T10:00:00Z","before":{"id":1}}
            """);

        Assert.Empty(change.Key);
        Assert.Equal(ChangeOperation.Delete, change.Operation);
    }

    private const string Valid = """
        {"source":"s","table":"t","operation":"insert","position":"1","commitTime":"2026-11-26T10:00:00Z","key":{},"before":null,"after":{"id":1}}
        """;

    private static string With(string field, string? json)
    {
        var o = JsonNode.Parse(Valid)!.AsObject();
        if (json is null) o.Remove(field);
        else o[field] = JsonNode.Parse(json);
        return o.ToJsonString();
    }

    [Theory]
    [InlineData("source", null, "The change has no string field 'source'.")]
    [InlineData("table", "\"\"", "The change has no string field 'table'.")]
    [InlineData("position", "42", "The change has no string field 'position'.")]
    [InlineData("operation", "\"upsert\"", "Field 'operation' is 'upsert'; expected insert, update, delete or read.")]
    [InlineData("operation", "\"9\"", "Field 'operation' is '9'; expected insert, update, delete or read.")]
    [InlineData("commitTime", "\"yesterday\"", "Field 'commitTime' is not an ISO 8601 time.")]
    [InlineData("key", "[1,2]", "Field 'key' must be a JSON object or null.")]
    [InlineData("after", "\"row\"", "Field 'after' must be a JSON object or null.")]
    [InlineData("after", """{"photo":{"$base64":"***"}}""", "Field 'after.photo' is not valid base64.")]
    public void A_malformed_change_names_the_field_at_fault(string field, string? json, string message)
    {
        var e = Assert.Throws<FormatException>(() => ChangeEventJson.Deserialize(With(field, json)));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("null")]
    [InlineData("\"change\"")]
    public void A_change_that_is_not_an_object_is_refused(string json)
    {
        var e = Assert.Throws<FormatException>(() => ChangeEventJson.Deserialize(json));
        Assert.Equal("A change must be a JSON object.", e.Message);
    }

    [Fact]
    public void Text_that_is_not_JSON_is_refused_with_the_parser_message()
    {
        var e = Assert.Throws<FormatException>(() => ChangeEventJson.Deserialize("{\"source\": "));
        Assert.StartsWith("A change must be a JSON object: ", e.Message);
        Assert.NotNull(e.InnerException);
    }
}
