using System.Globalization;
using RetailStreaming.Transforms;

namespace RetailStreaming.Transforms.Tests;

public sealed class RowDataTests
{
    private static RowData Row(params (string Column, object? Value)[] values) =>
        new(values.ToDictionary(v => v.Column, v => v.Value));

    [Fact]
    public void A_missing_column_is_named_with_the_columns_the_row_has()
    {
        var row = Row(("ticket_id", "T1"), ("quantity", 2L));

        var e = Assert.Throws<KeyNotFoundException>(() => row["qty"]);

        Assert.Equal("The row has no column 'qty'. Columns: ticket_id, quantity.", e.Message);
        Assert.Throws<KeyNotFoundException>(() => row.GetInt64("qty"));
        Assert.Throws<KeyNotFoundException>(() => row.GetString("qty"));
    }

    [Fact]
    public void Column_names_are_case_sensitive()
    {
        var row = Row(("Sku", "A"));

        Assert.False(row.ContainsKey("sku"));
        Assert.Throws<KeyNotFoundException>(() => row.GetString("sku"));
    }

    [Fact]
    public void HasValue_tells_NULL_and_absent_from_a_value()
    {
        var row = Row(("a", null), ("b", ""), ("c", 0L));

        Assert.False(row.HasValue("a"));
        Assert.True(row.HasValue("b"));
        Assert.True(row.HasValue("c"));
        Assert.False(row.HasValue("missing"));
    }

    [Fact]
    public void GetString_writes_values_in_the_invariant_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("fr-FR");
        try
        {
            var row = Row(("s", "text"), ("n", null), ("d", 1.5d), ("m", 1234.5m), ("l", -7L), ("b", new byte[] { 1, 2, 255 }), ("t", true));

            Assert.Equal("text", row.GetString("s"));
            Assert.Null(row.GetString("n"));
            Assert.Equal("1.5", row.GetString("d"));
            Assert.Equal("1234.5", row.GetString("m"));
            Assert.Equal("-7", row.GetString("l"));
            Assert.Equal("AQL/", row.GetString("b"));
            Assert.Equal("True", row.GetString("t"));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void GetInt64_reads_integers_whatever_their_type()
    {
        var row = Row(("l", 42L), ("i", 7), ("m", 12.0m), ("d", 3d), ("s", "-15"));

        Assert.Equal(42L, row.GetInt64("l"));
        Assert.Equal(7L, row.GetInt64("i"));
        Assert.Equal(12L, row.GetInt64("m"));
        Assert.Equal(3L, row.GetInt64("d"));
        Assert.Equal(-15L, row.GetInt64("s"));
    }

    [Theory]
    [InlineData("quantity", "Column 'quantity' is not an integer: NULL.")]
    [InlineData("fraction", "Column 'fraction' is not an integer: Decimal '1.5'.")]
    [InlineData("text", "Column 'text' is not an integer: String 'two'.")]
    [InlineData("flag", "Column 'flag' is not an integer: Boolean 'True'.")]
    public void GetInt64_names_the_column_and_the_value_it_could_not_read(string column, string message)
    {
        var row = Row(("quantity", null), ("fraction", 1.5m), ("text", "two"), ("flag", true));

        var e = Assert.Throws<FormatException>(() => row.GetInt64(column));

        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void GetDecimal_and_GetDouble_read_numbers_and_invariant_text()
    {
        var row = Row(("m", 9.99m), ("l", 3L), ("i", 2), ("d", 0.25d), ("s", "1234.5"), ("e", "1.5e3"));

        Assert.Equal(9.99m, row.GetDecimal("m"));
        Assert.Equal(3m, row.GetDecimal("l"));
        Assert.Equal(2m, row.GetDecimal("i"));
        Assert.Equal(0.25m, row.GetDecimal("d"));
        Assert.Equal(1234.5m, row.GetDecimal("s"));
        Assert.Equal(1500m, row.GetDecimal("e"));
        Assert.Equal(9.99d, row.GetDouble("m"));
        Assert.Equal(3d, row.GetDouble("l"));
        Assert.Equal(0.25d, row.GetDouble("d"));
        Assert.Equal(1500d, row.GetDouble("e"));
    }

    [Fact]
    public void GetDecimal_and_GetDouble_name_the_column_they_could_not_read()
    {
        var row = Row(("price", "9,99 €"), ("weight", null), ("blob", new byte[] { 1 }));

        Assert.Equal("Column 'price' is not a number: String '9,99 €'.", Assert.Throws<FormatException>(() => row.GetDecimal("price")).Message);
        Assert.Equal("Column 'weight' is not a number: NULL.", Assert.Throws<FormatException>(() => row.GetDecimal("weight")).Message);
        Assert.Equal("Column 'price' is not a number: String '9,99 €'.", Assert.Throws<FormatException>(() => row.GetDouble("price")).Message);
        Assert.StartsWith("Column 'blob' is not a number: Byte[]", Assert.Throws<FormatException>(() => row.GetDouble("blob")).Message);
    }

    [Fact]
    public void GetBoolean_reads_booleans_SQLite_integers_and_text()
    {
        var row = Row(("b", false), ("one", 1L), ("zero", 0L), ("s", "True"), ("two", 2L), ("yes", "yes"), ("n", null));

        Assert.False(row.GetBoolean("b"));
        Assert.True(row.GetBoolean("one"));
        Assert.False(row.GetBoolean("zero"));
        Assert.True(row.GetBoolean("s"));
        Assert.Equal("Column 'two' is not a boolean: Int64 '2'.", Assert.Throws<FormatException>(() => row.GetBoolean("two")).Message);
        Assert.Equal("Column 'yes' is not a boolean: String 'yes'.", Assert.Throws<FormatException>(() => row.GetBoolean("yes")).Message);
        Assert.Equal("Column 'n' is not a boolean: NULL.", Assert.Throws<FormatException>(() => row.GetBoolean("n")).Message);
    }

    [Fact]
    public void A_row_reads_as_a_dictionary()
    {
        var row = Row(("a", 1L), ("b", null));

        Assert.Equal(2, row.Count);
        Assert.Equal(["a", "b"], row.Keys);
        Assert.True(row.TryGetValue("a", out var a));
        Assert.Equal(1L, a);
        Assert.False(row.TryGetValue("c", out _));
        Assert.Empty(RowData.Empty);
        Assert.Throws<ArgumentNullException>(() => new RowData(null!));
    }
}
