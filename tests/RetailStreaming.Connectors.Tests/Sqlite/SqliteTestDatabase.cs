using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Sqlite;

/// <summary>A throwaway SQLite file in its own temporary directory, deleted on dispose.</summary>
public sealed class SqliteTestDatabase : IDisposable
{
    private readonly string _directory;

    public SqliteTestDatabase()
    {
        _directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rs-sqlite-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        Path = System.IO.Path.Combine(_directory, "retail.db");
        // Unpooled, so that nothing keeps the file open once a test is done with it.
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString();
        using var connection = Open();
    }

    public string Path { get; }

    public string ConnectionString { get; }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout = 10000";
        command.ExecuteNonQuery();
        return connection;
    }

    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command.ExecuteNonQuery();
    }

    public object? Scalar(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public List<string> SchemaObjects(string type) =>
        Query($"SELECT name FROM sqlite_schema WHERE type = '{type}' ORDER BY name", r => r.GetString(0));

    public List<T> Query<T>(string sql, Func<SqliteDataReader, T> map)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(map(reader));
        return rows;
    }

    public SqliteChangeTableSource Source(string workflowId, params string[] tables) =>
        new(workflowId, ConnectionString, tables, NullLogger.Instance);

    public static async Task<List<ChangeEvent>> ReadAllAsync(IChangeSource source, SourcePosition after, int page = 100)
    {
        var all = new List<ChangeEvent>();
        while (true)
        {
            var changes = await source.ReadAsync(after, page, CancellationToken.None);
            if (changes.Count == 0) return all;
            all.AddRange(changes);
            after = changes[^1].Position;
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }
}
