namespace RetailStreaming.Node.Tests;

/// <summary><c>Transforms:Slots</c> and <c>Transforms:Slice</c>: read from the arguments, defaulted, and refused with the key when out of range.</summary>
public sealed class TransformSlotsOptionsTests
{
    [Fact]
    public void The_default_is_one_core_fewer_than_the_machine_has_and_a_2_ms_slice()
    {
        var scheduler = new NodeOptions().Transforms.CreateScheduler();

        Assert.Equal(Math.Max(1, Environment.ProcessorCount - 1), scheduler.Slots);
        Assert.Equal(TimeSpan.FromMilliseconds(2), scheduler.Slice);
    }

    [Fact]
    public void Slots_and_slice_come_from_the_node_configuration()
    {
        var options = NodeHost.ReadOptions(["run", "--RetailStreaming:Transforms:Slots=3", "--RetailStreaming:Transforms:Slice=00:00:00.010"], out _);
        options.Transforms.Validate();

        var scheduler = options.Transforms.CreateScheduler();
        Assert.Equal(3, scheduler.Slots);
        Assert.Equal(TimeSpan.FromMilliseconds(10), scheduler.Slice);
    }

    [Theory]
    [InlineData(-1, "00:00:00.002", "RetailStreaming:Transforms:Slots")]
    [InlineData(1, "00:00:00", "RetailStreaming:Transforms:Slice")]
    [InlineData(1, "00:00:11", "RetailStreaming:Transforms:Slice")]
    public void Out_of_range_settings_are_refused_naming_the_key(int slots, string slice, string key)
    {
        var section = new TransformsSection { Slots = slots, Slice = TimeSpan.Parse(slice, System.Globalization.CultureInfo.InvariantCulture) };

        var e = Assert.Throws<InvalidOperationException>(section.Validate);
        Assert.Contains(key, e.Message);
    }
}
