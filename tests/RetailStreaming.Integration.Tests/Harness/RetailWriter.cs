namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// A client application writing about 250 changes a second (transactions of 5 one-row statements
/// every 20 ms) until stopped: new tickets, quantity changes of a few hot tickets (so that keys
/// have many changes whose order matters) and product price changes.
/// </summary>
/// <param name="db">The client database.</param>
/// <param name="ticketPrefix">Ticket ids are this prefix and 6 digits.</param>
/// <param name="firstTicket">The number of the first new ticket; tickets 1..<paramref name="hotTickets"/> must exist.</param>
/// <param name="hotTickets">How many existing tickets get quantity changes.</param>
/// <param name="products">Products SKU-00001..SKU-n must exist.</param>
public sealed class RetailWriter(RetailClientDatabase db, string ticketPrefix, int firstTicket, int hotTickets, int products)
{
    private int _written;

    /// <summary>Changes committed so far.</summary>
    public int Written => Volatile.Read(ref _written);

    /// <summary>Writes until <paramref name="stop"/> is cancelled; the task fails when a write fails.</summary>
    public Task RunAsync(CancellationToken stop) => Task.Factory.StartNew(() =>
    {
        var random = new Random(4242);
        var next = firstTicket;
        while (!stop.IsCancellationRequested)
        {
            var changes = db.Write(w =>
            {
                for (var i = 0; i < 5; i++)
                {
                    var roll = random.Next(100);
                    if (roll < 40) w.InsertTicket($"{ticketPrefix}{next++:D6}", "S002", Sku(random.Next(1, products + 1)), random.Next(1, 6), 3.0);
                    else if (roll < 80) w.UpdateTicketQuantity($"{ticketPrefix}{random.Next(1, hotTickets + 1):D6}", random.Next(1, 9));
                    else w.UpdateProductPrice(Sku(random.Next(1, products + 1)), random.Next(1, 100));
                }
            });
            Interlocked.Add(ref _written, changes.Count);
            Thread.Sleep(20);
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>The SKU of product <paramref name="n"/>.</summary>
    public static string Sku(int n) => $"SKU-{n:D5}";
}
