using Npgsql;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Postgres;

/// <summary>The incremental (DBLog) snapshot: existing rows as Read events, interleaved with the stream.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresSnapshotTests(PostgresFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private sealed class OutputLogger(Xunit.Abstractions.ITestOutputHelper output) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try { output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {formatter(state, exception)} {exception?.Message}"); } catch (InvalidOperationException) { }
        }
    }

    private PostgresLogicalSource Source(PostgresTestDatabase db, string workflow, IReadOnlyList<string> tables, PostgresSourceOptions options) =>
        new(db.Id(workflow), db.ConnectionString, tables, new OutputLogger(output), options);

    private static readonly CancellationToken None = CancellationToken.None;

    private static PostgresSourceOptions Options(int chunk, int buffer = 10_000) => new()
    {
        HeartbeatInterval = TimeSpan.Zero,
        StatusInterval = TimeSpan.FromSeconds(1),
        SnapshotChunkSize = chunk,
        MaxBufferedChanges = buffer,
    };

    [Fact]
    public async Task Existing_rows_arrive_once_as_Read_events_then_the_streamed_changes_in_commit_order()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE products (id int PRIMARY KEY, name text)");
        await db.ExecuteAsync("CREATE TABLE catalog (sku text, store text, listed bool, PRIMARY KEY (store, sku))");
        await db.ExecuteAsync("INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 2500) g");
        await db.ExecuteAsync("INSERT INTO catalog SELECT 'sku' || g, 's' || (g % 3), true FROM generate_series(1, 40) g");
        await using var source = Source(db, "wf-snap", ["products", "catalog"], Options(chunk: 300, buffer: 100));
        await source.PrepareAsync(None);

        var reads = await DrainAsync(source, SourcePosition.Start, c => c.Count >= 2540);
        Assert.Equal(2540, reads.Count);
        Assert.All(reads, c => Assert.Equal(ChangeOperation.Read, c.Operation));
        Assert.Equal(Enumerable.Range(1, 2500).Select(i => (long)i),
            reads.Where(c => c.Table == "public.products").Select(c => c.Key.GetInt64("id")).Order());
        Assert.Equal(40, reads.Where(c => c.Table == "public.catalog").Select(c => (c.Key["store"], c.Key["sku"])).Distinct().Count());
        var product = reads.First(c => c.Table == "public.products" && c.Key.GetInt64("id") == 7);
        Assert.Equal("p7", product.After!["name"]);
        Assert.Null(product.Before);
        var catalogRead = reads.First(c => c.Table == "public.catalog");
        Assert.Equal(["sku", "store"], catalogRead.Key.Keys.Order());
        Assert.Equal(true, catalogRead.After!["listed"]);

        await db.ExecuteAsync("UPDATE products SET name = 'tea' WHERE id = 1");
        await db.ExecuteAsync("DELETE FROM products WHERE id = 2");
        await db.ExecuteAsync("INSERT INTO products VALUES (3000, 'new')");
        var streamed = await DrainAsync(source, reads[^1].Position, c => c.Count >= 3);
        Assert.Equal([ChangeOperation.Update, ChangeOperation.Delete, ChangeOperation.Insert], streamed.Select(c => c.Operation));
        Assert.Equal([1L, 2L, 3000L], streamed.Select(c => c.Key.GetInt64("id")));
    }

    [Fact]
    public async Task Writes_during_the_snapshot_reconcile_and_no_Read_goes_behind_a_newer_streamed_change()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, v int NOT NULL, note text)");
        await db.ExecuteAsync("INSERT INTO tickets SELECT g, 0, 'n' || g FROM generate_series(1, 3000) g");
        await using var source = Source(db, "wf-snap-writes", ["tickets"], Options(chunk: 100, buffer: 200));
        await source.PrepareAsync(None);

        var state = new ReplayedState();
        using var stop = new CancellationTokenSource();
        var writer = WriteRandomlyAsync(db, 4000, stop.Token);
        var position = SourcePosition.Start;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (state.Reads < 3000 / 2 && DateTime.UtcNow < deadline)
        {
            foreach (var change in await source.ReadAsync(position, 100, None))
            {
                Assert.True(change.Position > position);
                position = change.Position;
                state.Apply(change, strict: true);
            }
        }
        await stop.CancelAsync();
        var written = await writer;
        Assert.True(written > 50, $"only {written} writes ran during the snapshot");

        foreach (var change in await CatchUpAsync(source, db, "wf-snap-writes", position))
            state.Apply(change, strict: true);
        Assert.Equal(await TableAsync(db), state.Rows);
        Assert.True(state.ReadKeys.Count == state.ReadKeys.Distinct().Count(), "a row was read twice in a run without restarts");
    }

    [Fact]
    public async Task A_restart_in_the_middle_of_the_snapshot_resumes_it_and_reconciles()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, v int NOT NULL, note text)");
        await db.ExecuteAsync("INSERT INTO tickets SELECT g, 0, 'n' || g FROM generate_series(1, 3000) g");
        var state = new ReplayedState();
        using var stop = new CancellationTokenSource();
        var writer = WriteRandomlyAsync(db, 4000, stop.Token);

        SourcePosition checkpoint;
        await using (var source = Source(db, "wf-snap-crash", ["tickets"], Options(chunk: 100, buffer: 200)))
        {
            await source.PrepareAsync(None);
            var first = new List<ChangeEvent>();
            var at = SourcePosition.Start;
            while (first.Count < 1200)
                foreach (var change in await source.ReadAsync(at, 100, None))
                {
                    at = change.Position;
                    first.Add(change);
                }
            // Only what the platform stored counts: the changes after the checkpoint are lost with the process.
            var stored = first.Take(850).ToList();
            foreach (var change in stored) state.Apply(change, strict: false);
            checkpoint = stored[^1].Position;
            await source.ConfirmAsync(checkpoint, None);
            await Task.Delay(300);
        }

        await using (var restarted = Source(db, "wf-snap-crash", ["tickets"], Options(chunk: 100, buffer: 200)))
        {
            await restarted.PrepareAsync(None);
            var position = checkpoint;
            var deadline = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < deadline)
                foreach (var change in await restarted.ReadAsync(position, 100, None))
                {
                    Assert.True(change.Position > position);
                    position = change.Position;
                    state.Apply(change, strict: false);
                }
            await stop.CancelAsync();
            await writer;
            foreach (var change in await CatchUpAsync(restarted, db, "wf-snap-crash", position))
                state.Apply(change, strict: false);
        }
        Assert.Equal(await TableAsync(db), state.Rows);
    }

    [Fact]
    public async Task A_chunk_delivered_in_part_before_a_crash_is_read_again_at_new_positions_when_the_table_changed_since()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, v int NOT NULL, note text)");
        await db.ExecuteAsync("INSERT INTO tickets SELECT g, 0, 'n' || g FROM generate_series(1, 12) g");
        // The endpoint: the first delivery of a position wins (it deduplicates on the idempotency key).
        var endpoint = new SortedDictionary<SourcePosition, ChangeEvent>();
        var redelivered = new List<string>();
        void Deliver(ChangeEvent change)
        {
            if (!endpoint.TryGetValue(change.Position, out var first)) endpoint[change.Position] = change;
            else if (Describe(first) != Describe(change)) redelivered.Add($"{change.Position}: {Describe(first)} then {Describe(change)}");
        }

        SourcePosition checkpoint;
        await using (var source = Source(db, "wf-snap-partial", ["tickets"], Options(chunk: 4)))
        {
            await source.PrepareAsync(None);
            var first = await DrainAsync(source, SourcePosition.Start, c => c.Count >= 12);
            Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), first.Select(c => c.Key.GetInt64("id")));
            // Chunk 0 (ids 1-4) is checkpointed; ids 5 and 6 of chunk 1 reach the endpoint, then the process dies.
            foreach (var change in first.Take(6)) Deliver(change);
            checkpoint = first[3].Position;
            await source.ConfirmAsync(checkpoint, None);
            await Task.Delay(300);
        }

        // Within chunk 1's bounds (4, 8]: a row before the delivered ones goes, one comes.
        await db.ExecuteAsync("DELETE FROM tickets WHERE id = 5");
        await db.ExecuteAsync("UPDATE tickets SET id = 105 WHERE id = 6");
        await db.ExecuteAsync("INSERT INTO tickets VALUES (6, 9, 'back')");

        await using (var restarted = Source(db, "wf-snap-partial", ["tickets"], Options(chunk: 4)))
        {
            await restarted.PrepareAsync(None);
            var again = await DrainAsync(restarted, checkpoint,
                c => c.Any(e => e.Operation == ChangeOperation.Insert) && c.Any(e => e.Operation == ChangeOperation.Read && e.Key.GetInt64("id") == 12));
            foreach (var change in again) Deliver(change);
        }

        Assert.True(redelivered.Count == 0, "a position was delivered again with other content: " + string.Join("; ", redelivered));
        var state = new ReplayedState();
        foreach (var change in endpoint.Values) state.Apply(change, strict: false);
        Assert.Equal(await TableAsync(db), state.Rows);

        static string Describe(ChangeEvent change) =>
            $"{change.Operation} {change.Key.GetInt64("id")} {(change.After is { } a ? $"{a.GetInt64("v")}|{a.GetString("note")}" : "-")}";
    }

    [Fact]
    public async Task After_a_crash_replayed_chunks_of_several_tables_a_re_snapshot_and_a_truncate_keep_every_position_to_one_row()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, v int NOT NULL, note text)");
        await db.ExecuteAsync("CREATE TABLE stores (id int PRIMARY KEY, city text)");
        await db.ExecuteAsync("INSERT INTO tickets SELECT g, 0, 'n' || g FROM generate_series(1, 12) g");
        await db.ExecuteAsync("INSERT INTO stores SELECT g, 'c' || g FROM generate_series(1, 6) g");
        var endpoint = new SortedDictionary<SourcePosition, ChangeEvent>();
        var redelivered = new List<string>();
        void Deliver(ChangeEvent change)
        {
            if (!endpoint.TryGetValue(change.Position, out var first)) endpoint[change.Position] = change;
            else if (Describe(first) != Describe(change)) redelivered.Add($"{change.Position}: {Describe(first)} then {Describe(change)}");
        }

        SourcePosition checkpoint;
        await using (var source = Source(db, "wf-snap-partial-many", ["tickets", "stores"], Options(chunk: 4)))
        {
            await source.PrepareAsync(None);
            var first = await DrainAsync(source, SourcePosition.Start, c => c.Count >= 18);
            Assert.Equal(18, first.Count);
            await source.RequestSnapshotAsync("stores", None);
            var again = await DrainAsync(source, first[^1].Position, c => c.Count >= 6);
            Assert.All(again, c => Assert.Equal("public.stores", c.Table));
            // Chunk 0 of tickets is checkpointed; 2 more reads reach the endpoint, then the process dies.
            foreach (var change in first.Take(6)) Deliver(change);
            checkpoint = first[3].Position;
            await source.ConfirmAsync(checkpoint, None);
            await Task.Delay(300);
        }

        await db.ExecuteAsync("DELETE FROM tickets WHERE id = 5");
        await db.ExecuteAsync("DELETE FROM stores WHERE id = 2");
        await db.ExecuteAsync("TRUNCATE stores");
        await db.ExecuteAsync("INSERT INTO stores VALUES (3, 'Nantes'), (40, 'Brest')");

        await using (var restarted = Source(db, "wf-snap-partial-many", ["tickets", "stores"], Options(chunk: 4)))
        {
            await restarted.PrepareAsync(None);
            var again = await DrainAsync(restarted, checkpoint, c => c.Any(e => e.Operation == ChangeOperation.Insert && e.Key.GetInt64("id") == 40)
                     && c.Any(e => e.Operation == ChangeOperation.Read && e.Table == "public.tickets" && e.Key.GetInt64("id") == 12)
                     && c.Any(e => e.Operation == ChangeOperation.Read && e.Table == "public.stores" && e.Key.GetInt64("id") == 40));
            foreach (var change in again) Deliver(change);
        }

        Assert.True(redelivered.Count == 0, "a position was delivered again with other content: " + string.Join("; ", redelivered));
        var state = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var change in endpoint.Values)
        {
            if (change.Operation == ChangeOperation.Truncate)
            {
                foreach (var key in state.Keys.Where(k => k.StartsWith(change.Table + " ", StringComparison.Ordinal)).ToList()) state.Remove(key);
                continue;
            }
            var id = $"{change.Table} {change.Key.GetInt64("id")}";
            if (change.After is { } after) state[id] = Describe(change)[(Describe(change).IndexOf('|') + 1)..];
            else state.Remove(id);
        }
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (id, row) in await TableAsync(db)) expected[$"public.tickets {id}"] = row;
        await using (var connection = new NpgsqlConnection(db.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT id, city FROM stores", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) expected[$"public.stores {reader.GetInt32(0)}"] = reader.GetString(1);
        }
        Assert.Equal(expected, state);

        static string Describe(ChangeEvent change) =>
            $"{change.Operation} {change.Table} {(change.Key.Count == 0 ? "-" : change.Key.GetInt64("id").ToString(System.Globalization.CultureInfo.InvariantCulture))} |" + (change.After is not { } a ? "-"
                : change.Table == "public.tickets" ? $"{a.GetInt64("v")}|{a.GetString("note")}" : a.GetString("city"));
    }

    [Fact]
    public async Task A_re_snapshot_of_one_table_mid_stream_reads_its_rows_again_and_reconciles()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, v int NOT NULL, note text)");
        await db.ExecuteAsync("CREATE TABLE stores (id int PRIMARY KEY, city text)");
        await db.ExecuteAsync("INSERT INTO tickets SELECT g, 0, 'n' || g FROM generate_series(1, 800) g");
        await db.ExecuteAsync("INSERT INTO stores VALUES (1, 'Lyon')");
        await using var source = Source(db, "wf-resnap", ["tickets", "stores"], Options(chunk: 100, buffer: 200));
        await source.PrepareAsync(None);
        var state = new ReplayedState();
        var initial = await DrainAsync(source, SourcePosition.Start, c => c.Count >= 801);
        foreach (var change in initial) state.Apply(change, strict: true);
        await db.ExecuteAsync("UPDATE tickets SET v = 5 WHERE id <= 10");
        var streamed = await DrainAsync(source, initial[^1].Position, c => c.Count >= 10);
        foreach (var change in streamed) state.Apply(change, strict: true);

        var readsBefore = state.Reads;
        using var stop = new CancellationTokenSource();
        var writer = WriteRandomlyAsync(db, 1000, stop.Token);
        await source.RequestSnapshotAsync("tickets", None);
        var position = streamed[^1].Position;
        var again = new List<ChangeEvent>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (again.Count(c => c.Operation == ChangeOperation.Read) < 400 && DateTime.UtcNow < deadline)
            foreach (var change in await source.ReadAsync(position, 100, None))
            {
                position = change.Position;
                again.Add(change);
                state.Apply(change, strict: true);
            }
        await stop.CancelAsync();
        await writer;
        foreach (var change in await DrainAsync(source, position, _ => true))
        {
            again.Add(change);
            state.Apply(change, strict: true);
        }

        var rereads = again.Where(c => c.Operation == ChangeOperation.Read).ToList();
        Assert.All(rereads, c => Assert.Equal("public.tickets", c.Table));
        Assert.True(rereads.Count >= 500, $"only {rereads.Count} rows read again");
        Assert.True(rereads.Select(c => c.Key.GetInt64("id")).Distinct().Count() == rereads.Count);
        Assert.True(state.Reads > readsBefore);
        Assert.Equal(await TableAsync(db), state.Rows);
    }

    [Fact]
    public async Task A_table_added_to_the_configuration_later_is_snapshotted_and_the_others_are_not_again()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await db.ExecuteAsync("CREATE TABLE stores (id int PRIMARY KEY, city text)");
        await db.ExecuteAsync("INSERT INTO tickets SELECT g FROM generate_series(1, 30) g");
        await db.ExecuteAsync("INSERT INTO stores SELECT g, 'c' || g FROM generate_series(1, 25) g");
        SourcePosition checkpoint;
        await using (var source = Source(db, "wf-added", ["tickets"], Options(chunk: 10)))
        {
            await source.PrepareAsync(None);
            var first = await DrainAsync(source, SourcePosition.Start, c => c.Count >= 30);
            Assert.Equal(30, first.Count);
            checkpoint = first[^1].Position;
            await source.ConfirmAsync(checkpoint, None);
            await Task.Delay(300);
        }

        await using var widened = Source(db, "wf-added", ["tickets", "stores"], Options(chunk: 10));
        await widened.PrepareAsync(None);
        await db.ExecuteAsync("INSERT INTO tickets VALUES (100)");
        var later = await DrainAsync(widened, checkpoint, c => c.Count >= 26);
        Assert.Equal(26, later.Count);
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i),
            later.Where(c => c.Operation == ChangeOperation.Read).Select(c => c.Key.GetInt64("id")).Order());
        Assert.All(later.Where(c => c.Operation == ChangeOperation.Read), c => Assert.Equal("public.stores", c.Table));
        Assert.Equal(100L, Assert.Single(later, c => c.Table == "public.tickets").Key.GetInt64("id"));
    }

    [Fact]
    public async Task Remove_capture_drops_the_progress_table()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await (await PostgresTestDatabase.StartedAsync(db.Source("wf-snap-rm", ["tickets"]))).DisposeAsync();
        var name = PostgresCaptureNames.ObjectName(db.Id("wf-snap-rm"));
        Assert.Equal(1L, await db.CountAsync("SELECT count(*) FROM pg_tables WHERE schemaname = @s AND tablename = 'snapshot_progress'", ("s", name)));
        await PostgresLogicalSource.RemoveCaptureAsync(db.ConnectionString, db.Id("wf-snap-rm"), null, None);
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_namespace WHERE nspname = @s", ("s", name)));
    }

    /// <summary>Reads until <paramref name="done"/> holds and three reads in a row brought nothing.</summary>
    private static async Task<List<ChangeEvent>> DrainAsync(PostgresLogicalSource source, SourcePosition after, Func<List<ChangeEvent>, bool> done)
    {
        var changes = new List<ChangeEvent>();
        var position = after;
        var quiet = 0;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (quiet < 3 || !done(changes))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{changes.Count} changes after 90 s");
            var batch = await source.ReadAsync(position, 500, None);
            quiet = batch.Count == 0 ? quiet + 1 : 0;
            foreach (var change in batch)
            {
                Assert.True(change.Position > position, $"{change.Position} does not follow {position}");
                position = change.Position;
                changes.Add(change);
            }
        }
        return changes;
    }

    /// <summary>
    /// Reads until the source has caught up with everything written so far: a sentinel row committed
    /// after the writers stopped has arrived, the snapshot is marked done, and a few reads in a row
    /// came back empty. (Empty reads alone are no proof on a loaded machine: the WAL sender or a
    /// snapshot chunk may simply be late.) The sentinel row stays in the table, so the reconciliation
    /// covers it too.
    /// </summary>
    private static async Task<List<ChangeEvent>> CatchUpAsync(PostgresLogicalSource source, PostgresTestDatabase db, string workflow, SourcePosition after)
    {
        const int sentinel = 1_000_000;
        await db.ExecuteAsync($"INSERT INTO tickets VALUES ({sentinel}, 0, 'sentinel')");
        var progress = PostgresSnapshotProgress.Qualified(PostgresCaptureNames.ObjectName(db.Id(workflow)));
        var changes = new List<ChangeEvent>();
        var position = after;
        var (sentinelSeen, snapshotDone, quiet) = (false, false, 0);
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!sentinelSeen || !snapshotDone || quiet < 3)
        {
            Assert.True(DateTime.UtcNow < deadline,
                $"not caught up after 120 s: {changes.Count} changes, sentinel seen: {sentinelSeen}, snapshot done: {snapshotDone}");
            var batch = await source.ReadAsync(position, 500, None);
            quiet = batch.Count == 0 ? quiet + 1 : 0;
            foreach (var change in batch)
            {
                Assert.True(change.Position > position, $"{change.Position} does not follow {position}");
                position = change.Position;
                changes.Add(change);
                sentinelSeen |= change.Operation == ChangeOperation.Insert && change.Key.GetInt64("id") == sentinel;
            }
            if (!snapshotDone && batch.Count == 0)
                snapshotDone = await db.ScalarAsync<long>($"SELECT count(*) FROM {progress} WHERE state <> 'done'") == 0;
        }
        return changes;
    }

    /// <summary>Random small transactions of inserts, updates and deletes on ids 1..maxId until stopped; returns the statements run.</summary>
    private static Task<int> WriteRandomlyAsync(PostgresTestDatabase db, int maxId, CancellationToken stop) => Task.Run(async () =>
    {
        var random = new Random(7);
        var count = 0;
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        while (!stop.IsCancellationRequested)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            for (var i = random.Next(1, 5); i > 0; i--)
            {
                var id = random.Next(1, maxId + 1);
                var sql = random.Next(3) switch
                {
                    0 => "INSERT INTO tickets VALUES (@id, 1, 'w') ON CONFLICT (id) DO UPDATE SET v = tickets.v + 1",
                    1 => "UPDATE tickets SET v = v + 1, note = 'u' WHERE id = @id",
                    _ => "DELETE FROM tickets WHERE id = @id",
                };
                await using var command = new NpgsqlCommand(sql, connection, transaction);
                command.Parameters.AddWithValue("id", id);
                await command.ExecuteNonQueryAsync();
                count++;
            }
            await transaction.CommitAsync();
            await Task.Delay(random.Next(0, 3));
        }
        return count;
    });

    private static async Task<SortedDictionary<long, string>> TableAsync(PostgresTestDatabase db)
    {
        var rows = new SortedDictionary<long, string>();
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, v, note FROM tickets", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows[reader.GetInt32(0)] = $"{reader.GetInt32(1)}|{(reader.IsDBNull(2) ? "<null>" : reader.GetString(2))}";
        return rows;
    }

    /// <summary>The tickets table rebuilt by applying the events by key in delivery order.</summary>
    private sealed class ReplayedState
    {
        public SortedDictionary<long, string> Rows { get; } = [];
        public int Reads { get; private set; }
        public List<long> ReadKeys { get; } = [];
        private readonly HashSet<long> _streamed = [];

        public void Apply(ChangeEvent change, bool strict)
        {
            if (change.Table != "public.tickets") return;
            if (change.Operation == ChangeOperation.Truncate)
            {
                Rows.Clear();
                return;
            }
            var id = change.Key.GetInt64("id");
            var row = change.After is { } after ? $"{after.GetInt64("v")}|{after.GetString("note") ?? "<null>"}" : null;
            if (change.Operation == ChangeOperation.Read)
            {
                Reads++;
                ReadKeys.Add(id);
                // A Read after a streamed change of its key may only repeat what that change brought.
                if (strict && _streamed.Contains(id))
                    Assert.True(Rows.TryGetValue(id, out var current) && current == row,
                        $"the Read of {id} at {change.Position} ({row}) goes behind a newer streamed change ({(Rows.TryGetValue(id, out var c) ? c : "deleted")})");
            }
            else _streamed.Add(id);
            if (row is null) Rows.Remove(id);
            else Rows[id] = row;
        }
    }
}
