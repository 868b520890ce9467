using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace RetailStreaming.TestSupport;

/// <summary>
/// A throwaway PostgreSQL server for tests and benchmarks: initdb in a temporary directory, a free
/// port on 127.0.0.1, <c>wal_level=logical</c>, started with pg_ctl and removed on dispose.
/// Durability settings are off (a test server need not survive a power cut), which makes it fast.
/// </summary>
/// <remarks>
/// PostgreSQL refuses to run as root; when the tests run as root the server runs as the
/// <c>postgres</c> user through <c>runuser</c>. Binaries come from <c>PG_BIN</c> or the newest
/// <c>/usr/lib/postgresql/*/bin</c>.
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _directory;
    private readonly bool _asPostgresUser;
    private int _databases;

    private PostgresServer(string bin, string directory, int port, bool asPostgresUser)
    {
        _bin = bin;
        _directory = directory;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    /// <summary>The server's port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The data directory (its <c>log</c> file holds the server log).</summary>
    public string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>A connection string to <paramref name="database"/> as the superuser <c>postgres</c>.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = database,
            Pooling = true,
            Timeout = 30,
            CommandTimeout = 120,
        }.ToString();

    /// <summary>Starts a server; throws with what is missing when PostgreSQL is not installed.</summary>
    public static async Task<PostgresServer> StartAsync(int maxReplicationSlots = 40, CancellationToken cancellationToken = default)
    {
        var bin = FindBinaries();
        var directory = Path.Combine(Path.GetTempPath(), $"rs-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var asPostgres = Environment.UserName == "root" || geteuid() == 0;
        var port = FreePort();
        var server = new PostgresServer(bin, directory, port, asPostgres);
        try
        {
            if (asPostgres) await RunAsync("chown", ["-R", "postgres:postgres", directory], cancellationToken);
            await server.PgAsync("initdb", ["-D", server.DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"], cancellationToken);
            await File.AppendAllTextAsync(Path.Combine(server.DataDirectory, "postgresql.conf"), $"""

                listen_addresses = '127.0.0.1'
                port = {port}
                unix_socket_directories = '{directory}'
                wal_level = logical
                max_replication_slots = {maxReplicationSlots}
                max_wal_senders = {maxReplicationSlots}
                max_connections = 200
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                """, cancellationToken);
            await server.PgAsync("pg_ctl", ["-D", server.DataDirectory, "-l", Path.Combine(directory, "log"), "-w", "-t", "60", "start"], cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates a new, empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? prefix = null, CancellationToken cancellationToken = default)
    {
        var name = $"{prefix ?? "test"}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..40].ToLowerInvariant();
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
        return ConnectionString(name);
    }

    /// <summary>The tail of the server log, for assertion messages.</summary>
    public string LogTail(int lines = 40)
    {
        var log = Path.Combine(_directory, "log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(lines)) : "(no server log)";
    }

    /// <summary>Stops the server (immediate) and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try { await PgAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "stop"], CancellationToken.None); }
            catch (InvalidOperationException) { /* already gone */ }
        }
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private Task PgAsync(string tool, string[] args, CancellationToken cancellationToken)
    {
        var exe = Path.Combine(_bin, tool);
        return _asPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", exe, .. args], cancellationToken)
            : RunAsync(exe, args, cancellationToken);
    }

    private static async Task RunAsync(string file, string[] args, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', args)} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }

    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("PG_BIN") is { Length: > 0 } configured)
            return File.Exists(Path.Combine(configured, "initdb"))
                ? configured
                : throw new InvalidOperationException($"PG_BIN={configured} has no initdb.");
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .ToList()
            : [];
        return candidates.FirstOrDefault()
               ?? throw new InvalidOperationException(
                   "PostgreSQL server binaries are missing: no initdb under /usr/lib/postgresql/*/bin. " +
                   "Install the server (apt-get install -y postgresql) or set PG_BIN to its bin directory.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
