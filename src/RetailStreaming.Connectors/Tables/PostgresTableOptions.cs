using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace RetailStreaming.Connectors.Tables;

/// <summary>Where and how <see cref="PostgresTableSink"/> writes a workflow's records.</summary>
/// <param name="WorkflowId">The workflow (named in the connection's application_name and in messages).</param>
/// <param name="ConnectionString">The target database. Never printed: <see cref="object.ToString"/> shows only host and database.</param>
/// <param name="Table">The target table, <c>table</c> or <c>schema.table</c>, lower-case identifiers (<c>[a-z_][a-z0-9_]*</c>).</param>
public sealed partial record PostgresTableOptions(string WorkflowId, string ConnectionString, string Table)
{
    /// <summary>The shortest delay before a retry of a transient failure.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest delay the exponential backoff grows to.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Attempts per batch before its records are refused; 0 retries transient failures for ever.</summary>
    public int MaxAttempts { get; init; }

    /// <summary>How long one statement may run before it counts as a transient failure.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Told of every retry and every applied batch.</summary>
    public IDeliveryObserver Observer { get; init; } = NullDeliveryObserver.Instance;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option (never quoting the connection string).</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(WorkflowId))
            throw new ArgumentException("The workflow id is required.", nameof(WorkflowId));
        if (string.IsNullOrWhiteSpace(ConnectionString))
            throw new ArgumentException("The table sink needs a connection string.", nameof(ConnectionString));
        try
        {
            _ = new NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException("The table sink's connection string is malformed.", nameof(ConnectionString));
        }
        if (Table is null || !TableRegex().IsMatch(Table))
            throw new ArgumentException(
                "The table must be 'table' or 'schema.table' of lower-case identifiers ([a-z_][a-z0-9_]*, at most 63 characters each).", nameof(Table));
        if (InitialBackoff < TimeSpan.Zero || MaxBackoff < InitialBackoff)
            throw new ArgumentException("The backoff must satisfy 0 <= initial <= maximum.", nameof(MaxBackoff));
        if (MaxAttempts < 0)
            throw new ArgumentException("The maximum attempts cannot be negative (0 retries for ever).", nameof(MaxAttempts));
        if (CommandTimeout <= TimeSpan.Zero)
            throw new ArgumentException("The command timeout must be positive.", nameof(CommandTimeout));
        if (Observer is null)
            throw new ArgumentException("The observer cannot be null.", nameof(Observer));
    }

    /// <summary>The table as a quoted SQL identifier, <c>"schema"."table"</c> or <c>"table"</c>.</summary>
    internal string QuotedTable => string.Join('.', Table.Split('.').Select(part => '"' + part + '"'));

    /// <summary>Host, port and database, for logs and messages.</summary>
    internal string DisplayTarget
    {
        get
        {
            try
            {
                var b = new NpgsqlConnectionStringBuilder(ConnectionString);
                return $"{b.Host}:{b.Port}/{b.Database}";
            }
            catch (ArgumentException)
            {
                return "(malformed connection string)";
            }
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}(?:\\.[a-z_][a-z0-9_]{0,62})?$")]
    private static partial Regex TableRegex();

    // Records print every property; a connection string may hold a password.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("WorkflowId = ").Append(WorkflowId)
            .Append(", Target = ").Append(DisplayTarget)
            .Append(", Table = ").Append(Table)
            .Append(", InitialBackoff = ").Append(InitialBackoff)
            .Append(", MaxBackoff = ").Append(MaxBackoff)
            .Append(", MaxAttempts = ").Append(MaxAttempts);
        return true;
    }
}
