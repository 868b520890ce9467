namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>Workflow definition files capturing a PostgreSQL client database.</summary>
public static class PostgresWorkflowFile
{
    /// <summary>
    /// The sample retail transform over the retail tables of <paramref name="database"/>
    /// (<c>source.kind: postgres</c>), delivered to a signed webhook whose secret the node reads
    /// from <paramref name="secretVariable"/>; endless retries with short backoffs, as <see cref="WorkflowFile.Retail"/>.
    /// </summary>
    public static string Retail(string workflowId, PostgresRetailDatabase database, string receiverUrl, string secretVariable) => $"""
        # Integration test workflow {workflowId} (PostgreSQL logical replication).
        id: {workflowId}
        client: {WorkflowFile.ClientId}
        source:
          kind: postgres
          connection: "{database.ConnectionString}"
          tables: [{string.Join(", ", database.ConfiguredTables)}]
          batchSize: 500
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
            maxRecords: 200
            maxWait: 50ms
          retry:
            initialBackoff: 100ms
            maxBackoff: 2s
            maxAttempts: 0
        """;
}
