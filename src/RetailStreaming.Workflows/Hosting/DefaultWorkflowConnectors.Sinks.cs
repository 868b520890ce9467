using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Files;
using RetailStreaming.Connectors.Tables;
using RetailStreaming.Definitions;

namespace RetailStreaming.Workflows.Hosting;

public sealed partial class DefaultWorkflowConnectors
{
    private IDeliverySink CreateTableSink(WorkflowDefinition definition, IDeliveryObserver observer)
    {
        var delivery = definition.Delivery;
        var table = delivery.Table ?? throw new InvalidOperationException("delivery.kind 'table' without its table settings.");
        var connection = table.Connection ?? ResolveSecret(table.ConnectionRef!, "delivery.connectionRef");
        return new PostgresTableSink(
            new PostgresTableOptions(definition.Id, connection, table.Table)
            {
                InitialBackoff = delivery.Retry.InitialBackoff,
                MaxBackoff = delivery.Retry.MaxBackoff,
                MaxAttempts = delivery.Retry.MaxAttempts,
                CommandTimeout = delivery.Timeout,
                Observer = observer,
            },
            Logger<PostgresTableSink>(definition));
    }

    private IDeliverySink CreateFileSink(WorkflowDefinition definition, IDeliveryObserver observer)
    {
        var file = definition.Delivery.File ?? throw new InvalidOperationException("delivery.kind 'file' without its file settings.");
        return new NdjsonFileSink(
            new FileSinkOptions(definition.Id, file.Directory)
            {
                RollSize = file.RollSize,
                RollInterval = file.RollInterval,
                Observer = observer,
            },
            Logger<NdjsonFileSink>(definition));
    }
}
