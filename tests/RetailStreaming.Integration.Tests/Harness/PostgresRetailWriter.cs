using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// A client application writing to a <see cref="PostgresRetailDatabase"/>: mixed inserts, updates
/// and deletes across stores, products, catalog and tickets, in transactions of 1 to 50
/// statements. Every statement touches exactly one row (checked), so each is one captured change
/// and <see cref="Written"/> is the number of changes the endpoint must receive.
/// </summary>
/// <remarks>
/// Several writers may run at once on one database (their transactions then interleave in the WAL):
/// each owns its keys (prefix <c>W&lt;n&gt;</c>), so each can track which of its rows exist.
/// </remarks>
public sealed class PostgresRetailWriter(PostgresRetailDatabase database, int writer, int seed, double? changesPerSecond = null)
{
    private readonly Random _random = new(seed);
    private readonly KeySet _stores = new();
    private readonly KeySet _products = new();
    private readonly KeySet _catalog = new();
    private readonly KeySet _tickets = new();
    private long _written;
    private long _transactions;
    private int _nextStore;
    private int _nextProduct;
    private int _nextTicket;

    /// <summary>Changes committed so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Transactions committed so far.</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>Writes until <paramref name="changes"/> changes are committed or <paramref name="stop"/> is cancelled (then returns normally).</summary>
    public async Task RunAsync(long changes, CancellationToken stop)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync(stop);
        var clock = Stopwatch.StartNew();
        try
        {
            while (Written < changes && !stop.IsCancellationRequested)
            {
                var size = (int)Math.Min(changes - Written, _random.Next(1, 51));
                await using var tx = await connection.BeginTransactionAsync(CancellationToken.None);
                await using var batch = new NpgsqlBatch(connection, tx);
                for (var i = 0; i < size; i++) batch.BatchCommands.Add(NextStatement());
                // Not cancelled half-way: a transaction is committed whole, or the writer has failed.
                await batch.ExecuteNonQueryAsync(CancellationToken.None);
                foreach (var command in batch.BatchCommands)
                    if (command.RecordsAffected != 1)
                        throw new InvalidOperationException($"writer {writer}: '{command.CommandText}' touched {command.RecordsAffected} rows instead of one");
                await tx.CommitAsync(CancellationToken.None);
                Interlocked.Add(ref _written, size);
                Interlocked.Increment(ref _transactions);

                if (changesPerSecond is { } rate)
                {
                    var due = TimeSpan.FromSeconds(Written / rate) - clock.Elapsed;
                    if (due > TimeSpan.Zero) await Task.Delay(due, stop);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private NpgsqlBatchCommand NextStatement()
    {
        var s = database.Schema;
        var roll = _random.Next(100);
        return roll switch
        {
            < 30 => InsertTicket(s),
            < 45 when _tickets.Count > 0 => Command($"UPDATE {s}.tickets SET quantity = @q, unit_price = @p WHERE ticket_id = @id",
                ("q", _random.Next(1, 10)), ("p", Price()), ("id", _tickets.Pick(_random))),
            < 53 when _tickets.Count > 0 => Command($"DELETE FROM {s}.tickets WHERE ticket_id = @id", ("id", _tickets.Take(_random))),
            < 61 => InsertProduct(s),
            < 71 when _products.Count > 0 => Command($"UPDATE {s}.products SET price = @p, name = @n WHERE sku = @sku",
                ("p", Price()), ("n", $"Product {_random.Next(1000)}"), ("sku", _products.Pick(_random))),
            < 75 when _products.Count > 0 => Command($"DELETE FROM {s}.products WHERE sku = @sku", ("sku", _products.Take(_random))),
            < 83 => InsertCatalog(s),
            < 89 when _catalog.Count > 0 => CatalogRow(s, update: true),
            < 93 when _catalog.Count > 0 => CatalogRow(s, update: false),
            < 96 => InsertStore(s),
            < 99 when _stores.Count > 0 => Command($"UPDATE {s}.stores SET name = @n, city = @c WHERE store_id = @id",
                ("n", $"Store {_random.Next(1000)}"), ("c", City()), ("id", _stores.Pick(_random))),
            < 100 when _stores.Count > 0 => Command($"DELETE FROM {s}.stores WHERE store_id = @id", ("id", _stores.Take(_random))),
            // An update or delete of a table with no row of this writer yet falls to the next insert.
            _ => InsertStore(s),
        };
    }

    private NpgsqlBatchCommand InsertTicket(string s)
    {
        var id = $"T-W{writer}-{++_nextTicket:D7}";
        _tickets.Add(id);
        return Command($"INSERT INTO {s}.tickets (ticket_id, store_id, sku, quantity, unit_price, sold_at) VALUES (@id, @store, @sku, @q, @p, @at)",
            ("id", id), ("store", $"S{_random.Next(1, 21):D3}"), ("sku", $"SKU-{_random.Next(1, 500):D5}"), ("q", _random.Next(1, 10)),
            ("p", Price()), ("at", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)));
    }

    private NpgsqlBatchCommand InsertProduct(string s)
    {
        var sku = $"SKU-W{writer}-{++_nextProduct:D6}";
        _products.Add(sku);
        return Command($"INSERT INTO {s}.products (sku, name, price, category) VALUES (@sku, @n, @p, @c)",
            ("sku", sku), ("n", $"Product {_nextProduct}"), ("p", Price()), ("c", _random.Next(2) == 0 ? "grocery" : "drinks"));
    }

    private NpgsqlBatchCommand InsertStore(string s)
    {
        var id = $"S-W{writer}-{++_nextStore:D4}";
        _stores.Add(id);
        return Command($"INSERT INTO {s}.stores (store_id, name, city) VALUES (@id, @n, @c)", ("id", id), ("n", $"Store {_nextStore}"), ("c", City()));
    }

    private NpgsqlBatchCommand InsertCatalog(string s)
    {
        // Catalog keys are (store, sku) pairs of this writer; a pair that exists is updated instead.
        var store = $"S-W{writer}-C{_random.Next(1, 11):D2}";
        var sku = $"SKU-W{writer}-C{_random.Next(1, 301):D4}";
        var key = $"{store}/{sku}";
        if (_catalog.Contains(key))
            return Command($"UPDATE {s}.catalog SET listed = NOT listed WHERE store_id = @st AND sku = @sku", ("st", store), ("sku", sku));
        _catalog.Add(key);
        return Command($"INSERT INTO {s}.catalog (store_id, sku, listed) VALUES (@st, @sku, @l)", ("st", store), ("sku", sku), ("l", _random.Next(4) > 0));
    }

    private NpgsqlBatchCommand CatalogRow(string s, bool update)
    {
        var key = update ? _catalog.Pick(_random) : _catalog.Take(_random);
        var slash = key.IndexOf('/');
        var (store, sku) = (key[..slash], key[(slash + 1)..]);
        return update
            ? Command($"UPDATE {s}.catalog SET listed = NOT listed WHERE store_id = @st AND sku = @sku", ("st", store), ("sku", sku))
            : Command($"DELETE FROM {s}.catalog WHERE store_id = @st AND sku = @sku", ("st", store), ("sku", sku));
    }

    private decimal Price() => Math.Round((decimal)(0.5 + _random.NextDouble() * 99), 2);

    private string City() => _random.Next(4) switch { 0 => "Lyon", 1 => "Zürich", 2 => "Kraków", _ => "Lisboa" };

    private static NpgsqlBatchCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    /// <summary>A set of keys with O(1) random pick and removal.</summary>
    private sealed class KeySet
    {
        private readonly List<string> _keys = [];
        private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

        public int Count => _keys.Count;

        public bool Contains(string key) => _index.ContainsKey(key);

        public void Add(string key)
        {
            _index.Add(key, _keys.Count);
            _keys.Add(key);
        }

        public string Pick(Random random) => _keys[random.Next(_keys.Count)];

        public string Take(Random random)
        {
            var i = random.Next(_keys.Count);
            var key = _keys[i];
            var last = _keys[^1];
            _keys[i] = last;
            _index[last] = i;
            _keys.RemoveAt(_keys.Count - 1);
            _index.Remove(key);
            return key;
        }
    }
}
