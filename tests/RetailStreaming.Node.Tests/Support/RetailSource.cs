using Microsoft.Data.Sqlite;

namespace RetailStreaming.Node.Tests.Support;

/// <summary>A client's SQLite database with a <c>products</c> table (primary key sku), and workflow files over it.</summary>
internal static class RetailSource
{
    /// <summary>Creates the database with <paramref name="rows"/> products; returns its path.</summary>
    public static string CreateDatabase(string directory, string name, int rows = 2)
    {
        var path = Path.Combine(directory, name + ".db");
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL, category TEXT);";
        cmd.ExecuteNonQuery();
        for (var i = 1; i <= rows; i++)
        {
            cmd.CommandText = $"INSERT INTO products (sku, name, price, category) VALUES ('sku-{i}', 'Product {i}', {i}.5, 'tests');";
            cmd.ExecuteNonQuery();
        }
        return path;
    }

    /// <summary>A valid definition: capture products, the sample transform, a signed webhook.</summary>
    public static string Definition(string id, string client, string database, string url, string secretVariable) =>
        $"""
        id: {id}
        client: {client}
        source:
          kind: sqlite
          connection: "Data Source={database}"
          tables: [products]
          pollInterval: 100ms
        transform:
          package: RetailStreaming.Samples.Retail
          version: 1.0.0
          type: RetailStreaming.Samples.Retail.RetailTransform
          settings:
            currency: EUR
        delivery:
          kind: webhook
          url: {url}
          secretRef: env:{secretVariable}
          timeout: 5s
          batching:
            maxWait: 50ms

        """;
}
