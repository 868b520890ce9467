using System.Diagnostics;
using Npgsql;
using Npgsql.Replication;
using RetailStreaming.TestSupport;

namespace RetailStreaming.Connectors.Tests.Postgres;

/// <summary>
/// Server settings that stop capture before anything is created: a server of its own with one
/// replication slot and one WAL sender, and one restart with wal_level = replica.
/// </summary>
public sealed class PostgresServerLimitTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private PostgresServer _server = null!;

    public async Task InitializeAsync() => _server = await PostgresServer.StartAsync(maxReplicationSlots: 1);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<PostgresTestDatabase> DatabaseAsync()
    {
        var db = new PostgresTestDatabase(_server, await _server.CreateDatabaseAsync("limits"));
        await db.ExecuteAsync("CREATE TABLE tickets (id int PRIMARY KEY)");
        return db;
    }

    [Fact]
    public async Task No_free_replication_slot()
    {
        var db = await DatabaseAsync();
        await db.ExecuteAsync("SELECT pg_create_logical_replication_slot('someone_else', 'pgoutput')");
        try
        {
            await using var source = db.Source("wf-slots", ["tickets"]);
            var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
            Assert.Contains("No replication slot is free: max_replication_slots = 1 and 1 are in use", error.Message);
            await PostgresConfigurationErrorTests.AssertNothingCreatedAsync(db, source.SlotName);
        }
        finally
        {
            await db.ExecuteAsync("SELECT pg_drop_replication_slot('someone_else')");
        }
    }

    [Fact]
    public async Task No_free_wal_sender()
    {
        var db = await DatabaseAsync();
        // Another replication connection holds the only WAL sender.
        await using (var other = new LogicalReplicationConnection(db.ConnectionString))
        {
            await other.Open();
            await using var source = db.Source("wf-senders", ["tickets"]);
            var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
            Assert.Contains("No WAL sender is free: max_wal_senders = 1 and 1 are in use", error.Message);
            await PostgresConfigurationErrorTests.AssertNothingCreatedAsync(db, source.SlotName);
        }
    }

    [Fact]
    public async Task Wal_level_not_logical()
    {
        var db = await DatabaseAsync();
        await db.ExecuteAsync("ALTER SYSTEM SET wal_level = replica");
        await RestartAsync();
        try
        {
            await using var source = db.Source("wf-wal", ["tickets"]);
            var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => source.PrepareAsync(None));
            Assert.Contains("wal_level is 'replica'; logical replication needs wal_level = logical", error.Message);
            await PostgresConfigurationErrorTests.AssertNothingCreatedAsync(db, source.SlotName);
        }
        finally
        {
            await db.ExecuteAsync("ALTER SYSTEM RESET wal_level");
            await RestartAsync();
        }
    }

    [Fact]
    public async Task A_slot_invalidated_by_max_slot_wal_keep_size_is_reported_lost()
    {
        var db = await DatabaseAsync();
        await using (var source = await PostgresTestDatabase.StartedAsync(db.Source("wf-keep", ["tickets"])))
        {
        }
        var slot = Connectors.Postgres.PostgresCaptureNames.ObjectName(db.Id("wf-keep"));
        await db.ExecuteAsync("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
        await db.ExecuteAsync("SELECT pg_reload_conf()");
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (await db.ScalarAsync<string>("SELECT wal_status FROM pg_replication_slots WHERE slot_name = @s", ("s", slot)) != "lost")
            {
                Assert.True(DateTime.UtcNow < deadline, "the slot was not invalidated");
                await db.ExecuteAsync("INSERT INTO tickets SELECT coalesce(max(id), 0) + 1 FROM tickets");
                await db.ExecuteAsync("SELECT pg_switch_wal()");
                await db.ExecuteAsync("CHECKPOINT");
            }

            await using var restarted = db.Source("wf-keep", ["tickets"]);
            var error = await Assert.ThrowsAsync<SourceConfigurationException>(() => restarted.PrepareAsync(None));
            Assert.Contains($"Replication slot '{slot}' was lost: its WAL was removed (wal_status = lost", error.Message);
            Assert.Contains("re-snapshot", error.Message);
        }
        finally
        {
            await db.ExecuteAsync("ALTER SYSTEM RESET max_slot_wal_keep_size");
            await db.ExecuteAsync("SELECT pg_reload_conf()");
        }
    }

    /// <summary>Restarts the test server (pg_ctl, as the postgres user when the tests run as root).</summary>
    private async Task RestartAsync()
    {
        NpgsqlConnection.ClearAllPools();
        var bin = Environment.GetEnvironmentVariable("PG_BIN") is { Length: > 0 } configured
            ? configured
            : Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "pg_ctl")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .First();
        var pgCtl = Path.Combine(bin, "pg_ctl");
        string[] args = ["-D", _server.DataDirectory, "-l", Path.Combine(Path.GetDirectoryName(_server.DataDirectory)!, "log"), "-w", "-m", "fast", "restart"];
        var asRoot = Environment.UserName == "root";
        var psi = new ProcessStartInfo(asRoot ? "runuser" : pgCtl) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asRoot) foreach (var a in (string[])["-u", "postgres", "--", pgCtl]) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"pg_ctl restart failed: {output}");
    }
}
