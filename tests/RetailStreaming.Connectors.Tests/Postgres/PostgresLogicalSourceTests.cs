using Npgsql;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Transforms;
using static RetailStreaming.Connectors.Tests.Postgres.PostgresTestDatabase;

namespace RetailStreaming.Connectors.Tests.Postgres;

[Collection(PostgresCollection.Name)]
public sealed class PostgresLogicalSourceTests(PostgresFixture fixture)
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Insert_update_delete_and_truncate_arrive_in_order_with_increasing_positions()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2))");
        await using var source = await StartedAsync(db.Source("wf-basic", ["products"]));

        await db.ExecuteAsync("INSERT INTO products VALUES (1, 'tea', 2.50)");
        await db.ExecuteAsync("UPDATE products SET price = 2.75 WHERE id = 1");
        await db.ExecuteAsync("DELETE FROM products WHERE id = 1");
        await db.ExecuteAsync("INSERT INTO products VALUES (2, 'coffee', NULL)");
        await db.ExecuteAsync("TRUNCATE products");

        var changes = await ReadAsync(source, SourcePosition.Start, 5);
        Assert.Equal(
            [ChangeOperation.Insert, ChangeOperation.Update, ChangeOperation.Delete, ChangeOperation.Insert, ChangeOperation.Truncate],
            changes.Select(c => c.Operation));
        Assert.All(changes, c => Assert.StartsWith("postgres:pgcap_", c.Source));
        Assert.All(changes, c => Assert.Equal("public.products", c.Table));
        for (var i = 1; i < changes.Count; i++)
            Assert.True(changes[i - 1].Position < changes[i].Position);

        var insert = changes[0];
        Assert.Equal(1L, insert.Key["id"]);
        Assert.Single(insert.Key);
        Assert.Null(insert.Before);
        Assert.Equal("tea", insert.After!["name"]);
        Assert.Equal(2.50m, insert.After["price"]);

        var update = changes[1];
        Assert.Equal(2.75m, update.After!["price"]);
        Assert.Null(update.Before); // REPLICA IDENTITY DEFAULT: PostgreSQL does not log the old row.

        var delete = changes[2];
        Assert.Equal(1L, delete.Key["id"]);
        Assert.Equal(1L, delete.Before!["id"]);
        Assert.Null(delete.After);

        Assert.Null(changes[3].After!["price"]);

        var truncate = changes[4];
        Assert.Empty(truncate.Key);
        Assert.Null(truncate.Before);
        Assert.Null(truncate.After);

        // Every change is its own transaction here: index 0 each time, commit LSNs increasing.
        Assert.All(changes, c => Assert.EndsWith(":00000000", c.Position.Value));
        Assert.Equal(changes.Select(CommitLsnOf).Order(), changes.Select(CommitLsnOf));
    }

    [Fact]
    public async Task An_update_of_the_key_is_a_delete_of_the_old_row_and_an_insert_of_the_new_one()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE stores (store_id text PRIMARY KEY, city text)");
        await db.ExecuteAsync("CREATE TABLE catalog (sku text, store_id text, listed bool, PRIMARY KEY (sku, store_id))");
        await db.ExecuteAsync("ALTER TABLE catalog REPLICA IDENTITY FULL");
        await using var source = await StartedAsync(db.Source("wf-key", ["stores", "public.catalog"]));

        await db.ExecuteAsync("INSERT INTO stores VALUES ('s1', 'Lyon')");
        await db.ExecuteAsync("UPDATE stores SET store_id = 's2' WHERE store_id = 's1'");
        await db.ExecuteAsync("INSERT INTO catalog VALUES ('a', 's1', true)");
        await db.ExecuteAsync("UPDATE catalog SET listed = false");
        await db.ExecuteAsync("UPDATE catalog SET sku = 'b'");
        await db.ExecuteAsync("DELETE FROM catalog");

        var changes = await ReadAsync(source, SourcePosition.Start, 8);
        Assert.Equal(
            [ChangeOperation.Insert, ChangeOperation.Delete, ChangeOperation.Insert,
             ChangeOperation.Insert, ChangeOperation.Update, ChangeOperation.Delete, ChangeOperation.Insert, ChangeOperation.Delete],
            changes.Select(c => c.Operation));

        // Default identity: the old key only.
        Assert.Equal("s1", changes[1].Key["store_id"]);
        Assert.Equal(["store_id"], changes[1].Before!.Keys);
        Assert.Equal("s2", changes[2].Key["store_id"]);
        Assert.Equal("Lyon", changes[2].After!["city"]);
        // Both of the key-changing update's changes belong to one transaction.
        Assert.Equal(CommitLsnOf(changes[1]), CommitLsnOf(changes[2]));
        Assert.EndsWith(":00000001", changes[2].Position.Value);

        // REPLICA IDENTITY FULL: the key is still the primary key, and the old row comes whole.
        var fullUpdate = changes[4];
        Assert.Equal(["sku", "store_id"], fullUpdate.Key.Keys);
        Assert.Equal(true, fullUpdate.Before!["listed"]);
        Assert.Equal(false, fullUpdate.After!["listed"]);
        Assert.Equal("a", changes[5].Key["sku"]);
        Assert.Equal(false, changes[5].Before!["listed"]);
        Assert.Equal("b", changes[6].Key["sku"]);
        Assert.Equal(3, changes[7].Before!.Count);
    }

    [Fact]
    public async Task Transactions_of_concurrent_writers_arrive_whole_in_commit_order_with_strictly_increasing_positions()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id bigserial PRIMARY KEY, writer int, tx int, seq int)");
        await db.ExecuteAsync("CREATE TABLE products (id bigserial PRIMARY KEY, writer int, tx int, seq int)");
        await using var source = await StartedAsync(db.Source("wf-concurrent", ["tickets", "products"]));

        const int Writers = 4, TransactionsPerWriter = 20;
        var sizes = new Dictionary<(int Writer, int Tx), int>();
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            await using var connection = new NpgsqlConnection(db.ConnectionString);
            await connection.OpenAsync();
            for (var t = 0; t < TransactionsPerWriter; t++)
            {
                var size = random.Next(1, 60);
                lock (sizes) sizes[(w, t)] = size;
                await using var transaction = await connection.BeginTransactionAsync();
                for (var s = 0; s < size; s++)
                {
                    var table = random.Next(2) == 0 ? "tickets" : "products";
                    await using var command = new NpgsqlCommand($"INSERT INTO {table} (writer, tx, seq) VALUES (@w, @t, @s)", connection, transaction);
                    command.Parameters.AddWithValue("w", w);
                    command.Parameters.AddWithValue("t", t);
                    command.Parameters.AddWithValue("s", s);
                    await command.ExecuteNonQueryAsync();
                    // Let the other writers' statements fall between this transaction's.
                    if (random.Next(4) == 0) await Task.Delay(1);
                }
                await transaction.CommitAsync();
            }
        })).ToList();
        await Task.WhenAll(writers);

        var total = sizes.Values.Sum();
        var changes = await ReadAsync(source, SourcePosition.Start, total, page: 97, streamedOnly: true);
        for (var i = 1; i < changes.Count; i++)
            Assert.True(changes[i - 1].Position < changes[i].Position, $"{changes[i - 1].Position} !< {changes[i].Position}");

        // Grouped by commit LSN, each group is one whole transaction, in statement order.
        var groups = changes.GroupBy(CommitLsnOf).ToList();
        Assert.Equal(Writers * TransactionsPerWriter, groups.Count);
        var lastTxOfWriter = new int[Writers];
        Array.Fill(lastTxOfWriter, -1);
        foreach (var group in groups)
        {
            var rows = group.ToList();
            var writer = (int)rows[0].After!.GetInt64("writer");
            var tx = (int)rows[0].After!.GetInt64("tx");
            Assert.All(rows, r => Assert.Equal((writer, tx), ((int)r.After!.GetInt64("writer"), (int)r.After!.GetInt64("tx"))));
            Assert.Equal(sizes[(writer, tx)], rows.Count);
            Assert.Equal(Enumerable.Range(0, rows.Count).Select(i => (long)i), rows.Select(r => r.After!.GetInt64("seq")));
            Assert.Equal(Enumerable.Range(0, rows.Count).Select(i => i.ToString("D8", System.Globalization.CultureInfo.InvariantCulture)),
                rows.Select(r => r.Position.Value[^8..]));
            // A writer commits its transactions one after the other: they must arrive in that order.
            Assert.Equal(lastTxOfWriter[writer] + 1, tx);
            lastTxOfWriter[writer] = tx;
        }
    }

    [Fact]
    public async Task A_restart_resumes_after_the_checkpoint_with_nothing_lost_and_nothing_before_it_again()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, amount int)");
        List<ChangeEvent> first;
        SourcePosition checkpoint;
        await using (var source = await StartedAsync(db.Source("wf-restart", ["tickets"])))
        {
            for (var tx = 0; tx < 3; tx++)
                await db.ExecuteAsync($"INSERT INTO tickets SELECT g, g FROM generate_series({tx * 3 + 1}, {tx * 3 + 3}) g");
            first = await ReadAsync(source, SourcePosition.Start, 9);
            // The checkpoint falls inside the second transaction: the slot may only confirm the first.
            checkpoint = first[4].Position;
            await source.ConfirmAsync(checkpoint, None);
            await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > CommitLsnOf(first[0]));
        }

        // Written while no capture runs.
        await db.ExecuteAsync("INSERT INTO tickets SELECT g, g FROM generate_series(10, 12) g");

        await using var restarted = db.Source("wf-restart", ["tickets"]);
        await restarted.PrepareAsync(None);
        var resumed = await ReadAsync(restarted, checkpoint, 7);
        Assert.All(resumed, c => Assert.True(c.Position > checkpoint));
        // The rest of the interrupted transactions, with the same positions as the first time, then the new one.
        Assert.Equal(first.Skip(5).Select(c => c.Position), resumed.Take(4).Select(c => c.Position));
        Assert.Equal(Enumerable.Range(6, 7).Select(i => (long)i), resumed.Select(c => c.Key.GetInt64("id")));
        Assert.Empty(await restarted.ReadAsync(resumed[^1].Position, 100, None));
    }

    [Fact]
    public async Task The_replay_reach_is_the_slots_confirmed_position_and_everything_after_it_is_read_again_whole()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, amount int)");
        List<ChangeEvent> first;
        await using (var source = await StartedAsync(db.Source("wf-reach", ["tickets"])))
        {
            for (var tx = 0; tx < 3; tx++)
                await db.ExecuteAsync($"INSERT INTO tickets SELECT g, g FROM generate_series({tx * 3 + 1}, {tx * 3 + 3}) g");
            first = await ReadAsync(source, SourcePosition.Start, 9);
            // Checkpointed into the second transaction: the slot confirms the first only.
            await source.ConfirmAsync(first[4].Position, None);
            await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > CommitLsnOf(first[0]));
        }

        await using var replay = db.Source("wf-reach", ["tickets"]);
        var reach = await replay.GetReplayReachAsync(first[4].Position, None);

        // The first transaction is gone from the slot; the second and third can be read again, whole.
        Assert.All(first.Take(3), c => Assert.True(c.Position < reach.Earliest, $"{c.Position} is not below {reach.Earliest}"));
        Assert.All(first.Skip(3), c => Assert.True(c.Position > reach.Earliest, $"{c.Position} is not above {reach.Earliest}"));
        Assert.Contains("rsctl workflow snapshot", reach.Explanation);
        await replay.PrepareAsync(None);
        var again = await ReadAsync(replay, reach.Earliest, 6);
        Assert.Equal(first.Skip(3).Select(c => c.Position), again.Select(c => c.Position));
    }

    [Fact]
    public async Task Reading_again_from_an_earlier_position_replays_from_the_slot()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await using var source = await StartedAsync(db.Source("wf-rewind", ["tickets"]));
        await db.ExecuteAsync("INSERT INTO tickets VALUES (1), (2)");
        await db.ExecuteAsync("INSERT INTO tickets VALUES (3)");
        var first = await ReadAsync(source, SourcePosition.Start, 3);

        var again = await ReadAsync(source, first[0].Position, 2);
        Assert.Equal(first.Skip(1).Select(c => c.Position), again.Select(c => c.Position));
    }

    [Fact]
    public async Task A_reader_that_stops_reading_for_longer_than_the_wal_sender_timeout_keeps_its_connection()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        // The server drops a replication connection that does not answer for wal_sender_timeout.
        var impatient = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Options = "-c wal_sender_timeout=1500" }.ToString();
        var options = new PostgresSourceOptions { MaxBufferedChanges = 10, HeartbeatInterval = TimeSpan.Zero, StatusInterval = TimeSpan.FromMilliseconds(500) };
        await using var source = await StartedAsync(db.Source("wf-patient", ["tickets"], options, impatient));
        await db.ExecuteAsync("INSERT INTO tickets SELECT g FROM generate_series(1, 1000) g");
        var head = await ReadAsync(source, SourcePosition.Start, 1, page: 1);
        var pid = await db.ScalarAsync<int?>("SELECT active_pid FROM pg_replication_slots WHERE slot_name = @s", ("s", source.SlotName));

        await Task.Delay(5000); // the buffer is full, the socket is not read

        Assert.Equal(pid, await db.ScalarAsync<int?>("SELECT active_pid FROM pg_replication_slots WHERE slot_name = @s", ("s", source.SlotName)));
        var rest = await ReadAsync(source, head[0].Position, 999, page: 100);
        Assert.Equal(1000L, rest[^1].Key["id"]);
    }

    [Fact]
    public async Task Confirm_moves_the_slot_only_to_commit_boundaries_at_or_below_the_checkpoint()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await using var source = await StartedAsync(db.Source("wf-confirm", ["tickets"]));
        var created = (await db.ConfirmedFlushAsync(source.SlotName))!.Value;

        await db.ExecuteAsync("INSERT INTO tickets VALUES (1), (2)");
        await db.ExecuteAsync("INSERT INTO tickets VALUES (3), (4), (5)");
        await db.ExecuteAsync("INSERT INTO tickets VALUES (6), (7)");
        var c = await ReadAsync(source, SourcePosition.Start, 7);
        ulong l1 = CommitLsnOf(c[0]), l2 = CommitLsnOf(c[2]), l3 = CommitLsnOf(c[5]);
        Assert.True(created < l1 && l1 < l2 && l2 < l3);

        // Inside the first transaction: no boundary is covered, the slot stays.
        await source.ConfirmAsync(c[0].Position, None);
        await Task.Delay(1500); // longer than the status interval
        Assert.Equal(created, await db.ConfirmedFlushAsync(source.SlotName));
        Assert.Equal(0UL, source.ConfirmedLsn);

        // Inside the second: the end of the first, never into the second.
        await source.ConfirmAsync(c[3].Position, None);
        var afterFirst = await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > l1);
        Assert.True(afterFirst > l1 && afterFirst <= l2, $"confirmed {afterFirst:X}, first commit {l1:X}, second {l2:X}");
        Assert.Equal(afterFirst, source.ConfirmedLsn);

        // The last change of the second transaction: its end.
        await source.ConfirmAsync(c[4].Position, None);
        var afterSecond = await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > l2);
        Assert.True(afterSecond > l2 && afterSecond <= l3);

        // An older checkpoint never moves it back.
        await source.ConfirmAsync(c[1].Position, None);
        await source.ConfirmAsync(c[6].Position, None);
        var all = await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > l3);
        Assert.True(all > l3);
    }

    [Fact]
    public async Task Heartbeats_advance_the_slot_while_the_captured_tables_are_idle_but_never_past_an_unconfirmed_change()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await db.ExecuteAsync("CREATE TABLE audit (id bigserial PRIMARY KEY, note text)");
        var options = new PostgresSourceOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(200), StatusInterval = TimeSpan.FromSeconds(1) };
        await using var source = await StartedAsync(db.Source("wf-heartbeat", ["tickets"], options));
        var created = (await db.ConfirmedFlushAsync(source.SlotName))!.Value;

        // Only a table that is not captured is written.
        await WriteOtherTableAsync(db, 20);
        var written = await db.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
        var advanced = await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > (ulong)written);
        Assert.True(advanced > (ulong)written, $"the slot stayed at {advanced:X} (created at {created:X}, WAL written to {(ulong)written:X})");
        Assert.Empty(await source.ReadAsync(SourcePosition.Start, 10, None));

        // A change read but not confirmed holds the slot before its transaction, heartbeats or not.
        await db.ExecuteAsync("INSERT INTO tickets VALUES (1)");
        var change = Assert.Single(await ReadAsync(source, SourcePosition.Start, 1));
        await WriteOtherTableAsync(db, 10);
        await Task.Delay(1500);
        var held = (await db.ConfirmedFlushAsync(source.SlotName))!.Value;
        Assert.True(held <= CommitLsnOf(change), $"the slot moved to {held:X}, past the unconfirmed commit at {CommitLsnOf(change):X}");

        // Once confirmed, the next heartbeat takes it further than the change.
        await source.ConfirmAsync(change.Position, None);
        await WriteOtherTableAsync(db, 5);
        var beyond = (ulong)(await db.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()"));
        Assert.True(await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > beyond) > beyond);
    }

    private static async Task WriteOtherTableAsync(PostgresTestDatabase db, int transactions)
    {
        for (var i = 0; i < transactions; i++)
        {
            await db.ExecuteAsync("INSERT INTO audit (note) VALUES ('x')");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task After_dispose_no_replication_connection_uses_the_slot()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        var source = await StartedAsync(db.Source("wf-dispose", ["tickets"]));
        var pid = await WaitForActivePidAsync(db, source.SlotName);
        Assert.NotNull(pid);
        Assert.Equal(1L, await db.CountAsync("SELECT count(*) FROM pg_stat_replication WHERE pid = @pid", ("pid", pid)));

        await source.DisposeAsync();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && await db.CountAsync("SELECT count(*) FROM pg_stat_replication WHERE pid = @pid", ("pid", pid)) > 0)
            await Task.Delay(50);
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_stat_replication WHERE pid = @pid", ("pid", pid)));
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_replication_slots WHERE slot_name = @s AND active", ("s", source.SlotName)));
        // The slot itself stays, for the next start of the workflow.
        Assert.Equal(1L, await db.CountAsync("SELECT count(*) FROM pg_replication_slots WHERE slot_name = @s", ("s", source.SlotName)));
    }

    private static async Task<int?> WaitForActivePidAsync(PostgresTestDatabase db, string slot)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var pid = await db.ScalarAsync<int?>("SELECT active_pid FROM pg_replication_slots WHERE slot_name = @s", ("s", slot));
            if (pid is not null) return pid;
            await Task.Delay(50);
        }
        return null;
    }

    [Fact]
    public async Task A_large_value_left_unchanged_by_an_update_arrives_whole()
    {
        var db = await fixture.CreateDatabaseAsync();
        // EXTERNAL storage: out of line and uncompressed, so that pgoutput sends 'unchanged' for it.
        await db.ExecuteAsync("CREATE TABLE docs (id int PRIMARY KEY, title text, body text)");
        await db.ExecuteAsync("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL");
        await db.ExecuteAsync("CREATE TABLE full_docs (id int PRIMARY KEY, title text, body text)");
        await db.ExecuteAsync("ALTER TABLE full_docs ALTER COLUMN body SET STORAGE EXTERNAL");
        await db.ExecuteAsync("ALTER TABLE full_docs REPLICA IDENTITY FULL");
        await using var source = await StartedAsync(db.Source("wf-toast", ["docs", "full_docs"]));

        var body = RandomText(200_000);
        await db.ExecuteAsync("INSERT INTO docs VALUES (1, 'first', @body)", ("body", body));
        await db.ExecuteAsync("UPDATE docs SET title = 'second' WHERE id = 1");
        await db.ExecuteAsync("INSERT INTO full_docs VALUES (1, 'first', @body)", ("body", body));
        await db.ExecuteAsync("UPDATE full_docs SET title = 'second' WHERE id = 1");

        var changes = await ReadAsync(source, SourcePosition.Start, 4);
        var update = changes[1];
        Assert.Equal(ChangeOperation.Update, update.Operation);
        Assert.Equal("second", update.After!["title"]);
        Assert.Equal(body, update.After["body"]); // read back from the table by key

        var fullUpdate = changes[3];
        Assert.Equal(body, fullUpdate.After!["body"]); // taken from the old row
        Assert.Equal(body, fullUpdate.Before!["body"]);
        Assert.Equal("first", fullUpdate.Before["title"]);
    }

    [Fact]
    public async Task A_large_unchanged_value_of_a_row_deleted_since_is_left_out_never_a_placeholder()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE docs (id int PRIMARY KEY, title text, body text)");
        await db.ExecuteAsync("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL");
        // The slot exists but nobody reads while the row is updated and then deleted.
        await (await StartedAsync(db.Source("wf-toast-gone", ["docs"]))).DisposeAsync();
        await db.ExecuteAsync("INSERT INTO docs VALUES (1, 'first', @body)", ("body", RandomText(50_000)));
        await db.ExecuteAsync("UPDATE docs SET title = 'second' WHERE id = 1");
        await db.ExecuteAsync("DELETE FROM docs");

        await using var source = db.Source("wf-toast-gone", ["docs"]);
        await source.PrepareAsync(None);
        var changes = await ReadAsync(source, SourcePosition.Start, 3);
        var update = changes[1];
        Assert.Equal("second", update.After!["title"]);
        Assert.False(update.After.ContainsKey("body"));
        Assert.Equal(ChangeOperation.Delete, changes[2].Operation);
    }

    [Fact]
    public async Task A_column_added_while_streaming_appears_in_the_next_changes()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE products (sku text PRIMARY KEY, name text)");
        await using var source = await StartedAsync(db.Source("wf-ddl", ["products"]));

        await db.ExecuteAsync("INSERT INTO products VALUES ('a', 'tea')");
        var first = Assert.Single(await ReadAsync(source, SourcePosition.Start, 1));
        await db.ExecuteAsync("ALTER TABLE products ADD COLUMN category text DEFAULT 'drinks'");
        await db.ExecuteAsync("INSERT INTO products VALUES ('b', 'coffee')");
        await db.ExecuteAsync("UPDATE products SET category = NULL WHERE sku = 'a'");
        await db.ExecuteAsync("ALTER TABLE products DROP COLUMN name");
        await db.ExecuteAsync("INSERT INTO products VALUES ('c', 'food')");

        var later = await ReadAsync(source, first.Position, 3);
        Assert.Equal(["sku", "name"], first.After!.Keys);
        Assert.Equal(["sku", "name", "category"], later[0].After!.Keys);
        Assert.Equal("drinks", later[0].After!["category"]);
        Assert.True(later[1].After!.ContainsKey("category"));
        Assert.Null(later[1].After!["category"]);
        Assert.Equal(["sku", "category"], later[2].After!.Keys);
    }

    [Fact]
    public async Task The_buffer_stays_within_its_bound_while_nobody_reads_and_a_large_transaction_arrives_whole()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, note text)");
        var options = new PostgresSourceOptions { MaxBufferedChanges = 50, HeartbeatInterval = TimeSpan.Zero };
        await using var source = await StartedAsync(db.Source("wf-bounded", ["tickets"], options));

        await db.ExecuteAsync("INSERT INTO tickets SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g");
        var head = await ReadAsync(source, SourcePosition.Start, 1, page: 1);

        // It fills up to the bound, and stays there.
        var peak = 0;
        var full = DateTime.MinValue;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && (full == DateTime.MinValue || DateTime.UtcNow < full.AddSeconds(1)))
        {
            var buffered = source.BufferedChanges;
            peak = Math.Max(peak, buffered);
            if (buffered == options.MaxBufferedChanges && full == DateTime.MinValue) full = DateTime.UtcNow;
            await Task.Delay(10);
        }
        Assert.NotEqual(DateTime.MinValue, full);
        Assert.Equal(options.MaxBufferedChanges, peak);

        var rest = await ReadAsync(source, head[0].Position, 2999, page: 200);
        Assert.Equal(Enumerable.Range(2, 2999).Select(i => (long)i), rest.Select(c => c.Key.GetInt64("id")));
        Assert.Single(rest.Select(CommitLsnOf).Append(CommitLsnOf(head[0])).Distinct());
        Assert.EndsWith(":00002999", rest[^1].Position.Value);
    }

    [Fact]
    public async Task A_slot_that_is_gone_although_the_workflow_has_a_checkpoint_is_reported_lost_and_not_recreated()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        SourcePosition checkpoint;
        string slot;
        await using (var source = await StartedAsync(db.Source("wf-lost", ["tickets"])))
        {
            await db.ExecuteAsync("INSERT INTO tickets VALUES (1)");
            checkpoint = Assert.Single(await ReadAsync(source, SourcePosition.Start, 1)).Position;
            await source.ConfirmAsync(checkpoint, None);
            slot = source.SlotName;
        }
        await DropSlotAsync(db, slot);

        await using var restarted = db.Source("wf-lost", ["tickets"]);
        await restarted.PrepareAsync(None);
        var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => restarted.ReadAsync(checkpoint, 10, None));
        Assert.Contains($"Replication slot '{slot}' was lost", error.Message);
        Assert.Contains("re-snapshot", error.Message);
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_replication_slots WHERE slot_name = @s", ("s", slot)));

        // Removing the capture and starting from the beginning is the way back: the existing row comes from the new snapshot.
        await PostgresLogicalSource.RemoveCaptureAsync(db.ConnectionString, db.Id("wf-lost"), null, None);
        Assert.Equal(0L, await db.CountAsync("SELECT count(*) FROM pg_publication WHERE pubname = @p", ("p", slot)));
        await using var fresh = db.Source("wf-lost", ["tickets"]);
        await fresh.PrepareAsync(None);
        var snapshot = Assert.Single(await ReadAsync(fresh, SourcePosition.Start, 1));
        Assert.Equal((ChangeOperation.Read, 1L), (snapshot.Operation, snapshot.Key["id"]));
        await db.ExecuteAsync("INSERT INTO tickets VALUES (2)");
        Assert.Equal(2L, Assert.Single(await ReadAsync(fresh, snapshot.Position, 1)).Key["id"]);
    }

    [Fact]
    public async Task A_publication_dropped_under_a_running_slot_stops_the_workflow_with_a_clear_error()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        await (await StartedAsync(db.Source("wf-nopub", ["tickets"]))).DisposeAsync();
        var name = PostgresCaptureNames.ObjectName(db.Id("wf-nopub"));
        await db.ExecuteAsync($"DROP PUBLICATION {name}");
        await db.ExecuteAsync("INSERT INTO tickets VALUES (1)");

        await using var source = db.Source("wf-nopub", ["tickets"]);
        await source.PrepareAsync(None); // creates the publication again, after the insert
        var error = await Assert.ThrowsAsync<SourceConfigurationException>(async () =>
        {
            for (var i = 0; i < 100; i++) await source.ReadAsync(SourcePosition.Start, 10, None);
        });
        Assert.Contains($"its publication '{name}' was dropped", error.Message);
    }

    private static async Task DropSlotAsync(PostgresTestDatabase db, string slot)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                await db.ExecuteAsync("SELECT pg_drop_replication_slot(@s)", ("s", slot));
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task Lag_reports_the_WAL_the_slot_retains_and_the_age_of_the_oldest_unconfirmed_commit()
    {
        var db = await fixture.CreateDatabaseAsync();
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY, note text)");
        await using var source = await StartedAsync(db.Source("wf-lag", ["tickets"]));

        await db.ExecuteAsync("INSERT INTO tickets SELECT g, repeat('x', 200) FROM generate_series(1, 500) g");
        var changes = await ReadAsync(source, SourcePosition.Start, 500);
        await Task.Delay(1100);
        var lag = await source.GetLagAsync(changes[^1].Position, None);
        Assert.True(lag.PendingBytes > 100_000, $"retained {lag.PendingBytes} bytes");
        Assert.True(lag.OldestPendingAge >= TimeSpan.FromSeconds(1), $"age {lag.OldestPendingAge}");

        await source.ConfirmAsync(changes[^1].Position, None);
        lag = await source.GetLagAsync(changes[^1].Position, None);
        Assert.Null(lag.OldestPendingAge);
    }

    [Fact]
    public async Task A_replication_user_that_owns_its_tables_captures_without_superuser()
    {
        var db = await fixture.CreateDatabaseAsync();
        var role = "capture_" + Guid.NewGuid().ToString("N")[..8];
        await db.ExecuteAsync($"CREATE ROLE {role} LOGIN REPLICATION");
        var database = new NpgsqlConnectionStringBuilder(db.ConnectionString).Database;
        await db.ExecuteAsync($"GRANT CREATE ON DATABASE \"{database}\" TO {role}");
        await db.ExecuteAsync("CREATE TABLE stores (id int PRIMARY KEY, city text)");
        await db.ExecuteAsync($"ALTER TABLE stores OWNER TO {role}");
        var asRole = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role }.ToString();

        var options = new PostgresSourceOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(200), StatusInterval = TimeSpan.FromSeconds(1) };
        await using var source = await StartedAsync(db.Source("wf-role", ["stores"], options, asRole));
        await db.ExecuteAsync("INSERT INTO stores VALUES (1, 'Nantes')");
        var change = Assert.Single(await ReadAsync(source, SourcePosition.Start, 1));
        Assert.Equal("Nantes", change.After!["city"]);

        // Heartbeats work for the role too: with everything confirmed, the slot passes the change.
        await source.ConfirmAsync(change.Position, None);
        await db.ExecuteAsync("CREATE TABLE other (id int)");
        Assert.True(await db.WaitForConfirmedFlushAsync(source.SlotName, lsn => lsn > CommitLsnOf(change) + 1) > CommitLsnOf(change) + 1);
    }

    private static string RandomText(int length)
    {
        var random = new Random(42);
        const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(length, random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[r.Next(Alphabet.Length)];
        });
    }
}
