using System.Globalization;

namespace RetailStreaming.Definitions;

/// <summary>
/// Walks the tree of one definition file, collects every error with its position and dotted field
/// path, and builds the definition only when there is none (invariant 6: nothing of a bad file is applied).
/// </summary>
internal sealed partial class DefinitionValidator(string file)
{
    private static readonly string[] RootKeys = ["id", "client", "source", "transform", "delivery", "health"];
    private static readonly string[] HealthKeys = ["lagThreshold", "stallAfter"];
    private static readonly string[] SourceKeys = ["kind", "connection", "connectionRef", "tables", "batchSize", "pollInterval", "heartbeatInterval", "retention"];
    private static readonly string[] TransformKeys = ["package", "version", "type", "timeBudget", "settings", "autoRollback", "isolation", "limits"];
    private static readonly string[] DeliveryKeys = ["kind", "url", "secretRef", "secretRefs", "timeout", "batching", "retry", "compression", "circuitBreaker", "parallelism", "onRefused", .. TargetKeys];
    private static readonly string[] BatchingKeys = ["maxRecords", "maxBytes", "maxWait"];
    private static readonly string[] CircuitBreakerKeys = ["failureThreshold", "coolDown"];
    private static readonly string[] Compressions = ["none", "gzip"];
    private static readonly string[] RetryKeys = ["initialBackoff", "maxBackoff", "maxAttempts"];
    private static readonly string[] SourceKinds = ["sqlite", "postgres"];
    private static readonly string[] DeliveryKinds = ["webhook", "table", "file"];

    private static readonly Dictionary<string, string> DeliveryForbidden = new(StringComparer.Ordinal)
    {
        ["secret"] = "inline secrets are not allowed: put the secret in an environment variable or a file and reference it with secretRef: "
                     + DefinitionRules.SecretReferenceForm,
    };

    private static readonly Dictionary<string, string> NoneForbidden = new(StringComparer.Ordinal);

    private readonly List<DefinitionError> errors = [];

    /// <summary>The errors found, in file order.</summary>
    public IReadOnlyList<DefinitionError> Errors =>
        errors.OrderBy(e => e.Line).ThenBy(e => e.Column).ToList();

    /// <summary>The definition, or null when <see cref="Errors"/> is not empty.</summary>
    public WorkflowDefinition? Validate(string text)
    {
        var root = YamlTree.Read(text, file, errors);
        if (root is null)
            return null;
        if (root is YamlTreeScalar { IsNull: true })
        {
            Error(root, YamlTree.DocumentField, "the document is empty; expected a mapping with id, client, source, transform and delivery");
            return null;
        }

        if (root is not YamlTreeMapping rootMapping)
        {
            Error(root, YamlTree.DocumentField, $"expected a mapping with id, client, source, transform and delivery, found {Describe(root)}");
            return null;
        }

        var fields = new Fields(this, rootMapping, rootMapping, "", RootKeys, NoneForbidden);
        var id = String(fields, "id", required: true, DefinitionRules.CheckName);
        var client = String(fields, "client", required: true, DefinitionRules.CheckName);
        var source = Section(fields, "source", required: true, SourceKeys, NoneForbidden) is { } s ? Source(s) : null;
        var transform = Section(fields, "transform", required: true, TransformKeys, NoneForbidden) is { } t ? Transform(t) : null;
        var delivery = Section(fields, "delivery", required: true, DeliveryKeys, DeliveryForbidden) is { } d ? Delivery(d) : null;
        var health = Section(fields, "health", required: false, HealthKeys, NoneForbidden) is { } h ? Health(h) : null;

        if (errors.Count > 0 || id is null || client is null || source is null || transform is null || delivery is null)
            return null;
        return new WorkflowDefinition(id, client, source, transform, delivery, text) { Health = health };
    }

    private HealthDefinition Health(Fields f) => new(
        BoundedDuration(f, "lagThreshold", TimeSpan.FromSeconds(1), TimeSpan.FromDays(7)),
        BoundedDuration(f, "stallAfter", TimeSpan.FromSeconds(10), TimeSpan.FromDays(7)));

    private TimeSpan? BoundedDuration(Fields f, string name, TimeSpan min, TimeSpan max)
    {
        var value = Duration(f, name);
        if (value is { } v && (v < min || v > max))
        {
            Error(f.Value(name)!, f.PathOf(name), $"must be from {Format(min)} to {Format(max)}; found {Format(v)}");
            return null;
        }
        return value;
    }

    /// <summary>
    /// <c>connection</c> or <c>connectionRef</c>, exactly one: an error when both or neither are set
    /// (<paramref name="requiredHint"/> ends the "is required" message), and a password inline is refused.
    /// </summary>
    private (string? Connection, string? ConnectionRef) ConnectionOrReference(Fields f, string requiredHint)
    {
        var connectionNode = f.Value("connection");
        var referenceNode = f.Value("connectionRef");
        if (connectionNode is null && referenceNode is null)
            Error(f.Location, f.PathOf("connection"), "is required: set connection or connectionRef (exactly one)" + requiredHint);
        if (connectionNode is not null && referenceNode is not null)
        {
            var (a, b) = (f.Key("connection")!, f.Key("connectionRef")!);
            var (later, name) = (a.Line, a.Column).CompareTo((b.Line, b.Column)) > 0 ? (a, "connection") : (b, "connectionRef");
            Error(later, f.PathOf(name), "connection and connectionRef exclude each other: set exactly one");
        }

        var connection = String(f, "connection", required: false, secret: true, check: v =>
            DefinitionRules.HoldsPassword(v)
                ? "the connection string holds a password; secrets are never inline: reference it with connectionRef: " + DefinitionRules.SecretReferenceForm
                : null);
        var connectionRef = String(f, "connectionRef", required: false, DefinitionRules.CheckSecretReference, secret: true);
        return (connection, connectionRef);
    }

    private SourceDefinition? Source(Fields f)
    {
        var kind = String(f, "kind", required: true, v => Accepted("source kind", v, SourceKinds), hint: "sqlite or postgres");

        var (connection, connectionRef) = ConnectionOrReference(f, "");
        var tables = Tables(f);
        var batchSize = Int(f, "batchSize", min: 1, max: 10_000) ?? 500;
        var pollInterval = Duration(f, "pollInterval") ?? TimeSpan.FromMilliseconds(200);
        var heartbeatInterval = HeartbeatInterval(f, kind);
        var retention = Int(f, "retention", min: 0, max: 10_000_000) ?? SourceDefinition.DefaultRetention;
        // A PostgreSQL slot keeps nothing it confirmed: there is no retention to configure.
        if (kind == "postgres" && f.Value("retention") is { } retentionNode)
            Error(retentionNode, f.PathOf("retention"),
                "applies to sqlite sources only: a PostgreSQL replication slot keeps nothing it confirmed; re-snapshot a table for older data");

        return kind is null || tables is null
            ? null
            : new SourceDefinition(kind, connection, connectionRef, tables, batchSize, pollInterval, heartbeatInterval) { Retention = retention };
    }

    /// <summary>PostgreSQL only: a duration from 1 s to 1 h, or <c>off</c> (<see cref="TimeSpan.Zero"/>); null when not set.</summary>
    private TimeSpan? HeartbeatInterval(Fields f, string? kind)
    {
        const string name = "heartbeatInterval";
        var node = f.Value(name);
        if (node is null)
            return null;
        if (kind is not null && kind != "postgres")
        {
            Error(f.Key(name)!, f.PathOf(name), $"applies to kind postgres only (heartbeats let a replication slot advance); remove it for kind {DefinitionRules.Quote(kind)}");
            return null;
        }

        if (node is YamlTreeScalar { IsNull: false, Value: "off" })
            return TimeSpan.Zero;
        var interval = Duration(f, name);
        if (interval is null)
            return null;
        if (interval < TimeSpan.FromSeconds(1) || interval > TimeSpan.FromHours(1))
        {
            Error(node, f.PathOf(name), $"must be from 1s to 1h, or off; found {Format(interval.Value)}");
            return null;
        }

        return interval;
    }

    private List<string>? Tables(Fields f)
    {
        var path = f.PathOf("tables");
        var node = Required(f, "tables", "a list of table names, e.g. [tickets, products]");
        if (node is null)
            return null;
        if (node is not YamlTreeSequence list)
        {
            Error(node, path, $"expected a list of table names, e.g. [tickets, products], found {Describe(node)}");
            return null;
        }

        if (list.Items.Count == 0)
        {
            Error(node, path, "must list at least one table");
            return null;
        }

        var tables = new List<string>();
        var seen = new Dictionary<string, YamlTreeNode>(StringComparer.Ordinal);
        for (var i = 0; i < list.Items.Count; i++)
        {
            var item = list.Items[i];
            var name = ScalarString(item, $"{path}[{i}]", check: null, secret: false, expected: "a table name");
            if (name is null)
                continue;
            if (seen.TryGetValue(name, out var first))
            {
                Error(item, $"{path}[{i}]", $"duplicate table {DefinitionRules.Quote(name)}; already listed at line {first.Line}");
                continue;
            }

            seen.Add(name, item);
            tables.Add(name);
        }

        return tables;
    }

    private TransformDefinition? Transform(Fields f)
    {
        var package = String(f, "package", required: true, DefinitionRules.CheckPackageId, hint: "the NuGet package id of the transform");
        var version = String(f, "version", required: true, DefinitionRules.CheckVersion, hint: "the package version, e.g. 1.0.0");
        var type = String(f, "type", required: true, DefinitionRules.CheckTypeName, hint: "the full name of the transform class");
        var timeBudget = Duration(f, "timeBudget") ?? TimeSpan.FromSeconds(5);
        var settings = Settings(f);
        var autoRollback = AutoRollback(f);
        var (isolation, limits) = Isolation(f);

        return package is null || version is null || type is null
            ? null
            : new TransformDefinition(package, version, type, timeBudget, settings)
            {
                AutoRollback = autoRollback,
                Isolation = isolation,
                Limits = limits,
            };
    }

    /// <summary>Free-form keys; scalar values become strings (an empty value becomes "").</summary>
    private Dictionary<string, string> Settings(Fields f)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        var path = f.PathOf("settings");
        var node = f.Value("settings");
        if (node is null || node is YamlTreeScalar { IsNull: true })
            return settings;
        if (node is not YamlTreeMapping mapping)
        {
            Error(node, path, $"expected a mapping of names to values, found {Describe(node)}");
            return settings;
        }

        var keys = new Dictionary<string, YamlTreeNode>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping.Entries)
        {
            if (key is not YamlTreeScalar { IsNull: false } name)
            {
                Error(key, path, $"expected a setting name, found {Describe(key)}");
                continue;
            }

            var settingPath = $"{path}.{name.Value}";
            if (keys.TryGetValue(name.Value, out var first))
            {
                Error(key, settingPath, $"duplicate field; first set at line {first.Line}");
                continue;
            }

            keys.Add(name.Value, key);
            if (value is not YamlTreeScalar scalar)
            {
                Error(value, settingPath, $"expected a text value, found {Describe(value)}");
                continue;
            }

            settings.Add(name.Value, scalar.IsNull ? "" : scalar.Value);
        }

        return settings;
    }

    private DeliveryDefinition? Delivery(Fields f)
    {
        var kind = String(f, "kind", required: true, v => Accepted("delivery kind", v, DeliveryKinds), hint: "webhook, table or file");
        if (kind is not null)
            FieldsOfOtherKinds(f, kind);
        var url = String(f, "url", required: kind == "webhook", DefinitionRules.CheckHttpUrl, hint: "the endpoint's http or https URL");
        var secretRefs = kind == "webhook" ? SecretRefs(f) : null;
        var timeout = Duration(f, "timeout") ?? TimeSpan.FromSeconds(30);
        var compression = String(f, "compression", required: false, v => Accepted("compression", v, Compressions)) ?? "none";

        var batching = new BatchingDefinition(100, TimeSpan.FromMilliseconds(200));
        if (Section(f, "batching", required: false, BatchingKeys, NoneForbidden) is { } b)
            batching = new BatchingDefinition(
                Int(b, "maxRecords", min: 1, max: 10_000) ?? batching.MaxRecords,
                Duration(b, "maxWait") ?? batching.MaxWait)
            {
                MaxBytes = Bytes(b, "maxBytes", min: 1024, max: 64 * 1024 * 1024) ?? batching.MaxBytes,
            };

        var breaker = new CircuitBreakerDefinition(5, TimeSpan.FromSeconds(30));
        if (Section(f, "circuitBreaker", required: false, CircuitBreakerKeys, NoneForbidden) is { } cb)
            breaker = new CircuitBreakerDefinition(
                Int(cb, "failureThreshold", min: 0, max: 1000) ?? breaker.FailureThreshold,
                Duration(cb, "coolDown") ?? breaker.CoolDown);

        var retry = new RetryDefinition(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(60), 0);
        if (Section(f, "retry", required: false, RetryKeys, NoneForbidden) is { } r)
        {
            retry = new RetryDefinition(
                Duration(r, "initialBackoff") ?? retry.InitialBackoff,
                Duration(r, "maxBackoff") ?? retry.MaxBackoff,
                Int(r, "maxAttempts", min: 0, max: int.MaxValue) ?? retry.MaxAttempts);
            if (retry.MaxBackoff < retry.InitialBackoff)
            {
                // Point at whichever of the two the file sets; the other one is the default.
                var name = r.Value("maxBackoff") is not null ? "maxBackoff" : "initialBackoff";
                Error(r.Value(name)!, r.PathOf(name),
                    $"maxBackoff ({Format(retry.MaxBackoff)}) must not be less than initialBackoff ({Format(retry.InitialBackoff)})");
            }
        }

        var (parallelism, onRefused) = Ordering(f);
        if (kind is not null and not "webhook")
            return Target(f, kind, batching, retry, timeout);
        return kind is null || url is null || secretRefs is null
            ? null
            : new DeliveryDefinition(kind, url, secretRefs[0], batching, retry, timeout)
            {
                SecretRefs = secretRefs,
                Compression = compression,
                CircuitBreaker = breaker,
                Parallelism = parallelism,
                OnRefused = onRefused,
            };
    }

    /// <summary><c>secretRef</c> (one secret) or <c>secretRefs</c> (a list, for rotation): exactly one of them.</summary>
    private List<string>? SecretRefs(Fields f)
    {
        const string hint = "a reference to the signing secret, " + DefinitionRules.SecretReferenceForm;
        var one = f.Value("secretRef");
        var many = f.Value("secretRefs");
        if (one is null && many is null)
        {
            Error(f.Location, f.PathOf("secretRef"), $"is required: {hint} (or secretRefs: a list of them, to rotate secrets)");
            return null;
        }
        if (one is not null && many is not null)
        {
            Error(f.Key("secretRefs")!, f.PathOf("secretRefs"), "secretRef and secretRefs exclude each other: set exactly one");
            return null;
        }
        if (one is not null)
            return String(f, "secretRef", required: true, DefinitionRules.CheckSecretReference, secret: true, hint: hint) is { } single
                ? [single]
                : null;

        var path = f.PathOf("secretRefs");
        if (many is not YamlTreeSequence list || list.Items.Count == 0)
        {
            Error(many!, path, $"expected a list of 1 to 5 secret references ({DefinitionRules.SecretReferenceForm}), the current secret first, found {Describe(many!, secret: true)}");
            return null;
        }
        if (list.Items.Count > 5)
        {
            Error(many, path, $"at most 5 secrets can be active at once; found {list.Items.Count}");
            return null;
        }
        var refs = new List<string>();
        var ok = true;
        for (var i = 0; i < list.Items.Count; i++)
        {
            var item = ScalarString(list.Items[i], $"{path}[{i}]", DefinitionRules.CheckSecretReference, secret: true, expected: "a secret reference");
            if (item is null)
            {
                ok = false;
                continue;
            }
            if (refs.Contains(item, StringComparer.Ordinal))
            {
                Error(list.Items[i], $"{path}[{i}]", "duplicate secret reference");
                ok = false;
                continue;
            }
            refs.Add(item);
        }
        return ok ? refs : null;
    }

    private int? Bytes(Fields f, string name, int min, int max)
    {
        var node = f.Value(name);
        if (node is null)
            return null;
        var path = f.PathOf(name);
        if (node is not YamlTreeScalar { IsNull: false } scalar)
        {
            Error(node, path, $"expected a size such as 262144, 512KiB or 1MiB, found {Describe(node)}");
            return null;
        }
        if (DefinitionRules.TryParseBytes(scalar.Value.Trim(), out var bytes) is { } message)
        {
            Error(node, path, message);
            return null;
        }
        if (bytes < min || bytes > max)
        {
            Error(node, path, $"must be from {min} bytes (1KiB) to {max} bytes (64MiB); found {bytes}");
            return null;
        }
        return (int)bytes;
    }

    /// <summary>A nested mapping; null (with an error when required) when absent or not a mapping.</summary>
    private Fields? Section(Fields parent, string name, bool required, string[] known, IReadOnlyDictionary<string, string> forbidden)
    {
        var node = required ? Required(parent, name, hint: null) : parent.Value(name);
        if (node is null)
            return null;
        if (node is not YamlTreeMapping mapping)
        {
            Error(node, parent.PathOf(name), $"expected a mapping with {string.Join(", ", known)}, found {Describe(node)}");
            return null;
        }

        return new Fields(this, mapping, parent.Key(name)!, parent.PathOf(name), known, forbidden);
    }

    private YamlTreeNode? Required(Fields f, string name, string? hint)
    {
        var node = f.Value(name);
        if (node is null)
            Error(f.Location, f.PathOf(name), hint is null ? "is required" : $"is required: {hint}");
        return node;
    }

    private string? String(
        Fields f, string name, bool required, Func<string, string?>? check = null, bool secret = false, string? hint = null)
    {
        var node = required ? Required(f, name, hint) : f.Value(name);
        return node is null ? null : ScalarString(node, f.PathOf(name), check, secret, "a string");
    }

    private string? ScalarString(YamlTreeNode node, string path, Func<string, string?>? check, bool secret, string expected)
    {
        if (node is not YamlTreeScalar scalar || scalar.IsNull)
        {
            Error(node, path, $"expected {expected}, found {Describe(node, secret)}");
            return null;
        }

        if (string.IsNullOrWhiteSpace(scalar.Value))
        {
            Error(node, path, "must not be empty");
            return null;
        }

        if (check?.Invoke(scalar.Value) is { } message)
        {
            Error(node, path, message);
            return null;
        }

        return scalar.Value;
    }

    private int? Int(Fields f, string name, int min, int max)
    {
        var node = f.Value(name);
        if (node is null)
            return null;
        var path = f.PathOf(name);
        var range = max == int.MaxValue ? $"{min} or more" : $"from {min} to {max}";
        if (node is not YamlTreeScalar { IsNull: false } scalar
            || !long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Error(node, path, $"expected an integer {range}, found {Describe(node)}");
            return null;
        }

        if (value < min || value > max)
        {
            Error(node, path, $"must be {range}; found {value}");
            return null;
        }

        return (int)value;
    }

    private TimeSpan? Duration(Fields f, string name)
    {
        var node = f.Value(name);
        if (node is null)
            return null;
        var path = f.PathOf(name);
        if (node is not YamlTreeScalar { IsNull: false } scalar)
        {
            Error(node, path, $"expected a duration such as 250ms, 1.5s, 2m or 1h, found {Describe(node)}");
            return null;
        }

        if (DefinitionRules.TryParseDuration(scalar.Value, out var duration) is { } message)
        {
            Error(node, path, message);
            return null;
        }

        return duration;
    }

    private static string? Accepted(string what, string value, string[] accepted) =>
        accepted.Contains(value, StringComparer.Ordinal)
            ? null
            : $"unknown {what} {DefinitionRules.Quote(value)}; accepted: {string.Join(", ", accepted)}";

    private static string Describe(YamlTreeNode node, bool secret = false) => node switch
    {
        YamlTreeMapping => "a mapping",
        YamlTreeSequence => "a list",
        YamlTreeScalar { IsNull: true } => "an empty value",
        YamlTreeScalar when secret => "a text value",
        YamlTreeScalar scalar => DefinitionRules.Quote(scalar.Value),
        _ => "a node",
    };

    private static string Format(TimeSpan value) =>
        value.TotalMilliseconds < 1000 ? $"{value.TotalMilliseconds}ms" : $"{value.TotalSeconds}s";

    private void Error(YamlTreeNode at, string field, string message) =>
        errors.Add(new DefinitionError(file, at.Line, at.Column, field, message));

    /// <summary>The fields of one mapping: reports unknown, forbidden, duplicate and non-text keys once, when built.</summary>
    private sealed class Fields
    {
        private readonly Dictionary<string, KeyValuePair<YamlTreeNode, YamlTreeNode>> fields = new(StringComparer.Ordinal);
        private readonly string path;

        public Fields(
            DefinitionValidator validator,
            YamlTreeMapping mapping,
            YamlTreeNode location,
            string path,
            string[] known,
            IReadOnlyDictionary<string, string> forbidden)
        {
            Location = location;
            this.path = path;
            foreach (var entry in mapping.Entries)
            {
                if (entry.Key is not YamlTreeScalar { IsNull: false } key)
                {
                    validator.Error(entry.Key, path.Length == 0 ? YamlTree.DocumentField : path,
                        $"expected a field name, found {Describe(entry.Key)}");
                    continue;
                }

                var name = key.Value;
                if (forbidden.TryGetValue(name, out var reason))
                {
                    validator.Error(key, PathOf(name), reason);
                    continue;
                }

                if (!known.Contains(name, StringComparer.Ordinal))
                {
                    var nearest = DefinitionRules.NearestKey(name, known);
                    validator.Error(key, PathOf(name), nearest is null
                        ? $"unknown field; expected one of: {string.Join(", ", known)}"
                        : $"unknown field; did you mean '{nearest}'?");
                    continue;
                }

                if (fields.TryGetValue(name, out var first))
                {
                    validator.Error(key, PathOf(name), $"duplicate field; first set at line {first.Key.Line}");
                    continue;
                }

                fields.Add(name, entry);
            }
        }

        /// <summary>Where a missing field is reported: the section's key (<c>source:</c>), or the document for top-level fields.</summary>
        public YamlTreeNode Location { get; }

        public string PathOf(string name) => path.Length == 0 ? name : $"{path}.{name}";

        public YamlTreeNode? Value(string name) => fields.TryGetValue(name, out var entry) ? entry.Value : null;

        public YamlTreeNode? Key(string name) => fields.TryGetValue(name, out var entry) ? entry.Key : null;
    }
}
