using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Sqlite;

public sealed class SqliteChangeTableSourceTests : IDisposable
{
    private readonly SqliteTestDatabase _db = new();
    private static readonly CancellationToken None = CancellationToken.None;

    public void Dispose() => _db.Dispose();

    private void CreateProducts(int rows)
    {
        _db.Execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL)");
        using var connection = _db.Open();
        using var transaction = connection.BeginTransaction();
        for (var i = 1; i <= rows; i++)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO products VALUES ($id, $name, $price)";
            command.Parameters.AddWithValue("$id", i);
            command.Parameters.AddWithValue("$name", $"product {i}");
            command.Parameters.AddWithValue("$price", i * 1.5);
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    [Fact]
    public async Task Snapshot_then_streaming_has_no_gap_and_no_duplicate_while_the_client_writes()
    {
        CreateProducts(300);
        using var stop = new CancellationTokenSource();
        var writesAfterStart = 0;
        // Inserts always record a change; updates and deletes of rows already deleted record none
        // (on a loaded machine the writer may delete most seed rows before the capture starts).
        var insertsAfterStart = 0;
        var writer = Task.Run(() =>
        {
            using var connection = _db.Open();
            var random = new Random(7);
            var next = 1000;
            while (!stop.IsCancellationRequested)
            {
                using var command = connection.CreateCommand();
                switch (random.Next(3))
                {
                    case 0:
                        command.CommandText = "INSERT INTO products VALUES ($id, 'new', 1.0)";
                        command.Parameters.AddWithValue("$id", next++);
                        Interlocked.Increment(ref insertsAfterStart);
                        break;
                    case 1:
                        command.CommandText = "UPDATE products SET price = price + 1, name = name || '+' WHERE id = $id";
                        command.Parameters.AddWithValue("$id", random.Next(1, 301));
                        break;
                    default:
                        command.CommandText = "DELETE FROM products WHERE id = $id";
                        command.Parameters.AddWithValue("$id", random.Next(1, 301));
                        break;
                }
                command.ExecuteNonQuery();
                Interlocked.Increment(ref writesAfterStart);
            }
        });

        // The client is writing before, while and after the capture is prepared.
        while (Volatile.Read(ref writesAfterStart) < 50) await Task.Delay(5);
        await using var source = _db.Source("wf-1", "products");
        await source.PrepareAsync(None);
        var insertsAtPrepare = Volatile.Read(ref insertsAfterStart);
        while (Volatile.Read(ref insertsAfterStart) < insertsAtPrepare + 120) await Task.Delay(5);
        await stop.CancelAsync();
        await writer;

        var changes = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start, page: 37);

        // Positions strictly increase.
        for (var i = 1; i < changes.Count; i++)
            Assert.True(changes[i - 1].Position < changes[i].Position, $"{changes[i - 1].Position} !< {changes[i].Position}");

        // The snapshot comes first, then only trigger-recorded changes.
        var snapshotCount = changes.TakeWhile(c => c.Operation == ChangeOperation.Read).Count();
        Assert.True(snapshotCount > 0);
        Assert.DoesNotContain(changes.Skip(snapshotCount), c => c.Operation == ChangeOperation.Read);
        Assert.True(changes.Count > snapshotCount + 100);

        // Replaying the changes gives the table as it is: every update and delete finds the row
        // exactly as the previous change left it (no gap), and no row is created twice (no duplicate).
        var state = new Dictionary<long, RowData>();
        foreach (var change in changes)
        {
            var id = change.Key.GetInt64("id");
            Assert.Equal("sqlite:retail", change.Source);
            Assert.Equal("products", change.Table);
            switch (change.Operation)
            {
                case ChangeOperation.Read or ChangeOperation.Insert:
                    Assert.False(state.ContainsKey(id), $"row {id} created twice at {change.Position}");
                    state[id] = change.After!;
                    break;
                case ChangeOperation.Update:
                    Assert.True(state.ContainsKey(id), $"update of unknown row {id} at {change.Position}");
                    AssertRow(state[id], change.Before!);
                    state[id] = change.After!;
                    break;
                case ChangeOperation.Delete:
                    Assert.True(state.ContainsKey(id), $"delete of unknown row {id} at {change.Position}");
                    AssertRow(state[id], change.Before!);
                    Assert.Null(change.After);
                    state.Remove(id);
                    break;
            }
        }

        var table = _db.Query("SELECT id, name, price FROM products ORDER BY id", r => (Id: r.GetInt64(0), Name: r.GetString(1), Price: r.GetDouble(2)));
        Assert.Equal(table.Select(r => r.Id), state.Keys.Order());
        foreach (var row in table)
        {
            Assert.Equal(row.Name, state[row.Id]["name"]);
            Assert.Equal(row.Price, state[row.Id]["price"]);
        }
    }

    [Fact]
    public async Task ReadAsync_resumes_after_the_given_position()
    {
        CreateProducts(20);
        await using var source = _db.Source("wf-1", "products");
        await source.PrepareAsync(None);
        var all = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start);
        Assert.Equal(20, all.Count);

        var page = await source.ReadAsync(all[4].Position, 3, None);
        Assert.Equal(all.Skip(5).Take(3).Select(c => c.Position), page.Select(c => c.Position));
        Assert.Equal(6L, page[0].Key.GetInt64("id"));

        _db.Execute("UPDATE products SET price = 99 WHERE id = 3");
        var next = await source.ReadAsync(all[^1].Position, 10, None);
        var update = Assert.Single(next);
        Assert.Equal(ChangeOperation.Update, update.Operation);
        Assert.Equal(4.5, update.Before!["price"]);
        Assert.Equal(99.0, update.After!["price"]);
        Assert.True(update.CommitTime > DateTimeOffset.UtcNow.AddMinutes(-1) && update.CommitTime <= DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task ConfirmAsync_prunes_only_up_to_the_checkpoint_and_lag_counts_the_rest()
    {
        CreateProducts(20);
        await using var source = _db.Source("wf-1", "products");
        await source.PrepareAsync(None);
        var all = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start);

        var lag = await source.GetLagAsync(all[9].Position, None);
        Assert.Equal(10, lag.PendingChanges);
        Assert.NotNull(lag.OldestPendingAge);
        Assert.True(lag.OldestPendingAge >= TimeSpan.Zero && lag.OldestPendingAge < TimeSpan.FromMinutes(1));

        await source.ConfirmAsync(all[9].Position, None);
        Assert.Equal(10L, _db.Scalar($"SELECT count(*) FROM {source.ChangeTableName}"));
        var rest = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start);
        Assert.Equal(all.Skip(10).Select(c => c.Position), rest.Select(c => c.Position));

        // Sequences are never reused after pruning everything (AUTOINCREMENT).
        await source.ConfirmAsync(all[^1].Position, None);
        Assert.Equal(0L, _db.Scalar($"SELECT count(*) FROM {source.ChangeTableName}"));
        Assert.Equal(SourceLag.None, await source.GetLagAsync(all[^1].Position, None));
        _db.Execute("INSERT INTO products VALUES (100, 'late', 1)");
        var late = Assert.Single(await source.ReadAsync(all[^1].Position, 10, None));
        Assert.True(late.Position > all[^1].Position);
    }

    [Fact]
    public async Task Retention_keeps_changes_below_the_checkpoint_for_replays_and_the_reach_says_how_far_back()
    {
        CreateProducts(20);
        await using var source = new SqliteChangeTableSource("wf-retain", _db.ConnectionString, ["products"], NullLogger.Instance, retention: 5);
        await source.PrepareAsync(None);
        var all = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start);
        Assert.Equal(SqliteChangeTableSource.PositionOf(0), (await source.GetReplayReachAsync(SourcePosition.Start, None)).Earliest);

        await source.ConfirmAsync(all[14].Position, None);

        // Changes 11..20 are left: the 5 at or below the checkpoint 15 that retention keeps, and the 5 after it.
        Assert.Equal(10L, _db.Scalar($"SELECT count(*) FROM {source.ChangeTableName}"));
        var reach = await source.GetReplayReachAsync(all[14].Position, None);
        Assert.Equal(all[9].Position, reach.Earliest);
        Assert.Contains("source.retention", reach.Explanation);
        // A replay from the earliest reads every change after it again.
        Assert.Equal(all.Skip(10).Select(c => c.Position), (await SqliteTestDatabase.ReadAllAsync(source, reach.Earliest)).Select(c => c.Position));
        // The next confirmation may prune up to checkpoint - retention: the reach never promises less.
        Assert.Equal(all[14].Position, (await source.GetReplayReachAsync(all[19].Position, None)).Earliest);
    }

    [Fact]
    public async Task A_resnapshot_reads_the_table_again_after_the_changes_already_captured()
    {
        CreateProducts(3);
        await using var source = _db.Source("wf-resnap", "products");
        await source.PrepareAsync(None);
        _db.Execute("UPDATE products SET price = 9 WHERE id = 2");
        var before = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start);
        Assert.Equal(4, before.Count);

        var id = await source.RequestSnapshotAsync("PRODUCTS", None);

        Assert.Equal("sqlite-5", id);
        var again = await SqliteTestDatabase.ReadAllAsync(source, before[^1].Position);
        Assert.Equal([ChangeOperation.Read, ChangeOperation.Read, ChangeOperation.Read], again.Select(c => c.Operation));
        Assert.Equal([1L, 2L, 3L], again.Select(c => c.Key.GetInt64("id")));
        Assert.Equal(9.0, again[1].After!.GetDouble("price"));
        var e = await Assert.ThrowsAsync<ArgumentException>(() => source.RequestSnapshotAsync("orders", None));
        Assert.Contains("not captured", e.Message);
    }

    [Fact]
    public async Task A_missing_table_is_a_configuration_error_naming_it_and_the_existing_tables()
    {
        CreateProducts(1);
        _db.Execute("CREATE TABLE stores (id INTEGER PRIMARY KEY)");
        await using var source = _db.Source("wf-1", "products", "tickets");
        var e = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
        Assert.Contains("'tickets'", e.Message);
        Assert.Contains("products, stores", e.Message);
        // Nothing was applied.
        Assert.DoesNotContain(_db.SchemaObjects("table"), t => t.StartsWith("_rs_", StringComparison.Ordinal));
        Assert.Empty(_db.SchemaObjects("trigger"));
    }

    [Fact]
    public async Task A_table_without_primary_key_is_a_configuration_error_naming_it()
    {
        _db.Execute("CREATE TABLE audit_log (at TEXT, message TEXT)");
        await using var source = _db.Source("wf-1", "audit_log");
        var e = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
        Assert.Contains("'audit_log'", e.Message);
        Assert.Contains("primary key", e.Message);
    }

    [Fact]
    public async Task A_missing_database_file_is_a_configuration_error_and_is_not_created()
    {
        var path = Path.Combine(Path.GetDirectoryName(_db.Path)!, "nowhere.db");
        await using var source = new SqliteChangeTableSource("wf-1", $"Data Source={path}", ["products"], NullLogger.Instance);
        var e = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
        Assert.Contains(path, e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.False(File.Exists(path));

        await Assert.ThrowsAsync<SourceConfigurationException>(() =>
            SqliteChangeTableSource.RemoveCaptureAsync($"Data Source={path}", "wf-1", null, None));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task Values_keep_their_type_and_NULL_stays_distinct_from_the_empty_string()
    {
        _db.Execute("CREATE TABLE t (id INTEGER PRIMARY KEY, empty TEXT, missing TEXT, big INTEGER, small INTEGER, real REAL, whole REAL, looks_hex TEXT, looks_blob TEXT, unicode TEXT)");
        await using var source = _db.Source("wf-1", "t");
        await source.PrepareAsync(None);
        _db.Execute("INSERT INTO t VALUES (1, '', NULL, $big, $small, $real, 3.0, 'DEADBEEF', '{\"$hex\":\"00\"}', 'é€😀 \"quoted\"')",
            ("$big", long.MaxValue), ("$small", long.MinValue), ("$real", 0.1 + 0.2));

        var change = Assert.Single(await source.ReadAsync(SourcePosition.Start, 10, None));
        var row = change.After!;
        Assert.Equal(ChangeOperation.Insert, change.Operation);
        Assert.Equal("", row["empty"]);
        Assert.True(row.ContainsKey("missing"));
        Assert.Null(row["missing"]);
        Assert.Equal(long.MaxValue, row["big"]);
        Assert.Equal(long.MinValue, row["small"]);
        Assert.Equal(0.1 + 0.2, row["real"]);
        Assert.IsType<double>(row["whole"]);
        Assert.Equal(3.0, row["whole"]);
        Assert.Equal("DEADBEEF", row["looks_hex"]);
        Assert.Equal("{\"$hex\":\"00\"}", row["looks_blob"]);
        Assert.Equal("é€😀 \"quoted\"", row["unicode"]);
        Assert.Equal(1L, change.Key["id"]);
        Assert.Single(change.Key);
    }

    [Fact]
    public async Task Blobs_round_trip_as_byte_arrays_in_keys_and_rows()
    {
        _db.Execute("CREATE TABLE files (hash BLOB PRIMARY KEY, content BLOB, note TEXT)");
        await using var source = _db.Source("wf-1", "files");
        await source.PrepareAsync(None);
        var hash = new byte[] { 0x00, 0xFF, 0x10, 0x7F };
        var content = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        _db.Execute("INSERT INTO files VALUES ($h, $c, 'x')", ("$h", hash), ("$c", content));
        _db.Execute("UPDATE files SET content = x'' WHERE hash = $h", ("$h", hash));
        _db.Execute("DELETE FROM files WHERE hash = $h", ("$h", hash));

        var changes = await source.ReadAsync(SourcePosition.Start, 10, None);
        Assert.Equal([ChangeOperation.Insert, ChangeOperation.Update, ChangeOperation.Delete], changes.Select(c => c.Operation));
        Assert.All(changes, c => Assert.Equal(hash, Assert.IsType<byte[]>(c.Key["hash"])));
        Assert.Equal(content, Assert.IsType<byte[]>(changes[0].After!["content"]));
        Assert.Equal(content, Assert.IsType<byte[]>(changes[1].Before!["content"]));
        Assert.Empty(Assert.IsType<byte[]>(changes[1].After!["content"]));
        Assert.Empty(Assert.IsType<byte[]>(changes[2].Before!["content"]));
        Assert.Null(changes[2].After);
    }

    [Fact]
    public async Task An_added_column_is_carried_by_the_next_changes_without_a_new_snapshot()
    {
        CreateProducts(3);
        await using (var first = _db.Source("wf-1", "products"))
            await first.PrepareAsync(None);

        // A restart after the schema changed: PrepareAsync recreates the triggers.
        _db.Execute("ALTER TABLE products ADD COLUMN color TEXT DEFAULT 'red'");
        await using var source = _db.Source("wf-1", "products");
        await source.PrepareAsync(None);
        _db.Execute("UPDATE products SET color = 'blue' WHERE id = 1");

        // While running: the next ReadAsync notices the schema change.
        _db.Execute("ALTER TABLE products ADD COLUMN size INTEGER");
        var before = await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start);
        _db.Execute("UPDATE products SET size = 42 WHERE id = 2");
        var after = await source.ReadAsync(before[^1].Position, 10, None);

        Assert.Equal(3, before.Count(c => c.Operation == ChangeOperation.Read));
        var blue = Assert.Single(before, c => c.Operation == ChangeOperation.Update);
        Assert.Equal("red", blue.Before!["color"]);
        Assert.Equal("blue", blue.After!["color"]);
        var sized = Assert.Single(after);
        Assert.Equal(ChangeOperation.Update, sized.Operation);
        Assert.Null(sized.Before!["size"]);
        Assert.Equal(42L, sized.After!["size"]);
        Assert.Equal("red", sized.After!["color"]);
        Assert.Equal(3, _db.SchemaObjects("trigger").Count);
    }

    [Fact]
    public async Task Preparing_again_after_a_restart_does_not_snapshot_again()
    {
        CreateProducts(5);
        List<ChangeEvent> firstRun;
        await using (var first = _db.Source("wf-1", "products"))
        {
            await first.PrepareAsync(None);
            await first.PrepareAsync(None);
            firstRun = await SqliteTestDatabase.ReadAllAsync(first, SourcePosition.Start);
        }
        _db.Execute("INSERT INTO products VALUES (6, 'six', 9)");

        await using var second = _db.Source("wf-1", "products");
        await second.PrepareAsync(None);
        var all = await SqliteTestDatabase.ReadAllAsync(second, SourcePosition.Start);
        Assert.Equal(5, firstRun.Count);
        Assert.Equal(firstRun.Select(c => c.Position), all.Take(5).Select(c => c.Position));
        var insert = Assert.Single(all.Skip(5));
        Assert.Equal(ChangeOperation.Insert, insert.Operation);
        Assert.Equal(6L, insert.Key["id"]);
        Assert.Equal("wal", _db.Scalar("PRAGMA journal_mode"));
    }

    [Fact]
    public async Task Workflows_capture_independently_and_a_table_added_later_gets_its_own_snapshot()
    {
        CreateProducts(2);
        _db.Execute("CREATE TABLE stores (code TEXT, region TEXT, name TEXT, PRIMARY KEY (region, code))");
        _db.Execute("INSERT INTO stores VALUES ('S1', 'north', 'Main street')");
        await using var a = _db.Source("client-a/tickets", "products");
        await using var b = _db.Source("client-b", "products", "STORES");
        await a.PrepareAsync(None);
        await b.PrepareAsync(None);
        Assert.NotEqual(a.ChangeTableName, b.ChangeTableName);
        Assert.StartsWith("_rs_changes_client_a_tickets_", a.ChangeTableName);

        _db.Execute("UPDATE stores SET name = 'High street'");
        Assert.Equal(2, (await SqliteTestDatabase.ReadAllAsync(a, SourcePosition.Start)).Count);
        var bChanges = await SqliteTestDatabase.ReadAllAsync(b, SourcePosition.Start);
        Assert.Equal(4, bChanges.Count);
        var store = bChanges[^1];
        Assert.Equal("stores", store.Table);
        Assert.Equal(["region", "code"], store.Key.Keys);
        Assert.Equal("north", store.Key["region"]);

        // Workflow a adds stores: snapshot of stores only, after what a already had.
        await using var a2 = _db.Source("client-a/tickets", "products", "stores");
        await a2.PrepareAsync(None);
        var aChanges = await SqliteTestDatabase.ReadAllAsync(a2, SourcePosition.Start);
        Assert.Equal(3, aChanges.Count);
        Assert.Equal(ChangeOperation.Read, aChanges[2].Operation);
        Assert.Equal("High street", aChanges[2].After!["name"]);

        // Workflow b drops stores: its triggers on stores go.
        await using var b2 = _db.Source("client-b", "products");
        await b2.PrepareAsync(None);
        _db.Execute("UPDATE stores SET name = 'Low street'");
        Assert.Equal(bChanges.Count, (await SqliteTestDatabase.ReadAllAsync(b2, SourcePosition.Start)).Count);
        Assert.Equal(4, (await SqliteTestDatabase.ReadAllAsync(a2, SourcePosition.Start)).Count);
    }

    [Fact]
    public async Task An_update_of_the_primary_key_is_a_delete_and_an_insert()
    {
        CreateProducts(1);
        await using var source = _db.Source("wf-1", "products");
        await source.PrepareAsync(None);
        _db.Execute("UPDATE products SET id = 10 WHERE id = 1");
        var changes = (await SqliteTestDatabase.ReadAllAsync(source, SourcePosition.Start)).Skip(1).ToList();
        Assert.Equal([ChangeOperation.Delete, ChangeOperation.Insert], changes.Select(c => c.Operation));
        Assert.Equal(1L, changes[0].Key["id"]);
        Assert.Equal(10L, changes[1].Key["id"]);
        Assert.Equal("product 1", changes[1].After!["name"]);
    }

    [Fact]
    public async Task A_change_row_that_cannot_be_read_stops_the_read_naming_its_sequence()
    {
        CreateProducts(2);
        await using var source = _db.Source("wf-1", "products");
        await source.PrepareAsync(None);
        _db.Execute($"INSERT INTO {source.ChangeTableName} (seq, tbl, op, key_json, after_json, committed_at) VALUES (77, 'products', 'i', '{{\"id\": 3}}', 'not json', '2026-01-01T00:00:00.000Z')");

        var e = await Assert.ThrowsAsync<FormatException>(() => source.ReadAsync(SourcePosition.Start, 10, None));
        Assert.Contains("Change 77", e.Message);
        Assert.Contains("after_json", e.Message);
        // The rows before it are still readable; nothing after it is returned past it.
        Assert.Equal(2, (await source.ReadAsync(SourcePosition.Start, 2, None)).Count);
    }

    [Fact]
    public async Task A_wide_table_is_captured_whole()
    {
        var columns = Enumerable.Range(1, 130).Select(i => $"c{i}").ToList();
        _db.Execute($"CREATE TABLE wide (id INTEGER PRIMARY KEY, {string.Join(", ", columns.Select(c => c + " INTEGER"))})");
        await using var source = _db.Source("wf-1", "wide");
        await source.PrepareAsync(None);
        _db.Execute($"INSERT INTO wide VALUES (1, {string.Join(", ", columns.Select((_, i) => i % 7 == 0 ? "NULL" : (i * 10).ToString(CultureInfo.InvariantCulture)))})");
        var row = Assert.Single(await source.ReadAsync(SourcePosition.Start, 10, None)).After!;
        Assert.Equal(131, row.Count);
        for (var i = 0; i < columns.Count; i++)
            Assert.Equal(i % 7 == 0 ? null : (object)(long)(i * 10), row[columns[i]]);
    }

    [Fact]
    public async Task RemoveCaptureAsync_drops_the_triggers_and_the_change_table_only()
    {
        CreateProducts(2);
        await using (var source = _db.Source("wf-1", "products"))
            await source.PrepareAsync(None);
        await using (var other = _db.Source("wf-2", "products"))
            await other.PrepareAsync(None);
        Assert.Equal(6, _db.SchemaObjects("trigger").Count);

        await SqliteChangeTableSource.RemoveCaptureAsync(_db.ConnectionString, "wf-1", null, None);

        Assert.Equal(3, _db.SchemaObjects("trigger").Count);
        Assert.DoesNotContain(SqliteChangeTableSource.ChangeTableNameFor("wf-1"), _db.SchemaObjects("table"));
        Assert.Contains(SqliteChangeTableSource.ChangeTableNameFor("wf-2"), _db.SchemaObjects("table"));
        _db.Execute("INSERT INTO products VALUES (3, 'three', 3)");
        Assert.Equal(3L, _db.Scalar("SELECT count(*) FROM products"));
    }

    [Fact]
    public void Positions_are_fixed_width_and_foreign_positions_are_refused()
    {
        Assert.Equal("sqlite:0000000000000000042", SqliteChangeTableSource.PositionOf(42).Value);
        Assert.Equal(42, SqliteChangeTableSource.SequenceOf(SqliteChangeTableSource.PositionOf(42)));
        Assert.Equal(long.MaxValue, SqliteChangeTableSource.SequenceOf(SqliteChangeTableSource.PositionOf(long.MaxValue)));
        Assert.Equal(0, SqliteChangeTableSource.SequenceOf(SourcePosition.Start));
        Assert.True(SqliteChangeTableSource.PositionOf(9) < SqliteChangeTableSource.PositionOf(10));
        Assert.True(SourcePosition.Start < SqliteChangeTableSource.PositionOf(1));
        foreach (var foreign in new[] { "pg:0/16B3748", "sqlite:42", "sqlite:000000000000000004x", "sqlite:9999999999999999999", "SQLITE:0000000000000000042" })
            Assert.Throws<FormatException>(() => SqliteChangeTableSource.SequenceOf(new SourcePosition(foreign)));
    }

    private static void AssertRow(RowData expected, RowData actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (column, value) in expected)
            Assert.Equal(value, actual[column]);
    }
}
