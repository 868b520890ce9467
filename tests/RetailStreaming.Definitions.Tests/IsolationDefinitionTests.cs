using static RetailStreaming.Definitions.Tests.Definitions;

namespace RetailStreaming.Definitions.Tests;

/// <summary><c>transform.isolation</c> and <c>transform.limits</c>: read when valid, refused with file:line:col otherwise.</summary>
public class IsolationDefinitionTests
{
    private const string TypeLine = "  type: RetailStreaming.Samples.Retail.RetailTransform";

    private static string WithLines(string lines) => With(TypeLine, TypeLine + "\n" + lines);

    [Fact]
    public void Runs_in_process_with_default_limits_unless_set()
    {
        var transform = WorkflowDefinitionReader.Parse(Valid, FileName).Transform;
        Assert.Equal(TransformDefinition.InProcess, transform.Isolation);
        Assert.Equal(new TransformLimitsDefinition(512, null), transform.Limits);
    }

    [Fact]
    public void Reads_process_isolation_and_its_limits()
    {
        var transform = WorkflowDefinitionReader.Parse(
            WithLines("  isolation: process\n  limits: { memoryMb: 256, cpuSeconds: 600 }"), FileName).Transform;
        Assert.Equal(TransformDefinition.Process, transform.Isolation);
        Assert.Equal(new TransformLimitsDefinition(256, 600), transform.Limits);

        var defaulted = WorkflowDefinitionReader.Parse(WithLines("  isolation: process"), FileName).Transform;
        Assert.Equal(TransformLimitsDefinition.Default, defaulted.Limits);
    }

    [Theory]
    [InlineData("  isolation: container", 11, 14, "transform.isolation", "unknown transform isolation 'container'; accepted: inprocess, process")]
    [InlineData("  isolation: [process]", 11, 14, "transform.isolation", "expected a string")]
    [InlineData("  isolation: process\n  limits: { memoryMb: 10 }", 12, 23, "transform.limits.memoryMb", "must be from 64 to 65536; found 10")]
    [InlineData("  isolation: process\n  limits: { cpuSeconds: 0 }", 12, 25, "transform.limits.cpuSeconds", "must be from 1 to 86400; found 0")]
    [InlineData("  isolation: process\n  limits: { memory: 100 }", 12, 13, "transform.limits.memory", "did you mean 'memoryMb'?")]
    [InlineData("  isolation: process\n  limits: 512", 12, 11, "transform.limits", "expected a mapping with memoryMb, cpuSeconds")]
    [InlineData("  limits: { memoryMb: 256 }", 11, 11, "transform.limits", "applies only with 'isolation: process'")]
    [InlineData("  isolation: inprocess\n  limits: { memoryMb: 256 }", 12, 11, "transform.limits", "applies only with 'isolation: process'")]
    public void A_bad_isolation_is_refused_with_its_position(string lines, int line, int column, string field, string message)
    {
        var errors = Errors(WithLines(lines));

        var error = errors.First(e => e.Field == field);
        Assert.Contains(message, error.Message);
        Assert.Equal((line, column), (error.Line, error.Column));
    }
}
