using static RetailStreaming.Definitions.Tests.Definitions;

namespace RetailStreaming.Definitions.Tests;

/// <summary><c>transform.autoRollback</c>: read when valid, refused with file:line:col otherwise.</summary>
public class AutoRollbackDefinitionTests
{
    private const string TypeLine = "  type: RetailStreaming.Samples.Retail.RetailTransform";

    private static string WithRule(string rule) => With(TypeLine, TypeLine + "\n  autoRollback: " + rule);

    [Fact]
    public void Is_off_unless_set()
    {
        Assert.Null(WorkflowDefinitionReader.Parse(Valid, FileName).Transform.AutoRollback);
    }

    [Fact]
    public void Reads_the_rule_and_defaults_minRecords_to_20()
    {
        var rule = WorkflowDefinitionReader.Parse(WithRule("{ errorRate: 0.5, window: 10m, minRecords: 40 }"), FileName).Transform.AutoRollback;
        Assert.Equal(new AutoRollbackDefinition(0.5, TimeSpan.FromMinutes(10), 40), rule);

        var defaulted = WorkflowDefinitionReader.Parse(WithRule("{ errorRate: 1, window: 30s }"), FileName).Transform.AutoRollback;
        Assert.Equal(new AutoRollbackDefinition(1, TimeSpan.FromSeconds(30), 20), defaulted);
    }

    [Theory]
    [InlineData("{ errorRate: 1.5, window: 10m }", 11, 30, "transform.autoRollback.errorRate", "must be above 0 and at most 1; found 1.5")]
    [InlineData("{ errorRate: 0, window: 10m }", 11, 30, "transform.autoRollback.errorRate", "must be above 0 and at most 1; found 0")]
    [InlineData("{ errorRate: half, window: 10m }", 11, 30, "transform.autoRollback.errorRate", "expected a number above 0 and at most 1")]
    [InlineData("{ window: 10m }", 11, 3, "transform.autoRollback.errorRate", "is required")]
    [InlineData("{ errorRate: 0.5 }", 11, 3, "transform.autoRollback.window", "is required")]
    [InlineData("{ errorRate: 0.5, window: 8d }", 11, 43, "transform.autoRollback.window", "malformed duration")]
    [InlineData("{ errorRate: 0.5, window: 200h }", 11, 43, "transform.autoRollback.window", "must be from 1s to 7 days")]
    [InlineData("{ errorRate: 0.5, window: 10m, minRecords: 0 }", 11, 60, "transform.autoRollback.minRecords", "must be from 1 to 1000000")]
    [InlineData("{ errorRate: 0.5, windw: 10m }", 11, 35, "transform.autoRollback.windw", "did you mean 'window'?")]
    [InlineData("yes", 11, 17, "transform.autoRollback", "expected a mapping with errorRate, window, minRecords")]
    public void A_bad_rule_is_refused_with_its_position(string rule, int line, int column, string field, string message)
    {
        var errors = Errors(WithRule(rule));

        var error = errors.First(e => e.Field == field);
        Assert.Contains(message, error.Message);
        Assert.Equal((line, column), (error.Line, error.Column));
    }
}
