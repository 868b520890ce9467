namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>Workflow definition files for the tests.</summary>
public static class WorkflowFile
{
    /// <summary>The client every test workflow belongs to.</summary>
    public const string ClientId = "it-client";

    /// <summary>
    /// The sample retail transform over a SQLite client database's products and tickets, delivered
    /// to a signed webhook whose secret the node reads from <paramref name="secretVariable"/>.
    /// Short poll and batch waits, and endless retries with short backoffs: the tests wait for
    /// every change, bounded by their own timeouts.
    /// </summary>
    public static string Retail(string workflowId, RetailClientDatabase database, string receiverUrl, string secretVariable) => $"""
        # Integration test workflow {workflowId}.
        id: {workflowId}
        client: {ClientId}
        source:
          kind: sqlite
          connection: "{database.ConnectionString}"
          tables: [products, tickets]
          batchSize: 200
          pollInterval: 50ms
        transform:
          package: RetailStreaming.Samples.Retail
          version: 1.0.0
          type: RetailStreaming.Samples.Retail.RetailTransform
          timeBudget: 5s
          settings:
            currency: EUR
            vatRate: "0.20"
        delivery:
          kind: webhook
          url: "{receiverUrl}"
          secretRef: env:{secretVariable}
          timeout: 10s
          batching:
            maxRecords: 100
            maxWait: 50ms
          retry:
            initialBackoff: 100ms
            maxBackoff: 2s
            maxAttempts: 0
        """;
}
