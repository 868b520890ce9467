using RetailStreaming.Transforms;
using static RetailStreaming.Connectors.Tests.Postgres.PostgresTestDatabase;

namespace RetailStreaming.Connectors.Tests.Postgres;

/// <summary>Every type arrives as its documented representation (connector README, "Values").</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresValueTests(PostgresFixture fixture)
{
    private async Task<ChangeEvent> RoundTripAsync(string type, string literal)
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TYPE mood AS ENUM ('sad', 'ok')");
        await db.ExecuteAsync("CREATE DOMAIN positive AS int CHECK (VALUE > 0)");
        await db.ExecuteAsync("CREATE DOMAIN label AS text");
        await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY, v {type})");
        await using var source = await StartedAsync(db.Source("wf-values", ["t"]));
        await db.ExecuteAsync($"INSERT INTO t VALUES (1, {literal})");
        return Assert.Single(await ReadAsync(source, SourcePosition.Start, 1));
    }

    public static TheoryData<string, string, object?> Values => new()
    {
        // NULL is not the empty string.
        { "text", "NULL", null },
        { "text", "''", "" },
        { "text", "'héllo ☃ 😀 中文 \\ \" '' end'", "héllo ☃ 😀 中文 \\ \" ' end" },
        { "varchar(10)", "'abc'", "abc" },
        { "char(5)", "'ab'", "ab   " },
        { "bool", "true", true },
        { "bool", "false", false },
        { "int2", "-32768", -32768L },
        { "int4", "2147483647", 2147483647L },
        { "int8", "-9223372036854775808", long.MinValue },
        { "float8", "0.1", 0.1 },
        { "float8", "1e-300", 1e-300 },
        { "float8", "1.7976931348623157e308", double.MaxValue },
        { "float8", "'NaN'", "NaN" },
        { "float8", "'Infinity'", "Infinity" },
        { "float8", "'-Infinity'", "-Infinity" },
        { "float4", "1.1", 1.1 },
        { "float4", "'-Infinity'", "-Infinity" },
        { "numeric", "123.4500", 123.4500m },
        { "numeric", "-0.000001", -0.000001m },
        { "numeric", "79228162514264337593543950335", decimal.MaxValue },
        { "numeric", "12345678901234567890123456789012345678.5", "12345678901234567890123456789012345678.5" },
        { "numeric", "0.0000000000000000000000000000001", "0.0000000000000000000000000000001" },
        { "numeric", "'NaN'", "NaN" },
        { "numeric", "'Infinity'", "Infinity" },
        { "numeric", "'-Infinity'", "-Infinity" },
        { "uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
        { "json", "'{\"b\" : [1, 2],  \"a\": null}'", "{\"b\" : [1, 2],  \"a\": null}" },
        { "jsonb", "'{\"b\" : [1, 2],  \"a\": null}'", "{\"a\": null, \"b\": [1, 2]}" },
        { "timestamptz", "'2024-05-01 12:34:56.789+02'", "2024-05-01T10:34:56.789000Z" },
        { "timestamptz", "'2024-05-01 00:00:00+00'", "2024-05-01T00:00:00.000000Z" },
        { "timestamptz", "'1900-01-01 00:00:00.000001+01'", "1899-12-31T23:00:00.000001Z" },
        { "timestamptz", "'0001-01-01 00:00:00+00 BC'", "0000-01-01T00:00:00.000000Z" },
        { "timestamptz", "'0044-03-15 12:00:00+00 BC'", "-0043-03-15T12:00:00.000000Z" },
        { "timestamptz", "'12000-01-01 00:00:00.5+00'", "+12000-01-01T00:00:00.500000Z" },
        { "timestamptz", "'infinity'", "infinity" },
        { "timestamptz", "'-infinity'", "-infinity" },
        { "timestamp", "'2024-05-01 12:34:56.5'", "2024-05-01 12:34:56.5" },
        { "timestamp", "'infinity'", "infinity" },
        { "date", "'2024-02-29'", "2024-02-29" },
        { "date", "'0044-03-15 BC'", "0044-03-15 BC" },
        { "date", "'10000-01-01'", "10000-01-01" },
        { "date", "'infinity'", "infinity" },
        { "date", "'-infinity'", "-infinity" },
        { "time", "'23:59:59.999999'", "23:59:59.999999" },
        { "timetz", "'10:00+05:30'", "10:00:00+05:30" },
        { "interval", "'1 year 2 months 3 days 04:05:06.5'", "1 year 2 mons 3 days 04:05:06.5" },
        { "interval", "'-1 day'", "-1 days" },
        { "int[]", "'{1,NULL,3}'", "{1,NULL,3}" },
        { "text[]", "ARRAY['a b', 'c\"d', NULL]", "{\"a b\",\"c\\\"d\",NULL}" },
        { "mood", "'ok'", "ok" },
        { "positive", "5", 5L },
        { "label", "'x'", "x" },
        { "inet", "'192.168.0.1/24'", "192.168.0.1/24" },
        { "money", "12.34", "$12.34" },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public async Task A_value_arrives_as_its_documented_representation(string type, string literal, object? expected)
    {
        var change = await RoundTripAsync(type, literal);
        var actual = change.After!["v"];
        Assert.Equal(expected, actual);
        if (expected is not null) Assert.IsType(expected.GetType(), actual);
        // A decimal keeps PostgreSQL's scale.
        if (expected is decimal d) Assert.Equal(d.ToString(System.Globalization.CultureInfo.InvariantCulture), ((decimal)actual!).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Bytea_arrives_as_bytes()
    {
        var change = await RoundTripAsync("bytea", "'\\x00ff10'::bytea");
        Assert.Equal(new byte[] { 0x00, 0xff, 0x10 }, change.After!["v"]);
        var empty = await RoundTripAsync("bytea", "''::bytea");
        Assert.Equal(Array.Empty<byte>(), empty.After!["v"]);
    }

    [Fact]
    public async Task Negative_zero_and_the_shortest_float_text_round_trip()
    {
        var zero = await RoundTripAsync("float8", "'-0'");
        Assert.True(double.IsNegative((double)zero.After!["v"]!));
        var third = await RoundTripAsync("float8", "1.0/3");
        Assert.Equal(1.0 / 3, third.After!["v"]);
        var single = await RoundTripAsync("float4", "3.4028235e38");
        Assert.Equal(float.MaxValue, (float)(double)single.After!["v"]!);
    }

    [Fact]
    public async Task A_timestamptz_does_not_depend_on_the_session_time_zone_of_the_writer()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("ALTER DATABASE " + new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString).Database + " SET timezone = 'America/New_York'");
        await db.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, v timestamptz)");
        await using var source = await StartedAsync(db.Source("wf-tz", ["t"]));
        // A new session of the writer, in New York time: 08:00 there is 12:00 UTC.
        await db.ExecuteAsync("SET TIME ZONE 'America/New_York'; INSERT INTO t VALUES (1, '2024-07-01 08:00:00')");
        var change = Assert.Single(await ReadAsync(source, SourcePosition.Start, 1));
        Assert.Equal("2024-07-01T12:00:00.000000Z", change.After!["v"]);
    }
}
