using System.Globalization;
using System.Text.Json;
using Npgsql;
using RetailStreaming.Connectors.Postgres;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// A client's retail database on PostgreSQL (stores, products, catalog, tickets, all with primary
/// keys, plus an <c>audit_log</c> table no workflow captures), and the two views of its state the
/// reconciliation compares: the tables themselves, and the state rebuilt from what an endpoint got.
/// </summary>
public sealed class PostgresRetailDatabase
{
    /// <summary>The captured tables.</summary>
    public static readonly string[] RetailTables = ["stores", "products", "catalog", "tickets"];

    private PostgresRetailDatabase(string connectionString, string schema)
    {
        ConnectionString = connectionString;
        Schema = schema;
    }

    /// <summary>The database's connection string (superuser, no password).</summary>
    public string ConnectionString { get; }

    /// <summary>The schema holding the retail tables.</summary>
    public string Schema { get; }

    /// <summary>The tables as a workflow configures them (<c>schema.table</c> unless the schema is public).</summary>
    public IReadOnlyList<string> ConfiguredTables =>
        RetailTables.Select(t => Schema == "public" ? t : $"{Schema}.{t}").ToList();

    /// <summary>Creates the schema and the (empty) tables in the database <paramref name="connectionString"/> names.</summary>
    public static async Task<PostgresRetailDatabase> CreateAsync(string connectionString, string schema = "public")
    {
        var db = new PostgresRetailDatabase(connectionString, schema);
        await db.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {schema};
            CREATE TABLE {schema}.stores (store_id text PRIMARY KEY, name text NOT NULL, city text NOT NULL);
            CREATE TABLE {schema}.products (sku text PRIMARY KEY, name text NOT NULL, price numeric(12,2) NOT NULL, category text NOT NULL);
            CREATE TABLE {schema}.catalog (store_id text NOT NULL, sku text NOT NULL, listed boolean NOT NULL, PRIMARY KEY (store_id, sku));
            CREATE TABLE {schema}.tickets (ticket_id text PRIMARY KEY, store_id text NOT NULL, sku text NOT NULL,
                quantity integer NOT NULL, unit_price numeric(12,2) NOT NULL, sold_at text NOT NULL);
            CREATE TABLE {schema}.audit_log (id bigserial PRIMARY KEY, note text NOT NULL);
            """);
        return db;
    }

    /// <summary>Runs SQL without result.</summary>
    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>The first column of the first row, or null.</summary>
    public async Task<T?> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        var result = await cmd.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    /// <summary>The workflow's replication slot: confirmed flush LSN (text), whether a connection holds it, and that connection's pid.</summary>
    public async Task<(string? ConfirmedFlush, bool Active, int? ActivePid)?> SlotAsync(string workflowId)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT confirmed_flush_lsn::text, active, active_pid FROM pg_replication_slots WHERE slot_name = @slot", connection);
        cmd.Parameters.AddWithValue("slot", PostgresCaptureNames.ObjectName(workflowId));
        await using var reader = await cmd.ExecuteReaderAsync();
        if (!await reader.ReadAsync()) return null;
        return (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1), reader.IsDBNull(2) ? null : reader.GetInt32(2));
    }

    /// <summary>The server's current WAL insert position (text).</summary>
    public async Task<string> CurrentLsnAsync() => (await ScalarAsync<string>("SELECT pg_current_wal_lsn()::text"))!;

    /// <summary>True when LSN <paramref name="a"/> is after LSN <paramref name="b"/>.</summary>
    public async Task<bool> LsnAfterAsync(string a, string b) =>
        await ScalarAsync<bool>("SELECT pg_wal_lsn_diff(@a::text::pg_lsn, @b::text::pg_lsn) > 0", ("a", a), ("b", b));

    /// <summary>
    /// The source state: per (table, business key) the fields the sample transform carries, in the
    /// form <see cref="EndpointState"/> gives them.
    /// </summary>
    public async Task<Dictionary<string, string>> SourceStateAsync()
    {
        var state = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        async Task ReadAsync(string sql, Action<NpgsqlDataReader> row)
        {
            await using var cmd = new NpgsqlCommand(sql, connection);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) row(reader);
        }

        await ReadAsync($"SELECT store_id, name, city FROM {Schema}.stores", r =>
            state[$"stores|{r.GetString(0)}"] = Fields(r.GetString(1), r.GetString(2)));
        await ReadAsync($"SELECT sku, name, price, category FROM {Schema}.products", r =>
            state[$"products|{r.GetString(0)}"] = Fields(r.GetString(1), Dec(r.GetDecimal(2)), r.GetString(3)));
        await ReadAsync($"SELECT store_id, sku, listed FROM {Schema}.catalog", r =>
            state[$"catalog|{r.GetString(0)}/{r.GetString(1)}"] = Fields(r.GetBoolean(2) ? "true" : "false"));
        await ReadAsync($"SELECT ticket_id, store_id, sku, quantity, unit_price, sold_at FROM {Schema}.tickets", r =>
            state[$"tickets|{r.GetString(0)}"] = Fields(r.GetString(1), r.GetString(2),
                r.GetInt32(3).ToString(CultureInfo.InvariantCulture), Dec(r.GetDecimal(4)), r.GetString(5)));
        return state;
    }

    /// <summary>
    /// The state an endpoint rebuilds by applying the records in arrival order: a record sets its
    /// (table, key) to its data, a delete removes it (its record is a tombstone).
    /// </summary>
    public static Dictionary<string, string> EndpointState(IEnumerable<ReceivedRecord> records)
    {
        var state = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in records)
        {
            var table = r.Table[(r.Table.LastIndexOf('.') + 1)..];
            var key = $"{table}|{r.Key}";
            if (r.Operation == "delete")
            {
                state.Remove(key);
                continue;
            }
            var d = r.Data;
            state[key] = table switch
            {
                "stores" => Fields(d.GetProperty("name").GetString(), d.GetProperty("city").GetString()),
                "products" => Fields(d.GetProperty("name").GetString(), Dec(d.GetProperty("price").GetDecimal()), d.GetProperty("category").GetString()),
                "catalog" => Fields(d.GetProperty("listed").GetBoolean() ? "true" : "false"),
                "tickets" => Fields(d.GetProperty("storeId").GetString(), d.GetProperty("sku").GetString(),
                    d.GetProperty("quantity").GetInt64().ToString(CultureInfo.InvariantCulture), Dec(d.GetProperty("unitPrice").GetDecimal()),
                    d.GetProperty("soldAt").GetString()),
                _ => throw new InvalidOperationException($"record #{r.Arrival} of unknown table {r.Table}: {d.GetRawText()}"),
            };
        }
        return state;
    }

    /// <summary>Differences between the source and the endpoint (empty when they are equal).</summary>
    public static List<string> Compare(IReadOnlyDictionary<string, string> source, IReadOnlyDictionary<string, string> endpoint)
    {
        var problems = new List<string>();
        foreach (var (key, value) in source)
        {
            if (!endpoint.TryGetValue(key, out var got)) problems.Add($"{key}: in the source ({value}), missing at the endpoint");
            else if (got != value) problems.Add($"{key}: source {value}, endpoint {got}");
        }
        foreach (var (key, value) in endpoint)
            if (!source.ContainsKey(key)) problems.Add($"{key}: at the endpoint ({value}), not in the source");
        return problems;
    }

    private static string Fields(params string?[] values) => string.Join('|', values.Select(v => v ?? "<null>"));

    // 12.50 and 12.5 are the same price: compared without trailing zeros.
    private static string Dec(decimal value) => value.ToString("0.############", CultureInfo.InvariantCulture);
}

/// <summary>Reads a status property as a string, or "" (for messages).</summary>
internal static class JsonText
{
    public static string Of(JsonElement? element, string property) =>
        element is { } e && e.TryGetProperty(property, out var v) ? v.ToString() : "";
}
