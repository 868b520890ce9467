namespace RetailStreaming.Node.Tests;

/// <summary><c>Transforms:Slots</c>, <c>Transforms:Slice</c> and <c>Transforms:LightShare</c>: read from the arguments, defaulted, and refused with the key when out of range.</summary>
public sealed class TransformSlotsOptionsTests
{
    [Fact]
    public void The_default_is_one_core_fewer_than_the_machine_has_and_a_2_ms_slice()
    {
        var scheduler = new NodeOptions().Transforms.CreateScheduler();

        Assert.Equal(Math.Max(1, Environment.ProcessorCount - 1), scheduler.Slots);
        Assert.Equal(TimeSpan.FromMilliseconds(2), scheduler.Slice);
        Assert.Equal(0.1, scheduler.LightShare);
    }

    [Fact]
    public void Slots_and_slice_come_from_the_node_configuration()
    {
        var options = NodeHost.ReadOptions(["run", "--RetailStreaming:Transforms:Slots=3", "--RetailStreaming:Transforms:Slice=00:00:00.010",
            "--RetailStreaming:Transforms:LightShare=0.05"], out _);
        options.Transforms.Validate();

        var scheduler = options.Transforms.CreateScheduler();
        Assert.Equal(3, scheduler.Slots);
        Assert.Equal(TimeSpan.FromMilliseconds(10), scheduler.Slice);
        Assert.Equal(0.05, scheduler.LightShare);
    }

    [Theory]
    [InlineData(-1, "00:00:00.002", "RetailStreaming:Transforms:Slots")]
    [InlineData(1, "00:00:00", "RetailStreaming:Transforms:Slice")]
    [InlineData(1, "00:00:11", "RetailStreaming:Transforms:Slice")]
    [InlineData(1, "00:00:00.002", "RetailStreaming:Transforms:LightShare", -0.1)]
    [InlineData(1, "00:00:00.002", "RetailStreaming:Transforms:LightShare", 1.0)]
    public void Out_of_range_settings_are_refused_naming_the_key(int slots, string slice, string key, double lightShare = 0.1)
    {
        var section = new TransformsSection { Slots = slots, Slice = TimeSpan.Parse(slice, System.Globalization.CultureInfo.InvariantCulture), LightShare = lightShare };

        var e = Assert.Throws<InvalidOperationException>(section.Validate);
        Assert.Contains(key, e.Message);
    }
}
