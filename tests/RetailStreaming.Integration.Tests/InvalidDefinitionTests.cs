using System.Net;
using System.Text.RegularExpressions;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>Invalid definition files posted to the admin API: rejected with file, line and field; nothing applied.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed partial class InvalidDefinitionTests(SharedNodeFixture fixture, ITestOutputHelper output)
{
    [Theory]
    [InlineData("missing-field")]
    [InlineData("wrong-type")]
    [InlineData("unknown-source-kind")]
    [InlineData("bad-yaml")]
    public async Task An_invalid_definition_is_rejected_with_400_naming_file_line_and_field_and_nothing_is_applied(string problem)
    {
        var workflowId = $"it-invalid-{problem}";
        var file = $"{problem}.yaml";
        var valid = Valid(workflowId);
        // The file, and the line and field its error must name.
        var (yaml, line, field) = problem switch
        {
            // A missing field is reported at its section's key.
            "missing-field" => (valid.Replace("  url: \"http://127.0.0.1:9/hooks\"\n", ""), LineOf(valid, "delivery:"), "delivery.url"),
            "wrong-type" => (valid.Replace("batchSize: 200", "batchSize: lots"), LineOf(valid, "batchSize:"), "source.batchSize"),
            "unknown-source-kind" => (valid.Replace("kind: sqlite", "kind: oracle"), LineOf(valid, "kind: sqlite"), "source.kind"),
            // A mapping value inside a plain scalar: the scanner stops at that line; a syntax error has no field but "<yaml>".
            "bad-yaml" => (valid.Replace("  batchSize: 200", "  batchSize: 200: 300"), LineOf(valid, "batchSize:"), "<yaml>"),
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };
        Assert.NotEqual(valid, yaml);

        var node = fixture.Node;
        var (status, body) = await node.ApplyWorkflowAsync(yaml, file);
        output.WriteLine($"{(int)status} {body}");
        Assert.True(status == HttpStatusCode.BadRequest, $"expected 400, got {(int)status}: {body}");
        var errors = body.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.NotEmpty(errors);

        var parsed = errors.Select(e => ErrorLine().Match(e)).ToList();
        Assert.True(parsed.All(m => m.Success), $"every error reads 'file:line:col: field: message'; got:\n  {string.Join("\n  ", errors)}");
        Assert.All(parsed, m => Assert.Equal(file, m.Groups["file"].Value));
        Assert.True(parsed.Any(m => int.Parse(m.Groups["line"].Value) == line && m.Groups["field"].Value == field),
            $"expected an error at line {line} for field {field}; got:\n  {string.Join("\n  ", errors)}");

        // Nothing applied: the workflow is neither listed nor known.
        var list = await node.GetJsonAsync("/api/workflows");
        Assert.DoesNotContain(list.EnumerateArray(), w => w.GetProperty("workflowId").GetString() == workflowId);
        using var one = await node.Admin.GetAsync($"/api/workflows/{workflowId}");
        Assert.Equal(HttpStatusCode.NotFound, one.StatusCode);
    }

    private static string Valid(string workflowId) => $"""
        id: {workflowId}
        client: it-client
        source:
          kind: sqlite
          connection: "Data Source=/nonexistent/never-used.db"
          tables: [products, tickets]
          batchSize: 200
        transform:
          package: RetailStreaming.Samples.Retail
          version: 1.0.0
          type: RetailStreaming.Samples.Retail.RetailTransform
        delivery:
          kind: webhook
          url: "http://127.0.0.1:9/hooks"
          secretRef: env:RS_IT_WEBHOOK_SECRET

        """;

    private static int LineOf(string text, string fragment) =>
        text.Split('\n').Select((l, i) => (l, i)).First(x => x.l.Contains(fragment, StringComparison.Ordinal)).i + 1;

    [GeneratedRegex(@"^(?<file>[^:]+):(?<line>\d+):(?<col>\d+): (?<field>[^:]+): (?<message>.+)$", RegexOptions.Singleline)]
    private static partial Regex ErrorLine();
}
