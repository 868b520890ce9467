using System.Diagnostics;

namespace RetailStreaming.Node.Demo;

/// <summary>
/// Keeps writing to the demo database: new tickets (70%), product price changes (20%) and
/// catalog listing changes (10%), each a one-row statement, so that every statement is exactly
/// one captured change. Counts what it committed.
/// </summary>
public sealed class DemoGenerator(string databasePath, int changesPerSecond)
{
    private long _written;
    private long _ticketSequence;

    /// <summary>Changes committed so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Writes until cancelled, at the configured rate, in small transactions every 20 ms.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => Task.Factory.StartNew(() =>
    {
        using var connection = RetailDemoDatabase.Open(databasePath);
        _ticketSequence = CurrentTicketCount(connection);
        var random = new Random();
        var clock = Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * changesPerSecond) - Written;
            if (due <= 0)
            {
                Thread.Sleep(5);
                continue;
            }
            var n = (int)Math.Min(due, Math.Max(1, changesPerSecond / 10));
            using var tx = connection.BeginTransaction();
            for (var i = 0; i < n; i++)
                WriteOne(connection, tx, random);
            tx.Commit();
            Interlocked.Add(ref _written, n);
        }
    }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void WriteOne(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction tx, Random random)
    {
        var roll = random.Next(100);
        int affected;
        if (roll < 70)
        {
            var id = ++_ticketSequence;
            affected = RetailDemoDatabase.Execute(connection, tx,
                "INSERT INTO tickets VALUES ($id, $store, $sku, $qty, (SELECT price FROM products WHERE sku = $sku), $at)",
                ("$id", $"T{id:D9}"), ("$store", RetailDemoDatabase.StoreId(random.Next(1, RetailDemoDatabase.Stores + 1))),
                ("$sku", RetailDemoDatabase.Sku(random.Next(1, RetailDemoDatabase.Products + 1))),
                ("$qty", random.Next(1, 6)), ("$at", RetailDemoDatabase.Now()));
        }
        else if (roll < 90)
        {
            affected = RetailDemoDatabase.Execute(connection, tx,
                "UPDATE products SET price = round(price * $factor, 2) WHERE sku = $sku",
                ("$sku", RetailDemoDatabase.Sku(random.Next(1, RetailDemoDatabase.Products + 1))),
                ("$factor", 0.95 + random.NextDouble() * 0.1));
        }
        else
        {
            affected = RetailDemoDatabase.Execute(connection, tx,
                "UPDATE catalog SET listed = 1 - listed WHERE store_id = $store AND sku = $sku",
                ("$store", RetailDemoDatabase.StoreId(random.Next(1, RetailDemoDatabase.Stores + 1))),
                ("$sku", RetailDemoDatabase.Sku(random.Next(1, 51))));
        }
        if (affected != 1)
            throw new InvalidOperationException($"A demo write changed {affected} rows instead of 1; the demo's count would be wrong.");
    }

    private static long CurrentTicketCount(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM tickets";
        return (long)cmd.ExecuteScalar()!;
    }
}
