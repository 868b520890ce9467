namespace RetailStreaming.Store;

/// <summary>
/// The platform store: the tables the platform owns for what is not an actor's state.
/// Call <see cref="InitializeAsync"/> once at startup, before using the stores. Every
/// operation opens its own pooled connection, so the stores may be shared by any number
/// of actors calling concurrently.
/// </summary>
public abstract class PlatformStore : IDisposable
{
    private readonly PlatformDatabase _database;

    private protected PlatformStore(PlatformDatabase database)
    {
        _database = database;
        DeadLetters = new DeadLetterStore(database);
        Workflows = new WorkflowRegistry(database);
        Tokens = new TokenStore(database);
        TransformPackages = new TransformPackageRegistry(database);
        Alerts = new AlertStore(database);
        Sla = new SlaStore(database);
        RegressSamples = new RegressSampleStore(database);
    }

    /// <summary>Alert firings and their resolution.</summary>
    public AlertStore Alerts { get; }

    /// <summary>Per-workflow SLA history: time up, down and paused, volume, latency.</summary>
    public SlaStore Sla { get; }

    /// <summary>Recorded regression samples: a bounded sample of each workflow's transform inputs and outputs.</summary>
    public RegressSampleStore RegressSamples { get; }

    /// <summary>Transform packages published to the cluster.</summary>
    public TransformPackageRegistry TransformPackages { get; }

    /// <summary>Dead letters, per workflow.</summary>
    public DeadLetterStore DeadLetters { get; }

    /// <summary>Every workflow of the platform.</summary>
    public WorkflowRegistry Workflows { get; }

    /// <summary>Admin API tokens.</summary>
    public TokenStore Tokens { get; }

    /// <summary>The migrations this build knows, ascending; the last one is the schema version it expects.</summary>
    public IReadOnlyList<StoreMigration> Migrations => _database.Migrations;

    /// <summary>
    /// Prepares the database and applies the migrations it lacks; safe to call again and
    /// from several nodes at once. Throws <see cref="IncompatibleStoreSchemaException"/>
    /// when the database was migrated by a newer build.
    /// </summary>
    /// <returns>The versions applied by this call (empty when the schema was up to date).</returns>
    public async Task<IReadOnlyList<int>> InitializeAsync(CancellationToken cancellationToken = default)
    {
        var applied = await new SchemaMigrator(_database).MigrateAsync(cancellationToken).ConfigureAwait(false);
        _database.MarkReady();
        return applied;
    }

    /// <summary>Releases the pooled connections (and so the file handles) of this store.</summary>
    public void Dispose()
    {
        _database.ReleaseConnections();
        GC.SuppressFinalize(this);
    }
}
