using Microsoft.Data.Sqlite;

namespace RetailStreaming.NodeTestSupport;

/// <summary>A client's SQLite database with a <c>products</c> table (primary key sku), and workflow files over it.</summary>
public static class RetailSource
{
    /// <summary>Creates the database with products sku-1..sku-<paramref name="rows"/>; returns its path.</summary>
    public static string CreateDatabase(string directory, string name, int rows = 2)
    {
        var path = Path.Combine(directory, name + ".db");
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL, category TEXT);";
        cmd.ExecuteNonQuery();
        Insert(path, 1, rows);
        return path;
    }

    /// <summary>Inserts products sku-<paramref name="from"/>..sku-<paramref name="to"/>.</summary>
    public static void Insert(string path, int from, int to)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var cmd = connection.CreateCommand();
        for (var i = from; i <= to; i++)
        {
            cmd.CommandText = $"INSERT INTO products (sku, name, price, category) VALUES ('sku-{i}', 'Product {i}', {i}.5, 'tests');";
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>A valid definition: capture products, the sample transform, a signed webhook.</summary>
    public static string Definition(string id, string client, string database, string url, string secretVariable, string maxWait = "50ms") =>
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
            maxWait: {maxWait}

        """;
}
