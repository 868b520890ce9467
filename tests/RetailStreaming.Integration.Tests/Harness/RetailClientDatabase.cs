using System.Globalization;
using Microsoft.Data.Sqlite;
using RetailStreaming.Connectors.Sqlite;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>One row change the test wrote: what the capture must report at the next sequence.</summary>
/// <param name="Table">tickets or products.</param>
/// <param name="Operation">insert or update.</param>
/// <param name="Key">ticket_id or sku.</param>
public sealed record WrittenChange(string Table, string Operation, string Key);

/// <summary>
/// A client's retail database (SQLite), shaped like the demo's: products (sku PK, name, price,
/// category) and tickets (ticket_id PK, store_id, sku, quantity, unit_price, sold_at). Every write
/// is a one-row statement, so that each is exactly one captured change.
/// </summary>
public sealed class RetailClientDatabase : IDisposable
{
    private readonly SqliteConnection _writer;

    private RetailClientDatabase(string path)
    {
        Path = path;
        _writer = Open(path);
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>The connection string a workflow definition names.</summary>
    public string ConnectionString => $"Data Source={Path}";

    /// <summary>Creates the file and the schema.</summary>
    public static RetailClientDatabase Create(string path)
    {
        var db = new RetailClientDatabase(path);
        db.Execute(null, "PRAGMA journal_mode=WAL;");
        db.Execute(null, """
            CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL, category TEXT);
            CREATE TABLE tickets (ticket_id TEXT PRIMARY KEY, store_id TEXT NOT NULL, sku TEXT NOT NULL,
                quantity INTEGER NOT NULL, unit_price REAL NOT NULL, sold_at TEXT NOT NULL);
            """);
        return db;
    }

    /// <summary>Writes the changes <paramref name="write"/> makes in one transaction; returns them in order.</summary>
    /// <remarks>Not thread-safe: one writer at a time (the capture reads through its own connection).</remarks>
    public IReadOnlyList<WrittenChange> Write(Action<Writer> write)
    {
        using var tx = _writer.BeginTransaction();
        var writer = new Writer(this, tx);
        write(writer);
        tx.Commit();
        return writer.Changes;
    }

    /// <summary>The highest change sequence of the workflow's change table (0 when none), kept by AUTOINCREMENT even after pruning.</summary>
    public long LastChangeSequence(string workflowId)
    {
        using var connection = Open(Path);
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT seq FROM sqlite_sequence WHERE name = $name";
        cmd.Parameters.AddWithValue("$name", SqliteChangeTableSource.ChangeTableNameFor(workflowId));
        return cmd.ExecuteScalar() is long seq ? seq : 0;
    }

    /// <summary>
    /// True once the workflow's capture is installed: its change table exists. The capture creates
    /// it, the triggers and the snapshot in one transaction, so from then on every write is a
    /// trigger-recorded change with a sequence above the snapshot's.
    /// </summary>
    public bool CaptureInstalled(string workflowId)
    {
        using var connection = Open(Path);
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $name";
        cmd.Parameters.AddWithValue("$name", SqliteChangeTableSource.ChangeTableNameFor(workflowId));
        return (long)cmd.ExecuteScalar()! > 0;
    }

    /// <inheritdoc />
    public void Dispose() => _writer.Dispose();

    private static SqliteConnection Open(string path)
    {
        // Pooling off: the test deletes the file afterwards, and the capture's snapshot holds the
        // write lock for a moment (writers wait up to the busy timeout).
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            DefaultTimeout = 30,
            Pooling = false,
        }.ToString());
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA busy_timeout=20000;";
        cmd.ExecuteNonQuery();
        return connection;
    }

    private int Execute(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        return cmd.ExecuteNonQuery();
    }

    /// <summary>The one-row statements of one transaction.</summary>
    public sealed class Writer
    {
        private readonly RetailClientDatabase _db;
        private readonly SqliteTransaction _tx;

        internal Writer(RetailClientDatabase db, SqliteTransaction tx)
        {
            _db = db;
            _tx = tx;
        }

        /// <summary>The changes written so far in this transaction, in order.</summary>
        public List<WrittenChange> Changes { get; } = [];

        /// <summary>Inserts a product.</summary>
        public void InsertProduct(string sku, string name, double price, string category) =>
            One("products", "insert", sku, "INSERT INTO products VALUES ($sku, $name, $price, $category)",
                ("$sku", sku), ("$name", name), ("$price", price), ("$category", category));

        /// <summary>Changes a product's price.</summary>
        public void UpdateProductPrice(string sku, double price) =>
            One("products", "update", sku, "UPDATE products SET price = $price WHERE sku = $sku", ("$sku", sku), ("$price", price));

        /// <summary>Inserts a ticket.</summary>
        public void InsertTicket(string ticketId, string storeId, string sku, long quantity, double unitPrice) =>
            One("tickets", "insert", ticketId, "INSERT INTO tickets VALUES ($id, $store, $sku, $qty, $price, $at)",
                ("$id", ticketId), ("$store", storeId), ("$sku", sku), ("$qty", quantity), ("$price", unitPrice),
                ("$at", DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)));

        /// <summary>Changes a ticket's quantity.</summary>
        public void UpdateTicketQuantity(string ticketId, long quantity) =>
            One("tickets", "update", ticketId, "UPDATE tickets SET quantity = $qty WHERE ticket_id = $id", ("$id", ticketId), ("$qty", quantity));

        private void One(string table, string operation, string key, string sql, params (string, object)[] parameters)
        {
            var affected = _db.Execute(_tx, sql, parameters);
            if (affected != 1)
                throw new InvalidOperationException($"{operation} of {table} '{key}' changed {affected} rows instead of 1; the test's count of changes would be wrong.");
            Changes.Add(new WrittenChange(table, operation, key));
        }
    }
}
