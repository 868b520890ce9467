using RetailStreaming.Workflows;
using RetailStreaming.Workflows.Hosting;

namespace RetailStreaming.Node;

/// <summary>
/// A node's configuration: section <c>RetailStreaming</c> of cluster-config/&lt;environment&gt;.json,
/// overridden by environment variables (<c>RetailStreaming__Admin__Url=...</c>) and by
/// command-line options (<c>--RetailStreaming:Node:Port=4054</c>).
/// </summary>
public sealed class NodeOptions
{
    /// <summary>The node itself.</summary>
    public NodeSection Node { get; set; } = new();

    /// <summary>Cluster membership and shard placement (split brain resolver, rebalance).</summary>
    public ClusterSection Cluster { get; set; } = new();

    /// <summary>The admin HTTP API.</summary>
    public AdminSection Admin { get; set; } = new();

    /// <summary>The actors' journal and snapshot store.</summary>
    public DatabaseSection Persistence { get; set; } = new();

    /// <summary>The platform store (dead letters, registry, tokens).</summary>
    public StoreSection Store { get; set; } = new();

    /// <summary>Dead-letter retention.</summary>
    public DeadLettersSection DeadLetters { get; set; } = new();

    /// <summary>Where transform packages come from.</summary>
    public TransformsSection Transforms { get; set; } = new();

    /// <summary>Workflow actor settings.</summary>
    public WorkflowSettings Workflows { get; set; } = new();

    /// <summary>Logs.</summary>
    public LoggingSection Logging { get; set; } = new();

    /// <summary>Where <c>file:NAME</c> secret references are looked up.</summary>
    public SecretsSection Secrets { get; set; } = new();

    /// <summary>The pages (dashboard, support view, client status) and what they read.</summary>
    public PagesSection Pages { get; set; } = new();

    /// <summary>Alert rules and where notifications go.</summary>
    public Health.AlertsSection Alerts { get; set; } = new();

    /// <summary>SLA targets and windows.</summary>
    public Health.SlaSection Sla { get; set; } = new();

    /// <summary>Regression samples: how many each workflow keeps, how often they are written (Regress/RegressSampleFlusher.cs).</summary>
    public Workflows.Regress.RegressSettings Regress { get; set; } = new();

    /// <summary>Metrics, traces and the log format (NodeSignals.cs).</summary>
    public ObservabilitySection Observability { get; set; } = new();

    /// <summary>The secrets file as an absolute path, or null when the node has none.</summary>
    public string? SecretsFile => string.IsNullOrWhiteSpace(Secrets.File) ? null : Path.GetFullPath(Secrets.File);

    /// <summary>The data directory as an absolute path.</summary>
    public string DataDirectory => Path.GetFullPath(Node.DataDirectory);

    /// <summary>
    /// The journal's connection string: <c>ConnectionString</c>, else the secret <c>ConnectionStringRef</c>
    /// names, else (SQLite only) journal.db in the data directory. Throws <see cref="InvalidOperationException"/>
    /// naming the key when PostgreSQL has none, and <see cref="NotSupportedException"/> for an unknown provider.
    /// </summary>
    public string JournalConnectionString => ConnectionStringOf(Persistence, "Persistence", "journal.db");

    /// <summary>The platform store's connection string, as <see cref="JournalConnectionString"/> (default file platform.db).</summary>
    public string StoreConnectionString => ConnectionStringOf(Store, "Store", "platform.db");

    private string ConnectionStringOf(DatabaseSection section, string sectionName, string defaultFile)
    {
        var key = $"RetailStreaming:{sectionName}";
        var provider = section.ProviderOf(key);
        var hasValue = !string.IsNullOrWhiteSpace(section.ConnectionString);
        var hasReference = !string.IsNullOrWhiteSpace(section.ConnectionStringRef);
        if (hasValue && hasReference)
            throw new InvalidOperationException(
                $"{key}:ConnectionString and {key}:ConnectionStringRef are both set; set one of them (an empty value clears the other).");
        if (hasReference)
            return SecretReference.Resolve(section.ConnectionStringRef.Trim(), $"{key}:ConnectionStringRef", SecretsFile);
        if (hasValue)
            return section.ConnectionString;
        if (provider == DatabaseProviders.Sqlite)
            return $"Data Source={Path.Combine(DataDirectory, defaultFile)}";
        throw new InvalidOperationException(
            $"{key}:ConnectionString is required when {key}:Provider is '{provider}' " +
            $"(or {key}:ConnectionStringRef, env:NAME or file:/path, to keep the password out of the configuration).");
    }

    /// <summary>The folder of transform packages (default: transform-packages beside the node's binaries).</summary>
    public string PackageDirectory =>
        string.IsNullOrWhiteSpace(Transforms.PackageDirectory)
            ? Path.Combine(AppContext.BaseDirectory, "transform-packages")
            : Path.GetFullPath(Transforms.PackageDirectory);

    /// <summary>Where packages are extracted (default: transform-cache in the data directory).</summary>
    public string PackageCacheDirectory =>
        string.IsNullOrWhiteSpace(Transforms.CacheDirectory)
            ? Path.Combine(DataDirectory, "transform-cache")
            : Path.GetFullPath(Transforms.CacheDirectory);
}

/// <summary>Node settings.</summary>
public sealed class NodeSection
{
    /// <summary>Where the node keeps its files (journal, platform store, operator token).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>The address other nodes reach this one at.</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>
    /// The host name other nodes reach this one at, when it differs from <see cref="Hostname"/> (a
    /// node listening on 0.0.0.0 in a container: its DNS name, which seed node addresses must match
    /// exactly). Empty: <see cref="Hostname"/>, or the machine's name for 0.0.0.0.
    /// </summary>
    public string PublicHostname { get; set; } = "";

    /// <summary>The host name in this node's address: <see cref="PublicHostname"/>, else <see cref="Hostname"/> (the machine's name for 0.0.0.0).</summary>
    public string AdvertisedHostname =>
        !string.IsNullOrWhiteSpace(PublicHostname) ? PublicHostname.Trim()
        : Hostname == "0.0.0.0" ? System.Net.Dns.GetHostName() : Hostname;

    /// <summary>The Akka.Remote port; 0 picks a free one (only for a single node).</summary>
    public int Port { get; set; } = 4053;

    /// <summary>
    /// Seed nodes (<c>akka.tcp://retailstreaming@host:port</c>); none: the node forms a cluster of its own.
    /// The environment variable RS_SEED_NODES (comma-separated) replaces the whole list.
    /// </summary>
    public List<string> SeedNodes { get; set; } = [];

    /// <summary>Cluster roles of this node.</summary>
    public List<string> Roles { get; set; } = [];
}

/// <summary>Admin API settings.</summary>
public sealed class AdminSection
{
    /// <summary>The URL the admin API listens on (127.0.0.1 by default; port 0 picks a free one).</summary>
    public string Url { get; set; } = "http://127.0.0.1:5170";
}

/// <summary>The database providers a node runs on.</summary>
public static class DatabaseProviders
{
    /// <summary>One SQLite file per database in the data directory: the embedded default, for a single node.</summary>
    public const string Sqlite = "sqlite";

    /// <summary>PostgreSQL, shared by the nodes of a cluster.</summary>
    public const string Postgres = "postgres";
}

/// <summary>A database.</summary>
public class DatabaseSection
{
    /// <summary><c>sqlite</c> (the embedded default) or <c>postgres</c> (a cluster).</summary>
    public string Provider { get; set; } = DatabaseProviders.Sqlite;

    /// <summary>
    /// The connection string; empty for the default file in the data directory (SQLite). Required
    /// for PostgreSQL unless <see cref="ConnectionStringRef"/> is set.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// Where to read the connection string instead (<c>env:NAME</c> or <c>file:/path</c>), so that
    /// configuration files hold no password.
    /// </summary>
    public string ConnectionStringRef { get; set; } = "";

    /// <summary>True when the provider is PostgreSQL.</summary>
    public bool IsPostgres => string.Equals(Provider?.Trim(), DatabaseProviders.Postgres, StringComparison.OrdinalIgnoreCase);

    /// <summary>The provider, validated (<paramref name="key"/> names the section in the error).</summary>
    internal string ProviderOf(string key) => Provider?.Trim().ToLowerInvariant() switch
    {
        DatabaseProviders.Sqlite => DatabaseProviders.Sqlite,
        DatabaseProviders.Postgres => DatabaseProviders.Postgres,
        _ => throw new NotSupportedException(
            $"{key}:Provider '{Provider}' is not supported; use '{DatabaseProviders.Sqlite}' or '{DatabaseProviders.Postgres}'."),
    };
}

/// <summary>The platform store's database.</summary>
public sealed class StoreSection : DatabaseSection
{
    /// <summary>
    /// PostgreSQL only: the schema holding the platform's tables, created when missing
    /// (default <c>retailstreaming</c>), so that they never mix with other tables of the database.
    /// </summary>
    public string Schema { get; set; } = RetailStreaming.Store.Postgres.PostgresPlatformStore.DefaultSchema;
}

/// <summary>Dead-letter retention: they hold client data (personal data), so they are not kept for ever.</summary>
public sealed class DeadLettersSection
{
    /// <summary>Dead letters stored longer ago than this are purged (redriven or not). Default 30 days.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often the node purges. Default 1 hour.</summary>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public void Validate()
    {
        if (Retention <= TimeSpan.Zero)
            throw new InvalidOperationException($"RetailStreaming:DeadLetters:Retention must be positive (e.g. 30.00:00:00); got {Retention}.");
        if (PurgeInterval <= TimeSpan.Zero)
            throw new InvalidOperationException($"RetailStreaming:DeadLetters:PurgeInterval must be positive (e.g. 01:00:00); got {PurgeInterval}.");
    }
}

/// <summary>Transform package settings.</summary>
public sealed class TransformsSection
{
    /// <summary>A folder of .nupkg files (a local NuGet feed).</summary>
    public string PackageDirectory { get; set; } = "";

    /// <summary>Where packages are extracted.</summary>
    public string CacheDirectory { get; set; } = "";

    /// <summary>Transform calls running at once on the node, all workflows together; 0: one core fewer than the machine has, at least 1.</summary>
    public int Slots { get; set; }

    /// <summary>How long a workflow's transform keeps a slot for consecutive changes while another one waits.</summary>
    public TimeSpan Slice { get; set; } = TransformHost.TransformScheduler.DefaultSlice;

    /// <summary>
    /// The recent use, as a share of one slot, under which a workflow's transform is light and may take
    /// the light lane beside the slots (0: no light lane); see <see cref="TransformHost.TransformScheduler"/>.
    /// </summary>
    public double LightShare { get; set; } = TransformHost.TransformScheduler.DefaultLightShare;

    /// <summary>The node's transform scheduler, as configured.</summary>
    public TransformHost.TransformScheduler CreateScheduler() =>
        new(Slots == 0 ? TransformHost.TransformScheduler.DefaultSlots : Slots, Slice, LightShare);

    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public void Validate()
    {
        if (Slots < 0)
            throw new InvalidOperationException($"RetailStreaming:Transforms:Slots must be 0 (one core fewer than the machine has) or positive; got {Slots}.");
        if (Slice <= TimeSpan.Zero || Slice > TimeSpan.FromSeconds(10))
            throw new InvalidOperationException($"RetailStreaming:Transforms:Slice must be positive and at most 10 s (e.g. 00:00:00.002); got {Slice}.");
        if (!(LightShare >= 0 && LightShare < 1))
            throw new InvalidOperationException($"RetailStreaming:Transforms:LightShare must be at least 0 (no light lane) and under 1 (e.g. 0.1); got {LightShare}.");
    }
}

/// <summary>Log settings.</summary>
public sealed class LoggingSection
{
    /// <summary>Verbose, Debug, Information, Warning, Error.</summary>
    public string MinimumLevel { get; set; } = "Information";

    /// <summary>Compact JSON lines instead of text.</summary>
    public bool Json { get; set; }
}

/// <summary>The node's secrets file.</summary>
public sealed class SecretsSection
{
    /// <summary>
    /// A file of named secrets for <c>file:NAME</c> references: a JSON object of strings, or
    /// <c>NAME=value</c> lines. It must be readable by the node's user only (mode 600 or 400).
    /// </summary>
    public string File { get; set; } = "";
}
