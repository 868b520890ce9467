using RetailStreaming.Workflows;

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

    /// <summary>The admin HTTP API.</summary>
    public AdminSection Admin { get; set; } = new();

    /// <summary>The actors' journal and snapshot store.</summary>
    public DatabaseSection Persistence { get; set; } = new();

    /// <summary>The platform store (dead letters, registry, tokens).</summary>
    public DatabaseSection Store { get; set; } = new();

    /// <summary>Where transform packages come from.</summary>
    public TransformsSection Transforms { get; set; } = new();

    /// <summary>Workflow actor settings.</summary>
    public WorkflowSettings Workflows { get; set; } = new();

    /// <summary>Logs.</summary>
    public LoggingSection Logging { get; set; } = new();

    /// <summary>The data directory as an absolute path.</summary>
    public string DataDirectory => Path.GetFullPath(Node.DataDirectory);

    /// <summary>The journal's connection string (default: journal.db in the data directory).</summary>
    public string JournalConnectionString =>
        string.IsNullOrWhiteSpace(Persistence.ConnectionString)
            ? $"Data Source={Path.Combine(DataDirectory, "journal.db")}"
            : Persistence.ConnectionString;

    /// <summary>The platform store's connection string (default: platform.db in the data directory).</summary>
    public string StoreConnectionString =>
        string.IsNullOrWhiteSpace(Store.ConnectionString)
            ? $"Data Source={Path.Combine(DataDirectory, "platform.db")}"
            : Store.ConnectionString;

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

    /// <summary>The Akka.Remote port; 0 picks a free one (only for a single node).</summary>
    public int Port { get; set; } = 4053;

    /// <summary>Seed nodes (<c>akka.tcp://retailstreaming@host:port</c>); none: the node forms a cluster of its own.</summary>
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

/// <summary>A database.</summary>
public sealed class DatabaseSection
{
    /// <summary><c>sqlite</c> (the embedded default); <c>postgres</c> comes with the PostgreSQL issue.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>The connection string; empty for the default file in the data directory.</summary>
    public string ConnectionString { get; set; } = "";
}

/// <summary>Transform package settings.</summary>
public sealed class TransformsSection
{
    /// <summary>A folder of .nupkg files (a local NuGet feed).</summary>
    public string PackageDirectory { get; set; } = "";

    /// <summary>Where packages are extracted.</summary>
    public string CacheDirectory { get; set; } = "";
}

/// <summary>Log settings.</summary>
public sealed class LoggingSection
{
    /// <summary>Verbose, Debug, Information, Warning, Error.</summary>
    public string MinimumLevel { get; set; } = "Information";

    /// <summary>Compact JSON lines instead of text.</summary>
    public bool Json { get; set; }
}
