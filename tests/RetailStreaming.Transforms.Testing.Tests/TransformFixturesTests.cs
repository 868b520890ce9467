using System.Text.Json.Nodes;
using RetailStreaming.Transforms;
using RetailStreaming.Transforms.Testing;

namespace RetailStreaming.Transforms.Testing.Tests;

/// <summary>tickets → one "sale" (total with VAT from the settings); quantity 0 is refused; "noise" is dropped; "bundle" gives two records.</summary>
public sealed class SaleTransform : ITransform
{
    private decimal _vat;

    public void Initialize(TransformContext context) => _vat = context.GetDecimalSetting("vatRate", 0m);

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        var row = change.Row;
        switch (change.Table)
        {
            case "noise":
                yield break;
            case "bundle":
                yield return OutputRecord.Create("item", row.GetString("id")! + "-a", new { part = 1 });
                yield return OutputRecord.Create("item", row.GetString("id")! + "-b", new { part = 2 });
                yield break;
        }
        var quantity = row.GetInt64("quantity");
        if (quantity <= 0) throw new InvalidOperationException($"Ticket {row.GetString("ticket_id")} has quantity {quantity}.");
        yield return OutputRecord.Create("sale", row.GetString("ticket_id")!,
            new { total = row.GetDecimal("unit_price") * quantity * (1 + _vat), lines = new[] { new { sku = row.GetString("sku") } } });
    }
}

public sealed class TransformFixturesTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"rs-fixtures-{Guid.NewGuid():N}");
    private static readonly TransformTestOptions Compare = new() { UpdateExpected = false };
    private static readonly TransformTestOptions Update = new() { UpdateExpected = true };

    public TransformFixturesTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Ticket(int seq, string id, long quantity, decimal price, string table = "tickets") =>
        ChangeEventJson.Serialize(new ChangeEvent("sqlite:retail", table, ChangeOperation.Insert,
            new RowData(new Dictionary<string, object?> { ["ticket_id"] = id }), null,
            new RowData(new Dictionary<string, object?> { ["ticket_id"] = id, ["id"] = id, ["quantity"] = quantity, ["unit_price"] = price, ["sku"] = "SKU-" + id }),
            new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero), new SourcePosition($"sqlite:{seq:D19}")));

    private string WriteInput(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name + TransformFixtures.InputSuffix);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    private string Expected(string name) => Path.Combine(_dir, name + TransformFixtures.ExpectedSuffix);

    private void WriteStandardFixture() =>
        WriteInput("tickets",
            Ticket(1, "T-1", 2, 5.25m),
            "",
            Ticket(3, "T-2", 0, 1m),
            Ticket(4, "N-1", 1, 1m, table: "noise"),
            Ticket(5, "B-1", 1, 1m, table: "bundle"));

    [Fact]
    public void Update_mode_writes_the_expected_file_and_a_run_against_it_passes()
    {
        WriteStandardFixture();
        File.WriteAllText(Path.Combine(_dir, "settings.json"), """{ "vatRate": 0.2 }""");

        var updated = TransformFixtures.Run<SaleTransform>(_dir, Update);
        Assert.True(updated.Passed);
        Assert.True(Assert.Single(updated.Fixtures).Updated);

        var lines = File.ReadAllLines(Expected("tickets"));
        Assert.Equal(
        [
            """{"input":1,"output":0,"type":"sale","key":"T-1","payload":{"total":12.600,"lines":[{"sku":"SKU-T-1"}]}}""",
            """{"input":3,"error":"System.InvalidOperationException: Ticket T-2 has quantity 0."}""",
            """{"input":5,"output":0,"type":"item","key":"B-1-a","payload":{"part":1}}""",
            """{"input":5,"output":1,"type":"item","key":"B-1-b","payload":{"part":2}}""",
        ], lines);

        var result = TransformFixtures.Verify<SaleTransform>(_dir, Compare);
        var fixture = Assert.Single(result.Fixtures);
        Assert.Equal(("tickets", 4, 3, 1), (fixture.Name, fixture.Changes, fixture.Records, fixture.Errors));
        Assert.Contains("1 fixture(s) passed", result.Report);
    }

    [Fact]
    public void A_mismatch_names_the_input_line_the_field_and_both_values()
    {
        WriteStandardFixture();
        TransformFixtures.Run<SaleTransform>(_dir, Update);
        var expected = File.ReadAllLines(Expected("tickets"));
        // Another total and sku, the error expected elsewhere, and one record of the bundle missing.
        expected[0] = expected[0].Replace("10.50", "10.5").Replace("SKU-T-1", "SKU-X");
        expected[1] = """{"input":3,"error":"System.InvalidOperationException: something else"}""";
        File.WriteAllLines(Expected("tickets"), expected[..3]);

        var e = Assert.Throws<TransformTestFailedException>(() => TransformFixtures.Verify<SaleTransform>(_dir, Compare));

        Assert.False(e.Result.Passed);
        var differences = e.Result.Differences.Select(d => d.ToString()).ToList();
        Assert.Equal(
        [
            "input line 1 (tickets insert at sqlite:0000000000000000001), record 0, expected line 1: payload.lines[0].sku: expected \"SKU-X\", actual \"SKU-T-1\"",
            "input line 3 (tickets insert at sqlite:0000000000000000003), record 0, expected line 2: error: expected \"System.InvalidOperationException: something else\", actual \"System.InvalidOperationException: Ticket T-2 has quantity 0.\"",
            "input line 5 (bundle insert at sqlite:0000000000000000005), record 1: unexpected record {\"input\":5,\"output\":1,\"type\":\"item\",\"key\":\"B-1-b\",\"payload\":{\"part\":2}}",
        ], differences);
        Assert.StartsWith("3 difference(s) in 1 of 1 fixture(s)", e.Message);
        Assert.Contains("RS_UPDATE_GOLDEN=1", e.Message);
    }

    [Fact]
    public void Numbers_compare_by_value_and_member_order_does_not_matter_but_a_changed_value_does()
    {
        WriteInput("one", Ticket(1, "T-1", 2, 5.25m));
        File.WriteAllText(Expected("one"), """{"input":1,"output":0,"type":"sale","key":"T-1","payload":{"lines":[{"sku":"SKU-T-1"}],"total":10.5}}""" + "\n");
        Assert.True(TransformFixtures.Run<SaleTransform>(_dir, Compare).Passed);

        File.WriteAllText(Expected("one"), """{"input":1,"output":0,"type":"sales","key":"T-1","payload":{"total":10.51,"extra":true,"lines":[{"sku":"SKU-T-1"}]}}""" + "\n");
        var result = TransformFixtures.Run<SaleTransform>(_dir, Compare);
        Assert.Equal(
        [
            ("type", "\"sales\"", "\"sale\""),
            ("payload.total", "10.51", "10.50"),
            ("payload.extra", "true", null),
        ], result.Differences.Select(d => (d.Field, d.Expected, d.Actual)).ToList());
    }

    [Fact]
    public void A_missing_record_and_a_missing_expected_file_are_failures()
    {
        WriteInput("a", Ticket(1, "T-1", 1, 1m));
        File.WriteAllText(Expected("a"), """
            {"input":1,"output":0,"type":"sale","key":"T-1","payload":{"total":1,"lines":[{"sku":"SKU-T-1"}]}}
            {"input":2,"output":0,"type":"sale","key":"T-9","payload":{}}
            """);
        WriteInput("b", Ticket(1, "T-1", 1, 1m));

        var result = TransformFixtures.Run<SaleTransform>(_dir, Compare);

        var a = result.Fixtures.Single(f => f.Name == "a");
        var missing = Assert.Single(a.Differences);
        Assert.Equal("input line 2 (no such change in the input file), record 0, expected line 2: missing record {\"input\":2,\"output\":0,\"type\":\"sale\",\"key\":\"T-9\",\"payload\":{}}", missing.ToString());
        var b = result.Fixtures.Single(f => f.Name == "b");
        Assert.Equal($"no expected file {Expected("b")}; run in update mode (RS_UPDATE_GOLDEN=1, or rsctl transform test --update) to write it, then review it", Assert.Single(b.Differences).ToString());
        Assert.False(File.Exists(Expected("b")));
    }

    [Fact]
    public void A_malformed_fixture_line_is_refused_with_its_file_line_and_column()
    {
        var input = WriteInput("bad", Ticket(1, "T-1", 1, 1m), """{"source":"s","table":"t","operation":"upsert","position":"1","commitTime":"2026-01-01T00:00:00Z"}""");
        var e = Assert.Throws<FixtureFormatException>(() => TransformFixtures.Run<SaleTransform>(_dir, Compare));
        Assert.Equal($"{input}:2: not a change event: Field 'operation' is 'upsert'; expected insert, update, delete or read.", e.Message);

        WriteInput("bad", "{\"source\": oops}");
        e = Assert.Throws<FixtureFormatException>(() => TransformFixtures.Run<SaleTransform>(_dir, Compare));
        Assert.StartsWith($"{input}:1:12: not a change event", e.Message);

        File.Delete(input);
        var missing = Assert.Throws<FileNotFoundException>(() => TransformFixtures.Run<SaleTransform>(_dir, Compare));
        Assert.Contains("holds no *.input.ndjson file", missing.Message);
    }

    [Fact]
    public void Each_fixture_gets_a_new_initialized_instance_with_its_own_settings()
    {
        WriteInput("plain", Ticket(1, "T-1", 1, 10m));
        WriteInput("vat", Ticket(1, "T-1", 1, 10m));
        File.WriteAllText(Path.Combine(_dir, "vat.settings.json"), """{ "vatRate": 0.5 }""");
        var created = 0;

        TransformFixtures.Run(() => { created++; return new SaleTransform(); }, _dir, Update);

        Assert.Equal(2, created);
        Assert.Contains("\"total\":10,", File.ReadAllText(Expected("plain")));
        Assert.Contains("\"total\":15.0,", File.ReadAllText(Expected("vat")));
    }
}
