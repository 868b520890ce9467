using System.Security.Cryptography;
using System.Text;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// The names of what a workflow's PostgreSQL capture owns in the client database, and how
/// configured table names are read.
/// </summary>
public static class PostgresCaptureNames
{
    /// <summary>The prefix of the publication and the replication slot of every workflow.</summary>
    public const string Prefix = "rs_";

    /// <summary>The longest identifier PostgreSQL keeps (NAMEDATALEN - 1); longer names are truncated by the server.</summary>
    public const int MaxLength = 63;

    /// <summary>
    /// The name of the workflow's publication and of its replication slot (the same name serves
    /// both): <c>rs_</c> and the workflow id in lower case reduced to <c>[a-z0-9_]</c>. When that
    /// changed anything (upper case, punctuation, length), <c>_</c> and 8 hex digits of a SHA-256 of
    /// the original id are appended, so that ids differing only in case or punctuation never share
    /// a slot; the whole name is at most 63 characters.
    /// </summary>
    public static string ObjectName(string workflowId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workflowId);
        var sb = new StringBuilder(workflowId.Length);
        foreach (var c in workflowId)
            sb.Append(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_' ? c : char.IsAsciiLetterUpper(c) ? char.ToLowerInvariant(c) : '_');
        var sanitized = sb.ToString();
        if (sanitized == workflowId && Prefix.Length + sanitized.Length <= MaxLength)
            return Prefix + sanitized;
        var hash = "_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(workflowId)).AsSpan(0, 4));
        var room = MaxLength - Prefix.Length - hash.Length;
        return Prefix + (sanitized.Length > room ? sanitized[..room] : sanitized) + hash;
    }

    /// <summary>
    /// Splits a configured table name into schema and table: <c>schema.table</c>, or <c>table</c>
    /// in the <c>public</c> schema. Names are taken as written (no quoting; a name containing a dot
    /// cannot be configured).
    /// </summary>
    public static (string Schema, string Table) ParseTable(string configured)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configured);
        var text = configured.Trim();
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? ("public", text) : (text[..dot], text[(dot + 1)..]);
    }

    /// <summary>A quoted SQL identifier.</summary>
    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A quoted, schema-qualified table name.</summary>
    internal static string Quote(string schema, string table) => Quote(schema) + "." + Quote(table);
}
