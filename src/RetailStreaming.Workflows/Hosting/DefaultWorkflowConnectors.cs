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
/// The node's connectors: SQLite change-table capture, webhook delivery, and transforms loaded
/// from the package folder.
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

    /// <summary>Creates the connectors over a transform package folder and its extraction cache, and the published packages (preferred to the folder) when given.</summary>
    public DefaultWorkflowConnectors(string packageDirectory, string cacheDirectory, ILoggerFactory? loggers = null,
        TransformHost.ITransformPackageSource? publishedPackages = null)
    {
        _loggers = loggers ?? NullLoggerFactory.Instance;
        InitializeTransforms(packageDirectory, cacheDirectory, publishedPackages);
    }

    /// <inheritdoc />
    public IChangeSource CreateSource(WorkflowDefinition definition)
    {
        var source = definition.Source;
        var connection = source.Connection ?? SecretReference.Resolve(source.ConnectionRef!, "source.connectionRef");
        return source.Kind switch
        {
            "sqlite" => new SqliteChangeTableSource(definition.Id, connection, source.Tables,
                Logger<SqliteChangeTableSource>(definition)),
            "postgres" => new PostgresLogicalSource(definition.Id, connection, source.Tables,
                Logger<PostgresLogicalSource>(definition)),
            _ => throw new NotSupportedException($"source.kind '{source.Kind}' is not available on this node yet."),
        };
    }

    /// <inheritdoc />
    public IDeliverySink CreateSink(WorkflowDefinition definition, IDeliveryObserver observer)
    {
        var delivery = definition.Delivery;
        return delivery.Kind switch
        {
            "webhook" => new WebhookDelivery(
                new WebhookOptions(new Uri(delivery.Url), SecretReference.Resolve(delivery.SecretRef, "delivery.secretRef"))
                {
                    Timeout = delivery.Timeout,
                    InitialBackoff = delivery.Retry.InitialBackoff,
                    MaxBackoff = delivery.Retry.MaxBackoff,
                    MaxAttempts = delivery.Retry.MaxAttempts,
                    Observer = observer,
                },
                new HttpClient(_http, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan },
                logger: Logger<WebhookDelivery>(definition)),
            _ => throw new NotSupportedException($"delivery.kind '{delivery.Kind}' is not available on this node yet."),
        };
    }

    private ILogger Logger<T>(WorkflowDefinition definition) =>
        new WorkflowScopedLogger(_loggers.CreateLogger<T>(), definition.Id, definition.Client);

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
