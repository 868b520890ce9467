namespace RetailStreaming.Definitions.Tests;

/// <summary>A valid definition with known line numbers, and ways to break it.</summary>
internal static class Definitions
{
    public const string FileName = "workflow.yaml";

    // Line numbers matter: the error tests assert them.
    public const string Valid =
        """
        id: demo-retail
        client: acme
        source:
          kind: sqlite
          connection: "Data Source=/data/retail.db"
          tables: [tickets, products, catalog]
        transform:
          package: RetailStreaming.Samples.Retail
          version: 1.0.0
          type: RetailStreaming.Samples.Retail.RetailTransform
        delivery:
          kind: webhook
          url: http://127.0.0.1:5080/hooks
          secretRef: env:DEMO_WEBHOOK_SECRET

        """;

    /// <summary><see cref="Valid"/> with one exact piece of text replaced (which must be there).</summary>
    public static string With(string oldText, string newText)
    {
        Assert.Contains(oldText, Valid);
        return Valid.Replace(oldText, newText);
    }

    public static IReadOnlyList<DefinitionError> Errors(string yaml)
    {
        var exception = Assert.Throws<InvalidDefinitionException>(() => WorkflowDefinitionReader.Parse(yaml, FileName));
        Assert.NotEmpty(exception.Errors);
        Assert.All(exception.Errors, e => Assert.Equal(FileName, e.File));
        return exception.Errors;
    }

    public static DefinitionError SingleError(string yaml) => Assert.Single(Errors(yaml));

    public static string SamplePath(string name) => Path.Combine(AppContext.BaseDirectory, "Samples", name);
}
