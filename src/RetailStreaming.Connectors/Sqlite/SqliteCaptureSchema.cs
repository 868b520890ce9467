using System.Security.Cryptography;
using System.Text;

namespace RetailStreaming.Connectors.Sqlite;

/// <summary>
/// The SQL objects a workflow's SQLite capture owns in the client's database: one change table and,
/// per captured table, three AFTER triggers. Everything here is text generation; deterministic, so
/// that the stored trigger SQL can be compared with what the current columns would give.
/// </summary>
internal static class SqliteCaptureSchema
{
    /// <summary>Prefix of every object the platform creates in a client database.</summary>
    public const string ObjectPrefix = "_rs_";

    /// <summary>Prefix of the change tables (one per workflow).</summary>
    public const string ChangeTablePrefix = "_rs_changes_";

    /// <summary>
    /// Older SQLite builds accept at most 127 arguments per function call, and the triggers run in
    /// the client application's own SQLite, whatever its version; wider rows are built from several
    /// json_object calls (<see cref="RowJson"/>).
    /// </summary>
    private const int ColumnsPerJsonObject = 60;

    /// <summary>The time a change row records: UTC with milliseconds, ISO 8601.</summary>
    public const string Now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

    /// <summary>
    /// The workflow id reduced to [A-Za-z0-9_]; when that changed anything, a short hash of the
    /// original id is appended so that two ids differing only in punctuation do not share objects.
    /// </summary>
    public static string Sanitize(string workflowId)
    {
        var sb = new StringBuilder(workflowId.Length + 9);
        foreach (var c in workflowId)
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        var sanitized = sb.ToString();
        if (sanitized == workflowId) return sanitized;
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(workflowId));
        return sanitized + "_" + Convert.ToHexStringLower(hash.AsSpan(0, 4));
    }

    public static string ChangeTableName(string workflowId) => ChangeTablePrefix + Sanitize(workflowId);

    /// <summary>
    /// The prefix of the workflow's trigger names. The sanitized id never contains ':', so no other
    /// workflow's prefix can start with this one.
    /// </summary>
    public static string TriggerPrefix(string workflowId) => ObjectPrefix + Sanitize(workflowId) + ":";

    public static string TriggerName(string workflowId, string table, string operation) =>
        $"{TriggerPrefix(workflowId)}{table}:{operation}";

    public static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string CreateChangeTable(string changeTable) =>
        $"""
        CREATE TABLE IF NOT EXISTS {Identifier(changeTable)} (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            tbl TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('i', 'u', 'd', 'r')),
            key_json TEXT NOT NULL,
            before_json TEXT,
            after_json TEXT,
            committed_at TEXT NOT NULL
        )
        """;

    /// <summary>The three CREATE TRIGGER statements of a table, by trigger name.</summary>
    public static IReadOnlyDictionary<string, string> Triggers(string workflowId, string changeTable, SqliteTableShape table)
    {
        var insertInto = $"INSERT INTO {Identifier(changeTable)} (tbl, op, key_json, before_json, after_json, committed_at)";
        var tbl = Literal(table.Name);
        var on = Identifier(table.Name);
        var keyNew = RowJson(table.KeyColumns, "NEW.");
        var keyOld = RowJson(table.KeyColumns, "OLD.");
        var rowNew = RowJson(table.Columns, "NEW.");
        var rowOld = RowJson(table.Columns, "OLD.");
        // COLLATE BINARY: a key changed only in letter case under a NOCASE column is still a new key
        // for a consumer that compares strings exactly.
        var sameKey = string.Join(" AND ", table.KeyColumns.Select(c => $"OLD.{Identifier(c)} IS NEW.{Identifier(c)} COLLATE BINARY"));

        var insertName = TriggerName(workflowId, table.Name, "insert");
        var updateName = TriggerName(workflowId, table.Name, "update");
        var deleteName = TriggerName(workflowId, table.Name, "delete");
        return new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [insertName] =
                $"CREATE TRIGGER {Identifier(insertName)} AFTER INSERT ON {on} FOR EACH ROW BEGIN\n" +
                $"  {insertInto} VALUES ({tbl}, 'i', {keyNew}, NULL, {rowNew}, {Now});\n" +
                "END",
            // An update that changes the primary key is recorded as a delete of the old key and an
            // insert of the new one (as Debezium does), so that a consumer keyed on the key drops the
            // old document.
            [updateName] =
                $"CREATE TRIGGER {Identifier(updateName)} AFTER UPDATE ON {on} FOR EACH ROW BEGIN\n" +
                $"  {insertInto} SELECT {tbl}, 'u', {keyNew}, {rowOld}, {rowNew}, {Now} WHERE {sameKey};\n" +
                $"  {insertInto} SELECT {tbl}, 'd', {keyOld}, {rowOld}, NULL, {Now} WHERE NOT ({sameKey});\n" +
                $"  {insertInto} SELECT {tbl}, 'i', {keyNew}, NULL, {rowNew}, {Now} WHERE NOT ({sameKey});\n" +
                "END",
            [deleteName] =
                $"CREATE TRIGGER {Identifier(deleteName)} AFTER DELETE ON {on} FOR EACH ROW BEGIN\n" +
                $"  {insertInto} VALUES ({tbl}, 'd', {keyOld}, {rowOld}, NULL, {Now});\n" +
                "END",
        };
    }

    /// <summary>Copies every row of the table into the change table as a snapshot read ('r'), in key order.</summary>
    public static string Snapshot(string changeTable, SqliteTableShape table) =>
        $"INSERT INTO {Identifier(changeTable)} (tbl, op, key_json, before_json, after_json, committed_at) " +
        $"SELECT {Literal(table.Name)}, 'r', {RowJson(table.KeyColumns, "")}, NULL, {RowJson(table.Columns, "")}, {Now} " +
        $"FROM {Identifier(table.Name)} ORDER BY {string.Join(", ", table.KeyColumns.Select(Identifier))}";

    /// <summary>
    /// A JSON object of the columns (see <see cref="SqliteChangeTableSource"/> for the value
    /// encoding). Up to 60 columns it is one json_object call; wider rows concatenate the members of
    /// several json_object results (each is a non-empty object, so stripping its braces is exact).
    /// </summary>
    public static string RowJson(IReadOnlyList<string> columns, string rowPrefix)
    {
        var chunks = columns.Chunk(ColumnsPerJsonObject)
            .Select(chunk => "json_object(" + string.Join(", ", chunk.Select(c => $"{Literal(c)}, {Value(rowPrefix + Identifier(c))}")) + ")")
            .ToList();
        if (chunks.Count == 1) return chunks[0];
        return "('{' || " + string.Join(" || ',' || ", chunks.Select(j => $"substr({j}, 2, length({j}) - 2)")) + " || '}')";
    }

    /// <summary>
    /// A column value for json_object. A blob cannot go into JSON as it is (json_object rejects it),
    /// so it becomes the object {"$hex": "..."}: the nested json_object keeps its JSON subtype and is
    /// embedded as an object, which no TEXT value can be (text is always embedded as a JSON string).
    /// </summary>
    private static string Value(string reference) =>
        $"CASE typeof({reference}) WHEN 'blob' THEN json_object('$hex', hex({reference})) ELSE {reference} END";
}

/// <summary>A captured table as PRAGMA table_info describes it.</summary>
/// <param name="Name">The table name as sqlite_schema spells it.</param>
/// <param name="Columns">All columns, in declaration order.</param>
/// <param name="KeyColumns">The primary-key columns, in key order.</param>
internal sealed record SqliteTableShape(string Name, IReadOnlyList<string> Columns, IReadOnlyList<string> KeyColumns);
