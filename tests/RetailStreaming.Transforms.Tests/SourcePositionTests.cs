using RetailStreaming.Transforms;

namespace RetailStreaming.Transforms.Tests;

public sealed class SourcePositionTests
{
    [Fact]
    public void Positions_compare_ordinally_as_connectors_encode_them()
    {
        var positions = new[] { "0000000000000010", "0000000000000002", "00000000000000a0", "0000000000000009" }
            .Select(v => new SourcePosition(v))
            .Order()
            .Select(p => p.Value);

        Assert.Equal(["0000000000000002", "0000000000000009", "0000000000000010", "00000000000000a0"], positions);
    }

    [Fact]
    public void Comparison_is_ordinal_not_cultural()
    {
        // Upper case before lower case, unlike a culture-aware comparison.
        Assert.True(new SourcePosition("B") < new SourcePosition("a"));
        // Not numeric: which is why connectors write fixed-width fields.
        Assert.True(new SourcePosition("10") < new SourcePosition("9"));
    }

    [Fact]
    public void Start_comes_before_every_connector_position()
    {
        var start = SourcePosition.Start;

        foreach (var value in new[] { "00000001", "0/16B3748:00000000", "snapshot:0001:tickets:42", "1" })
        {
            var position = new SourcePosition(value);
            Assert.True(start < position, value);
            Assert.True(position > start, value);
            Assert.Equal(position, SourcePosition.Max(start, position));
        }
        Assert.True(start.IsStart);
        Assert.True(default(SourcePosition).IsStart);
        Assert.Equal(0, default(SourcePosition).CompareTo(start));
        Assert.Equal("0", default(SourcePosition).ToString());
    }

    [Fact]
    public void Operators_agree_with_CompareTo()
    {
        var a = new SourcePosition("0001");
        var b = new SourcePosition("0002");

        Assert.True(a < b && a <= b && b > a && b >= a);
        Assert.True(a <= new SourcePosition("0001") && a >= new SourcePosition("0001"));
        Assert.Equal(new SourcePosition("0001"), a);
        Assert.Equal(b, SourcePosition.Max(a, b));
        Assert.Equal(b, SourcePosition.Max(b, a));
        Assert.Equal("0002", b.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    public void An_empty_position_is_refused(string? value)
    {
        var e = Assert.Throws<ArgumentException>(() => new SourcePosition(value!));
        Assert.Contains("cannot be empty", e.Message);
    }
}
