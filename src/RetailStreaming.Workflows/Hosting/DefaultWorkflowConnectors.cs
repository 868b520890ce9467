using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Postgres;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Hosting;

/// <summary>
/// The node's connectors: SQLite change-table capture, webhook, table and file delivery, and
/// transforms loaded from the package folder.
/// </summary>
public sealed partial class DefaultWorkflowConnectors : IWorkflowConnectors, IDisposable
{
    // One handler for all workflows: connections are pooled per endpoint, and recycled so that
    // DNS changes of a client's endpoint are seen.
    private readonly SocketsHttpHandler _http = new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        // A followed 301/302 would turn the POST into a GET: a redirect is an answer, not a delivery.
        AllowAutoRedirect = false,
    };
    private readonly ILoggerFactory _loggers;
    private readonly string? _secretsFile;

    /// <summary>Creates the connectors over a transform package folder and its extraction cache, and the published packages (preferred to the folder) when given.</summary>
    /// <param name="packageDirectory">The transform packages.</param>
    /// <param name="cacheDirectory">Where packages are extracted.</param>
    /// <param name="loggers">The node's loggers.</param>
    /// <param name="secretsFile">The node's secrets file, for <c>file:NAME</c> references (none by default).</param>
    /// <param name="publishedPackages">The packages published to the platform store, preferred to the folder (none by default).</param>
    /// <param name="transformSlots">The node's transform scheduler (default: one core fewer than the machine has, 2 ms slices).</param>
    public DefaultWorkflowConnectors(string packageDirectory, string cacheDirectory, ILoggerFactory? loggers = null, string? secretsFile = null,
        TransformHost.ITransformPackageSource? publishedPackages = null, TransformHost.TransformScheduler? transformSlots = null)
    {
        TransformSlots = transformSlots ?? new TransformHost.TransformScheduler(TransformHost.TransformScheduler.DefaultSlots, TransformHost.TransformScheduler.DefaultSlice);
        _loggers = loggers ?? NullLoggerFactory.Instance;
        _secretsFile = secretsFile;
        InitializeTransforms(packageDirectory, cacheDirectory, publishedPackages);
    }

    /// <summary>
    /// The circuit breaker and rate state of every webhook endpoint this node delivers to, per client
    /// and endpoint, kept while the node runs (a rebuilt stream finds its endpoint's state as it was).
    /// </summary>
    public EndpointGovernors Endpoints { get; } = new();

    /// <summary>Resolves a secret reference of a definition (<c>env:</c>, <c>file:/path</c>, <c>file:NAME</c>).</summary>
    public string ResolveSecret(string reference, string field) => SecretReference.Resolve(reference, field, _secretsFile);

    /// <summary>The source's connection string: given inline, or resolved from its reference.</summary>
    private string SourceConnection(SourceDefinition source) =>
        source.Connection ?? ResolveSecret(source.ConnectionRef!, "source.connectionRef");

    /// <inheritdoc />
    public IChangeSource CreateSource(WorkflowDefinition definition)
    {
        var source = definition.Source;
        var connection = SourceConnection(source);
        return source.Kind switch
        {
            "sqlite" => new SqliteChangeTableSource(definition.Id, connection, source.Tables,
                Logger<SqliteChangeTableSource>(definition), retention: source.Retention),
            // A PostgreSQL read waits for a first change up to the poll interval (the capture then
            // reads again at once), so a change after an idle time is not held by a timer.
            "postgres" => new PostgresLogicalSource(definition.Id, connection, source.Tables,
                Logger<PostgresLogicalSource>(definition),
                PostgresSourceOptions.Default with
                {
                    ReadWait = source.PollInterval,
                    HeartbeatInterval = source.HeartbeatInterval ?? PostgresSourceOptions.Default.HeartbeatInterval,
                }),
            _ => throw new NotSupportedException($"source.kind '{source.Kind}' is not available on this node yet."),
        };
    }

    /// <inheritdoc />
    public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer)
    {
        var delivery = definition.Delivery;
        return delivery.Kind switch
        {
            "webhook" => CreateWebhookSink(definition, observer),
            "table" => CreateTableSink(definition, observer),
            "file" => CreateFileSink(definition, observer),
            _ => throw new NotSupportedException($"delivery.kind '{delivery.Kind}' is not available on this node yet."),
        };
    }

    private WebhookDelivery CreateWebhookSink(WorkflowDefinition definition, IDeliveryObserver observer)
    {
        var delivery = definition.Delivery;
        var secrets = new List<string>();
        for (var i = 0; i < delivery.SecretRefs.Count; i++)
        {
            var field = delivery.SecretRefs.Count == 1 ? "delivery.secretRef" : $"delivery.secretRefs[{i}]";
            var secret = ResolveSecret(delivery.SecretRefs[i], field);
            try
            {
                StandardWebhooks.DecodeSecret(secret);
            }
            catch (ArgumentException e)
            {
                // Which of the secrets is malformed; the message never quotes it.
                throw new InvalidOperationException($"{field}: {e.Message.Split(" (Parameter")[0]}");
            }
            secrets.Add(secret);
        }
        var url = new Uri(delivery.Url);
        var breaker = new CircuitBreakerOptions
        {
            FailureThreshold = delivery.CircuitBreaker.FailureThreshold,
            CoolDown = delivery.CircuitBreaker.CoolDown,
        };
        return new WebhookDelivery(
            new WebhookOptions(url, secrets[0])
            {
                AdditionalSigningSecrets = secrets.Skip(1).ToList(),
                Timeout = delivery.Timeout,
                InitialBackoff = delivery.Retry.InitialBackoff,
                MaxBackoff = delivery.Retry.MaxBackoff,
                MaxAttempts = delivery.Retry.MaxAttempts,
                MaxRequestBytes = delivery.Batching.MaxBytes,
                Compression = delivery.Compression == "gzip" ? WebhookCompression.Gzip : WebhookCompression.None,
                CircuitBreaker = breaker,
                Endpoint = Endpoints.For(definition.Client, url, breaker),
                Observer = observer,
                HoldKeyAfterRefusal = delivery.OnRefused == DeliveryDefinition.ParkRefused,
            },
            new HttpClient(_http, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan },
            logger: Logger<WebhookDelivery>(definition));
    }

    /// <inheritdoc />
    public async Task<string> RemoveCaptureAsync(WorkflowDefinition definition, CancellationToken cancellationToken)
    {
        var source = definition.Source;
        string connection;
        try
        {
            connection = SourceConnection(source);
        }
        catch (Exception e)
        {
            throw new CaptureTeardownException($"the source connection of workflow '{definition.Id}' cannot be resolved: {e.Message}; " +
                                               $"make it resolvable on this node and run 'rsctl workflow delete {definition.Id}' again", e);
        }
        switch (source.Kind)
        {
            case "postgres":
                return (await PostgresCaptureTeardown.RunAsync(connection, definition.Id, Logger<PostgresLogicalSource>(definition), cancellationToken)).Describe();
            case "sqlite":
                var changeTable = SqliteChangeTableSource.ChangeTableNameFor(definition.Id);
                try
                {
                    await SqliteChangeTableSource.RemoveCaptureAsync(connection, definition.Id, Logger<SqliteChangeTableSource>(definition), cancellationToken);
                }
                catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or SourceConfigurationException or IOException)
                {
                    throw new CaptureTeardownException(
                        $"the SQLite capture of workflow '{definition.Id}' could not be removed: {e.Message}. Run 'rsctl workflow delete {definition.Id}' " +
                        $"again once the database is writable, or in the client database drop the triggers named '_rs_{changeTable["_rs_changes_".Length..]}:*' " +
                        $"and the table {changeTable}", e);
                }
                return $"SQLite capture triggers and change table {changeTable} removed";
            default:
                throw new CaptureTeardownException($"source.kind '{source.Kind}' has no capture teardown on this node; remove its objects from the client database by hand");
        }
    }

    private ILogger Logger<T>(WorkflowDefinition definition) =>
        new WorkflowScopedLogger(_loggers.CreateLogger<T>(), definition.Id, definition.Client);

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
