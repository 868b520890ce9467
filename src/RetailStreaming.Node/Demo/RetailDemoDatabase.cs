using System.Globalization;
using Microsoft.Data.Sqlite;

namespace RetailStreaming.Node.Demo;

/// <summary>The demo's retail database: stores, products, a per-store catalog and sales tickets (SQLite).</summary>
public static class RetailDemoDatabase
{
    /// <summary>Stores in the seed data.</summary>
    public const int Stores = 10;

    /// <summary>Products in the seed data.</summary>
    public const int Products = 200;

    /// <summary>Creates the schema and seed rows unless the database already has them.</summary>
    public static void EnsureCreated(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var connection = Open(path);
        using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL;";
            pragma.ExecuteNonQuery();
        }
        using var tx = connection.BeginTransaction();
        Execute(connection, tx, """
            CREATE TABLE IF NOT EXISTS stores (store_id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL, category TEXT);
            CREATE TABLE IF NOT EXISTS catalog (store_id TEXT NOT NULL, sku TEXT NOT NULL, listed INTEGER NOT NULL, PRIMARY KEY (store_id, sku));
            CREATE TABLE IF NOT EXISTS tickets (ticket_id TEXT PRIMARY KEY, store_id TEXT NOT NULL, sku TEXT NOT NULL,
                quantity INTEGER NOT NULL, unit_price REAL NOT NULL, sold_at TEXT NOT NULL);
            """);
        using (var count = connection.CreateCommand())
        {
            count.Transaction = tx;
            count.CommandText = "SELECT count(*) FROM stores";
            if ((long)count.ExecuteScalar()! > 0)
            {
                tx.Commit();
                return;
            }
        }

        string[] cities = ["Lyon", "Lille", "Nantes", "Bordeaux", "Paris", "Nice", "Rennes", "Dijon", "Metz", "Brest"];
        string[] categories = ["grocery", "bakery", "dairy", "drinks", "household"];
        for (var s = 1; s <= Stores; s++)
            Execute(connection, tx, "INSERT INTO stores VALUES ($id, $name, $city)",
                ("$id", StoreId(s)), ("$name", $"Store {s}"), ("$city", cities[(s - 1) % cities.Length]));
        var random = new Random(42);
        for (var p = 1; p <= Products; p++)
            Execute(connection, tx, "INSERT INTO products VALUES ($sku, $name, $price, $category)",
                ("$sku", Sku(p)), ("$name", $"Product {p}"), ("$price", Math.Round(0.5 + random.NextDouble() * 50, 2)),
                ("$category", categories[p % categories.Length]));
        for (var s = 1; s <= Stores; s++)
            for (var p = 1; p <= 50; p++)
                Execute(connection, tx, "INSERT INTO catalog VALUES ($store, $sku, 1)", ("$store", StoreId(s)), ("$sku", Sku(p)));
        tx.Commit();
    }

    /// <summary>Opens a connection that waits for the capture's locks instead of failing.</summary>
    public static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30 }.ToString());
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA busy_timeout=10000;";
        cmd.ExecuteNonQuery();
        return connection;
    }

    /// <summary>A store id.</summary>
    public static string StoreId(int n) => $"S{n:D3}";

    /// <summary>A product SKU.</summary>
    public static string Sku(int n) => $"SKU-{n:D5}";

    internal static int Execute(SqliteConnection connection, SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
            cmd.Parameters.AddWithValue(name, value is double d ? d : value);
        return cmd.ExecuteNonQuery();
    }

    internal static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
