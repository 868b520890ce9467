using static RetailStreaming.Definitions.Tests.Definitions;

namespace RetailStreaming.Definitions.Tests;

public class WorkflowDefinitionReaderTests
{
    [Fact]
    public void Reads_every_field_of_a_full_definition()
    {
        var path = SamplePath("example-workflow.yaml");

        var definition = WorkflowDefinitionReader.ReadFile(path);

        Assert.Equal("demo-retail", definition.Id);
        Assert.Equal("acme", definition.Client);
        Assert.Equal("sqlite", definition.Source.Kind);
        Assert.Equal("Data Source=/data/retail.db", definition.Source.Connection);
        Assert.Null(definition.Source.ConnectionRef);
        Assert.Equal(["tickets", "products", "catalog"], definition.Source.Tables);
        Assert.Equal(250, definition.Source.BatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), definition.Source.PollInterval);
        Assert.Equal("RetailStreaming.Samples.Retail", definition.Transform.Package);
        Assert.Equal("1.0.0", definition.Transform.Version);
        Assert.Equal("RetailStreaming.Samples.Retail.RetailTransform", definition.Transform.Type);
        Assert.Equal(TimeSpan.FromSeconds(2), definition.Transform.TimeBudget);
        Assert.Equal(new Dictionary<string, string> { ["currency"] = "EUR", ["storeCount"] = "12" }, definition.Transform.Settings);
        Assert.Equal("webhook", definition.Delivery.Kind);
        Assert.Equal("http://127.0.0.1:5080/hooks", definition.Delivery.Url);
        Assert.Equal("env:DEMO_WEBHOOK_SECRET", definition.Delivery.SecretRef);
        Assert.Equal(TimeSpan.FromSeconds(10), definition.Delivery.Timeout);
        Assert.Equal(new BatchingDefinition(50, TimeSpan.FromMilliseconds(250)), definition.Delivery.Batching);
        Assert.Equal(new RetryDefinition(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(2), 8), definition.Delivery.Retry);
        Assert.Equal(System.IO.File.ReadAllText(path), definition.Text);
    }

    [Fact]
    public void A_minimal_definition_gets_the_documented_defaults()
    {
        var definition = WorkflowDefinitionReader.ReadFile(SamplePath("minimal-workflow.yaml"));

        Assert.Equal("postgres", definition.Source.Kind);
        Assert.Null(definition.Source.Connection);
        Assert.Equal("file:/run/secrets/orders-db", definition.Source.ConnectionRef);
        Assert.Equal(["public.orders"], definition.Source.Tables);
        Assert.Equal(500, definition.Source.BatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(200), definition.Source.PollInterval);
        Assert.Equal("2.1.0-beta.3", definition.Transform.Version);
        Assert.Equal(TimeSpan.FromSeconds(5), definition.Transform.TimeBudget);
        Assert.Empty(definition.Transform.Settings);
        Assert.Equal(TimeSpan.FromSeconds(30), definition.Delivery.Timeout);
        Assert.Equal(new BatchingDefinition(100, TimeSpan.FromMilliseconds(200)), definition.Delivery.Batching);
        Assert.Equal(new RetryDefinition(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(60), 0), definition.Delivery.Retry);
    }

    [Fact]
    public async Task ReadFileAsync_reads_the_same_definition()
    {
        var path = SamplePath("example-workflow.yaml");

        Assert.Equal(WorkflowDefinitionReader.ReadFile(path).Text, (await WorkflowDefinitionReader.ReadFileAsync(path)).Text);
    }

    [Fact]
    public void Text_keeps_the_original_yaml_including_comments()
    {
        var yaml = "# owned by team retail\n" + Valid;

        Assert.Equal(yaml, WorkflowDefinitionReader.Parse(yaml).Text);
    }

    [Fact]
    public void An_explicit_document_start_marker_is_one_document()
    {
        Assert.Equal("demo-retail", WorkflowDefinitionReader.Parse("---\n" + Valid + "...\n").Id);
    }

    [Fact]
    public void Anchors_and_aliases_are_resolved()
    {
        var yaml = With("  tables: [tickets, products, catalog]", "  tables: [&main tickets, products]")
            .Replace("  secretRef: env:DEMO_WEBHOOK_SECRET", "  secretRef: env:DEMO_WEBHOOK_SECRET\n  timeout: &t 12s\n  batching: { maxWait: *t }");

        var definition = WorkflowDefinitionReader.Parse(yaml);

        Assert.Equal(TimeSpan.FromSeconds(12), definition.Delivery.Batching.MaxWait);
    }

    [Fact]
    public void TryParse_returns_the_definition_or_the_errors()
    {
        Assert.True(WorkflowDefinitionReader.TryParse(Valid, FileName, out var definition, out var none));
        Assert.NotNull(definition);
        Assert.Empty(none);

        Assert.False(WorkflowDefinitionReader.TryParse(With("id: demo-retail", "id: X"), FileName, out var invalid, out var errors));
        Assert.Null(invalid);
        Assert.Equal("id", Assert.Single(errors).Field);
    }

    [Fact]
    public void Validate_returns_no_errors_for_a_valid_definition()
    {
        Assert.Empty(WorkflowDefinitionReader.Validate(Valid, FileName));
    }

    [Fact]
    public void Errors_read_like_compiler_messages_and_the_exception_lists_them()
    {
        var exception = Assert.Throws<InvalidDefinitionException>(() =>
            WorkflowDefinitionReader.Parse(With("  tables: [tickets, products, catalog]", "  tables: [tickets, products, catalog]\n  batchSize: 0"), FileName));

        var error = Assert.Single(exception.Errors);
        Assert.Equal("workflow.yaml:7:14: source.batchSize: must be from 1 to 10000; found 0", error.ToString());
        Assert.Contains(error.ToString(), exception.Message);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1.5s", 1500)]
    [InlineData("1.1s", 1100)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("0.5ms", 0.5)]
    public void Durations_take_a_number_and_a_unit(string text, double milliseconds)
    {
        var definition = WorkflowDefinitionReader.Parse(With("  tables: [tickets, products, catalog]", $"  tables: [tickets]\n  pollInterval: {text}"));

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), definition.Source.PollInterval);
    }

    [Theory]
    [InlineData("1s", 1_000)]
    [InlineData("30s", 30_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("off", 0)]
    public void A_postgres_source_takes_a_heartbeat_interval(string text, double milliseconds)
    {
        var definition = WorkflowDefinitionReader.Parse(With("  kind: sqlite", "  kind: postgres")
            .Replace("  tables: [tickets, products, catalog]", $"  tables: [tickets]\n  heartbeatInterval: {text}"));

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), definition.Source.HeartbeatInterval);
    }

    [Fact]
    public void Without_a_heartbeat_interval_the_connector_default_applies()
    {
        Assert.Null(WorkflowDefinitionReader.Parse(With("  kind: sqlite", "  kind: postgres")).Source.HeartbeatInterval);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("a-1")]
    [InlineData("retail-2024-eu")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    public void Ids_follow_the_name_rule(string id)
    {
        Assert.Equal(id, WorkflowDefinitionReader.Parse(With("id: demo-retail", $"id: {id}")).Id);
    }

    [Theory]
    [InlineData("1.2.3")]
    [InlineData("0.0.1")]
    [InlineData("10.20.30-rc.1")]
    [InlineData("1.0.0-alpha-2.x")]
    public void Versions_are_semantic_versions(string version)
    {
        Assert.Equal(version, WorkflowDefinitionReader.Parse(With("version: 1.0.0", $"version: {version}")).Transform.Version);
    }

    [Theory]
    [InlineData("env:RETAIL_DB")]
    [InlineData("env:_x1")]
    [InlineData("file:/run/secrets/retail-db")]
    public void Connection_references_are_env_or_file(string reference)
    {
        var yaml = With("  connection: \"Data Source=/data/retail.db\"", $"  connectionRef: {reference}");

        var source = WorkflowDefinitionReader.Parse(yaml).Source;

        Assert.Null(source.Connection);
        Assert.Equal(reference, source.ConnectionRef);
    }

    [Fact]
    public void Settings_values_are_text_whatever_their_yaml_type()
    {
        var yaml = With("  type: RetailStreaming.Samples.Retail.RetailTransform",
            "  type: RetailStreaming.Samples.Retail.RetailTransform\n  settings:\n    rate: 1.5\n    enabled: true\n    label: \"\"\n    note:");

        var settings = WorkflowDefinitionReader.Parse(yaml).Transform.Settings;

        Assert.Equal(new Dictionary<string, string> { ["rate"] = "1.5", ["enabled"] = "true", ["label"] = "", ["note"] = "" }, settings);
    }
}
