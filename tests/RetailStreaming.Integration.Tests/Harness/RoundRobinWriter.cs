namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// A client application per database, paced together on one thread: every round writes one
/// transaction of two one-row changes (a new ticket, a quantity change of a hot ticket) in each
/// database in turn, so that many workflows stream at once without a thread and 250 changes/s each.
/// </summary>
/// <param name="databases">The client databases; tickets 1..<paramref name="hotTickets"/> (prefix <paramref name="ticketPrefix"/>) and products 1..<paramref name="products"/> must exist.</param>
/// <param name="ticketPrefix">Ticket ids are this prefix and 6 digits.</param>
/// <param name="firstTicket">The number of the first new ticket.</param>
/// <param name="hotTickets">How many existing tickets get quantity changes.</param>
/// <param name="products">How many products exist.</param>
/// <param name="round">The time between two rounds.</param>
public sealed class RoundRobinWriter(
    IReadOnlyList<RetailClientDatabase> databases, string ticketPrefix, int firstTicket, int hotTickets, int products, TimeSpan round)
{
    private readonly long[] _written = new long[databases.Count];

    /// <summary>Changes committed so far into database <paramref name="index"/>.</summary>
    public long Written(int index) => Interlocked.Read(ref _written[index]);

    /// <summary>Changes committed so far into all databases.</summary>
    public long Total => Enumerable.Range(0, databases.Count).Sum(Written);

    /// <summary>Writes until <paramref name="stop"/> is cancelled; the task fails when a write fails.</summary>
    public Task RunAsync(CancellationToken stop) => Task.Factory.StartNew(() =>
    {
        var random = new Random(2026);
        var next = firstTicket;
        while (!stop.IsCancellationRequested)
        {
            var started = DateTime.UtcNow;
            for (var i = 0; i < databases.Count && !stop.IsCancellationRequested; i++)
            {
                var ticket = next;
                var changes = databases[i].Write(w =>
                {
                    w.InsertTicket($"{ticketPrefix}{ticket:D6}", "S003", RetailWriter.Sku(random.Next(1, products + 1)), 1, 4.0);
                    w.UpdateTicketQuantity($"{ticketPrefix}{random.Next(1, hotTickets + 1):D6}", random.Next(1, 9));
                });
                Interlocked.Add(ref _written[i], changes.Count);
            }
            next++;
            var rest = round - (DateTime.UtcNow - started);
            if (rest > TimeSpan.Zero) Thread.Sleep(rest);
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
