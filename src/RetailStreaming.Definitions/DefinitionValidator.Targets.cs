namespace RetailStreaming.Definitions;

/// <summary>The delivery fields of the table and file sinks.</summary>
internal sealed partial class DefinitionValidator
{
    private const long DefaultRollSize = 64L * 1024 * 1024;

    // A property, not a field: DeliveryKeys (in the other part of the class) spreads it in its
    // initializer, and the order of static initializers across partial files is not defined.
    private static string[] TargetKeys => ["connection", "connectionRef", "table", "directory", "rollSize", "rollInterval"];

    /// <summary>The delivery kinds each kind-specific field applies to.</summary>
    private static readonly Dictionary<string, string[]> FieldKinds = new(StringComparer.Ordinal)
    {
        ["url"] = ["webhook"],
        ["secretRef"] = ["webhook"],
        ["secretRefs"] = ["webhook"],
        ["compression"] = ["webhook"],
        ["circuitBreaker"] = ["webhook"],
        ["parallelism"] = ["webhook"],
        ["onRefused"] = ["webhook"],
        ["timeout"] = ["webhook", "table"],
        ["retry"] = ["webhook", "table"],
        ["connection"] = ["table"],
        ["connectionRef"] = ["table"],
        ["table"] = ["table"],
        ["directory"] = ["file"],
        ["rollSize"] = ["file"],
        ["rollInterval"] = ["file"],
    };

    /// <summary>A field that means nothing for the kind is an error, not silently ignored.</summary>
    private void FieldsOfOtherKinds(Fields f, string kind)
    {
        if (!DeliveryKinds.Contains(kind, StringComparer.Ordinal)) return;
        foreach (var (name, kinds) in FieldKinds)
        {
            if (f.Key(name) is { } key && !kinds.Contains(kind, StringComparer.Ordinal))
                Error(key, f.PathOf(name), $"does not apply to delivery kind '{kind}' (only to {string.Join(" and ", kinds)})");
        }
    }

    private DeliveryDefinition? Target(Fields f, string kind, BatchingDefinition batching, RetryDefinition retry, TimeSpan timeout)
    {
        switch (kind)
        {
            case "table":
                var table = TableTarget(f);
                return table is null ? null : new DeliveryDefinition(kind, "", "", batching, retry, timeout) { Table = table };
            case "file":
                var file = FileTarget(f);
                return file is null ? null : new DeliveryDefinition(kind, "", "", batching, retry, timeout) { File = file };
            default:
                return null;
        }
    }

    private TableDeliveryDefinition? TableTarget(Fields f)
    {
        var (connection, connectionRef) = ConnectionOrReference(f, " to the target PostgreSQL database");
        var table = String(f, "table", required: true, DefinitionRules.CheckTableName, hint: "the target table, e.g. sales or analytics.sales");
        return table is null || (connection is null && connectionRef is null) || (connection is not null && connectionRef is not null)
            ? null
            : new TableDeliveryDefinition(connection, connectionRef, table);
    }

    private FileDeliveryDefinition? FileTarget(Fields f)
    {
        var directory = String(f, "directory", required: true, DefinitionRules.CheckAbsolutePath, hint: "the absolute path of the output directory on the node");
        long? rollSize = null;
        if (f.Value("rollSize") is { } node)
        {
            if (node is not YamlTreeScalar { IsNull: false } scalar)
                Error(node, f.PathOf("rollSize"), $"expected a size such as 512KB, 64MB or 1GB, found {Describe(node)}");
            else if (DefinitionRules.TryParseSize(scalar.Value, out var size) is { } message)
                Error(node, f.PathOf("rollSize"), message);
            else
                rollSize = size;
        }

        var rollInterval = Duration(f, "rollInterval") ?? TimeSpan.FromMinutes(1);
        return directory is null ? null : new FileDeliveryDefinition(directory, rollSize ?? DefaultRollSize, rollInterval);
    }
}

/// <summary>The delivery fields that say how ordered delivery is.</summary>
internal sealed partial class DefinitionValidator
{
    /// <summary><c>parallelism</c> (1..64) and <c>onRefused</c> (deadletter or park).</summary>
    private (int Parallelism, string OnRefused) Ordering(Fields f) => (
        Int(f, "parallelism", min: 1, max: 64) ?? 1,
        String(f, "onRefused", required: false, v => Accepted("onRefused policy", v, DeliveryDefinition.RefusalPolicies))
            ?? DeliveryDefinition.DeadLetterRefused);
}
