using static RetailStreaming.Definitions.Tests.Definitions;

namespace RetailStreaming.Definitions.Tests;

/// <summary>The optional <c>health:</c> section: the workflow's own lag and stall thresholds.</summary>
public class HealthDefinitionTests
{
    [Fact]
    public void Without_a_health_section_the_node_defaults_apply() =>
        Assert.Null(WorkflowDefinitionReader.Parse(Valid, FileName).Health);

    [Fact]
    public void Both_thresholds_are_read_and_one_left_out_is_null()
    {
        var both = WorkflowDefinitionReader.Parse(Valid + "health: { lagThreshold: 2m, stallAfter: 10m }\n", FileName).Health;
        Assert.Equal(new HealthDefinition(TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(10)), both);

        var one = WorkflowDefinitionReader.Parse(Valid + "health:\n  stallAfter: 30s\n", FileName).Health;
        Assert.Equal(new HealthDefinition(null, TimeSpan.FromSeconds(30)), one);
    }

    [Theory]
    [InlineData("health: { stallAfter: 5s }", "health.stallAfter", 15, "must be from 10s")]
    [InlineData("health: { lagThreshold: 500ms }", "health.lagThreshold", 15, "must be from 1s")]
    [InlineData("health: { lagThreshold: soon }", "health.lagThreshold", 15, "soon")]
    [InlineData("health: { stalled: 5m }", "health.stalled", 15, "lagThreshold")]
    public void A_bad_threshold_is_rejected_with_file_line_and_field(string line, string field, int lineNumber, string message)
    {
        var error = SingleError(Valid + line + "\n");

        Assert.Equal((field, lineNumber), (error.Field, error.Line));
        Assert.True(error.Column > 1);
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"{FileName}:{lineNumber}:", error.ToString());
    }
}
