namespace RetailStreaming.Definitions;

public sealed partial record DeliveryDefinition
{
    /// <summary>The target table, for <c>kind: table</c>; null for other kinds.</summary>
    public TableDeliveryDefinition? Table { get; init; }

    /// <summary>The target directory, for <c>kind: file</c>; null for other kinds.</summary>
    public FileDeliveryDefinition? File { get; init; }
}

/// <summary>Delivery into a PostgreSQL table, upserted by record key (<c>delivery.kind: table</c>).</summary>
/// <param name="Connection">The connection string when it holds no password, else null.</param>
/// <param name="ConnectionRef">A secret reference (<c>env:NAME</c> or <c>file:PATH</c>) to the connection string, else null. Exactly one of the two is set.</param>
/// <param name="Table">The target table, <c>table</c> or <c>schema.table</c> (lower-case identifiers); created when missing.</param>
public sealed record TableDeliveryDefinition(string? Connection, string? ConnectionRef, string Table);

/// <summary>Delivery as NDJSON files in a directory (<c>delivery.kind: file</c>).</summary>
/// <param name="Directory">The absolute directory path on the node; created when missing.</param>
/// <param name="RollSize">A file is completed once it holds this many bytes (default 64 MB).</param>
/// <param name="RollInterval">A file is completed at the latest this long after it was begun (default 1 minute).</param>
public sealed record FileDeliveryDefinition(string Directory, long RollSize, TimeSpan RollInterval);
