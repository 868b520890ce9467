namespace RetailStreaming.Definitions.Tests;

/// <summary>The delivery kinds table and file: their fields, defaults and errors.</summary>
public class DeliveryTargetTests
{
    private const string Head =
        """
        id: demo-retail
        client: acme
        source:
          kind: sqlite
          connection: "Data Source=/data/retail.db"
          tables: [tickets]
        transform:
          package: RetailStreaming.Samples.Retail
          version: 1.0.0
          type: RetailStreaming.Samples.Retail.RetailTransform
        delivery:

        """;

    // The delivery's fields start at line 12.
    private static string Yaml(string delivery) => Head + delivery;

    private static IReadOnlyList<string> Errors(string delivery)
    {
        var exception = Assert.Throws<InvalidDefinitionException>(() => WorkflowDefinitionReader.Parse(Yaml(delivery), "workflow.yaml"));
        return exception.Errors.Select(e => e.ToString()).ToList();
    }

    [Fact]
    public void A_table_delivery_reads_its_target_and_the_shared_settings()
    {
        var definition = WorkflowDefinitionReader.Parse(Yaml(
            """
              kind: table
              connectionRef: env:ACME_WAREHOUSE_DB
              table: analytics.sales
              timeout: 15s
              batching: { maxRecords: 500, maxWait: 1s }
              retry: { initialBackoff: 1s, maxBackoff: 30s, maxAttempts: 5 }
            """), "workflow.yaml");

        var delivery = definition.Delivery;
        Assert.Equal("table", delivery.Kind);
        Assert.Equal(new TableDeliveryDefinition(null, "env:ACME_WAREHOUSE_DB", "analytics.sales"), delivery.Table);
        Assert.Null(delivery.File);
        Assert.Equal(("", ""), (delivery.Url, delivery.SecretRef));
        Assert.Equal(TimeSpan.FromSeconds(15), delivery.Timeout);
        Assert.Equal(new BatchingDefinition(500, TimeSpan.FromSeconds(1)), delivery.Batching);
        Assert.Equal(new RetryDefinition(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 5), delivery.Retry);
    }

    [Fact]
    public void A_file_delivery_reads_its_directory_and_rolls_with_documented_defaults()
    {
        var full = WorkflowDefinitionReader.Parse(Yaml(
            """
              kind: file
              directory: /var/lib/retailstreaming/out/acme
              rollSize: 8MB
              rollInterval: 30s
            """), "workflow.yaml").Delivery;
        Assert.Equal(new FileDeliveryDefinition("/var/lib/retailstreaming/out/acme", 8L << 20, TimeSpan.FromSeconds(30)), full.File);
        Assert.Null(full.Table);

        var minimal = WorkflowDefinitionReader.Parse(Yaml("  kind: file\n  directory: /out\n"), "workflow.yaml").Delivery;
        Assert.Equal(new FileDeliveryDefinition("/out", 64L << 20, TimeSpan.FromMinutes(1)), minimal.File);
    }

    [Fact]
    public void A_table_delivery_needs_exactly_one_connection_without_password_and_a_plain_table_name()
    {
        Assert.Equal(
            [
                "workflow.yaml:11:1: delivery.connection: is required: set connection or connectionRef (exactly one) to the target PostgreSQL database",
                "workflow.yaml:11:1: delivery.table: is required: the target table, e.g. sales or analytics.sales",
            ],
            Errors("  kind: table\n"));

        var errors = Errors("  kind: table\n  connection: \"Host=db;Password=hunter2\"\n  table: Analytics.Sales\n");
        Assert.Equal(2, errors.Count);
        Assert.StartsWith("workflow.yaml:13:15: delivery.connection: the connection string holds a password", errors[0]);
        Assert.DoesNotContain("hunter2", string.Join("\n", errors));
        Assert.StartsWith("workflow.yaml:14:10: delivery.table: must be table or schema.table of lower-case letters", errors[1]);

        Assert.Equal(
            ["workflow.yaml:14:3: delivery.connectionRef: connection and connectionRef exclude each other: set exactly one"],
            Errors("  kind: table\n  connection: \"Host=db\"\n  connectionRef: env:DB\n  table: sales\n"));
    }

    [Fact]
    public void A_file_delivery_needs_an_absolute_directory_and_a_size_with_a_unit()
    {
        Assert.Equal(
            [
                "workflow.yaml:13:14: delivery.directory: must be an absolute path, e.g. /var/lib/retailstreaming/out; found 'out/acme'",
                "workflow.yaml:14:13: delivery.rollSize: malformed size '64 megabytes': expected an integer and a unit (B, KB, MB or GB; powers of 1024), e.g. 512KB, 64MB",
            ],
            Errors("  kind: file\n  directory: out/acme\n  rollSize: 64 megabytes\n"));
        Assert.Equal(
            ["workflow.yaml:14:13: delivery.rollSize: must be at least 1KB; found '100B'"],
            Errors("  kind: file\n  directory: /out\n  rollSize: 100B\n"));
    }

    [Fact]
    public void A_field_of_another_kind_is_an_error_rather_than_ignored()
    {
        Assert.Equal(
            [
                "workflow.yaml:13:3: delivery.url: does not apply to delivery kind 'table' (only to webhook)",
                "workflow.yaml:15:3: delivery.directory: does not apply to delivery kind 'table' (only to file)",
            ],
            Errors("  kind: table\n  url: http://127.0.0.1/hooks\n  connectionRef: env:DB\n  directory: /out\n  table: sales\n"));
        Assert.Equal(
            [
                "workflow.yaml:14:3: delivery.retry: does not apply to delivery kind 'file' (only to webhook and table)",
                "workflow.yaml:15:3: delivery.timeout: does not apply to delivery kind 'file' (only to webhook and table)",
            ],
            Errors("  kind: file\n  directory: /out\n  retry: { maxAttempts: 3 }\n  timeout: 5s\n"));
        Assert.Equal(
            ["workflow.yaml:15:3: delivery.table: does not apply to delivery kind 'webhook' (only to table)"],
            Errors("  kind: webhook\n  url: http://127.0.0.1/hooks\n  secretRef: env:S\n  table: sales\n"));
    }
}
