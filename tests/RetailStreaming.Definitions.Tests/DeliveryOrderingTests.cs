namespace RetailStreaming.Definitions.Tests;

/// <summary><c>delivery.parallelism</c> and <c>delivery.onRefused</c>: defaults, values and errors.</summary>
public class DeliveryOrderingTests
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
          kind: webhook
          url: http://127.0.0.1/hooks
          secretRef: env:S

        """;

    // The fields below start at line 15.
    private static IReadOnlyList<string> Errors(string fields)
    {
        var exception = Assert.Throws<InvalidDefinitionException>(() => WorkflowDefinitionReader.Parse(Head + fields, "workflow.yaml"));
        return exception.Errors.Select(e => e.ToString()).ToList();
    }

    [Fact]
    public void One_lane_and_dead_letters_by_default_and_the_values_as_written()
    {
        var plain = WorkflowDefinitionReader.Parse(Head, "workflow.yaml").Delivery;
        Assert.Equal((1, "deadletter"), (plain.Parallelism, plain.OnRefused));

        var set = WorkflowDefinitionReader.Parse(Head + "  parallelism: 64\n  onRefused: park\n", "workflow.yaml").Delivery;
        Assert.Equal((64, "park"), (set.Parallelism, set.OnRefused));
    }

    [Fact]
    public void Parallelism_outside_1_to_64_and_an_unknown_policy_are_errors_with_their_place()
    {
        Assert.Equal(
            [
                "workflow.yaml:15:16: delivery.parallelism: must be from 1 to 64; found 65",
                "workflow.yaml:16:14: delivery.onRefused: unknown onRefused policy 'retry'; accepted: deadletter, park",
            ],
            Errors("  parallelism: 65\n  onRefused: retry\n"));
        Assert.Equal(
            ["workflow.yaml:15:16: delivery.parallelism: must be from 1 to 64; found 0"],
            Errors("  parallelism: 0\n"));
        Assert.Equal(
            ["workflow.yaml:15:16: delivery.parallelism: expected an integer from 1 to 64, found 'many'"],
            Errors("  parallelism: many\n"));
    }

    [Fact]
    public void They_apply_to_webhooks_only()
    {
        var table = Head.Replace("  kind: webhook\n  url: http://127.0.0.1/hooks\n  secretRef: env:S\n", "  kind: table\n  connectionRef: env:DB\n  table: sales\n");
        var exception = Assert.Throws<InvalidDefinitionException>(() =>
            WorkflowDefinitionReader.Parse(table + "  parallelism: 4\n  onRefused: park\n", "workflow.yaml"));
        Assert.Equal(
            [
                "workflow.yaml:15:3: delivery.parallelism: does not apply to delivery kind 'table' (only to webhook)",
                "workflow.yaml:16:3: delivery.onRefused: does not apply to delivery kind 'table' (only to webhook)",
            ],
            exception.Errors.Select(e => e.ToString()));
    }
}
