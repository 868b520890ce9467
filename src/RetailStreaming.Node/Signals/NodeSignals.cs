using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Node.Signals;

/// <summary>
/// The node's OpenTelemetry wiring: the workflows' meter and the cluster gauges on <c>/metrics</c>
/// (Prometheus text format, on the admin URL), and the workflows' traces to an OTLP endpoint when
/// one is configured. The workflows themselves only use System.Diagnostics (Meter, ActivitySource).
/// </summary>
public static class NodeSignals
{
    /// <summary>The scrape path.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>Registers the node's telemetry, the cluster sampler and the SDK with its exporters.</summary>
    public static void AddNodeSignals(this WebApplicationBuilder builder, NodeOptions options)
    {
        var otlp = options.Observability.OtlpUri();
        var telemetry = new WorkflowTelemetry();
        builder.Services.AddSingleton(telemetry);
        builder.Services.AddSingleton(sp => new ClusterSignals(telemetry, sp, options.Observability.ClusterSampleInterval));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ClusterSignals>());

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("retailstreaming", serviceInstanceId: $"{options.Node.Hostname}:{options.Node.Port}"))
            .WithMetrics(metrics => metrics
                .AddMeter(WorkflowTelemetry.MeterName)
                // Every node's meter has the same name; a node exports its own only (tests run
                // several nodes in one process).
                .AddView(instrument => instrument.Meter.Name == WorkflowTelemetry.MeterName && !ReferenceEquals(instrument.Meter, telemetry.Meter)
                    ? MetricStreamConfiguration.Drop
                    : null)
                .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
        if (otlp is not null)
        {
            otel.WithTracing(tracing => tracing
                .AddSource(WorkflowTelemetry.ActivitySourceName)
                .AddOtlpExporter(exporter =>
                {
                    exporter.Endpoint = otlp;
                    exporter.Protocol = options.Observability.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                }));
        }
    }

    /// <summary>
    /// Maps <c>/metrics</c>. With <c>MetricsRequireToken</c> (the default) it needs an operator
    /// token, as the admin API does: the figures name every client's workflows.
    /// </summary>
    public static void MapNodeSignals(this WebApplication app, NodeOptions options)
    {
        if (options.Observability.MetricsRequireToken)
        {
            app.Use(async (http, next) =>
            {
                if (!http.Request.Path.Equals(MetricsPath, StringComparison.OrdinalIgnoreCase))
                {
                    await next(http);
                    return;
                }
                var header = http.Request.Headers.Authorization.ToString();
                TokenInfo? token = null;
                if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                    token = await http.RequestServices.GetRequiredService<ITokenStore>().AuthenticateAsync(header["Bearer ".Length..].Trim(), http.RequestAborted);
                if (token is null)
                {
                    await Results.Json(new { error = "missing or invalid token", detail = "Scraping /metrics needs 'Authorization: Bearer <operator token>' (Prometheus: authorization.credentials_file), or RetailStreaming:Observability:MetricsRequireToken=false." }, statusCode: 401)
                        .ExecuteAsync(http);
                    return;
                }
                if (token.Role != TokenStore.OperatorRole)
                {
                    await Results.Json(new { error = "forbidden", detail = "Scraping /metrics needs an operator token: the metrics name every client's workflows." }, statusCode: 403)
                        .ExecuteAsync(http);
                    return;
                }
                await next(http);
            });
        }
        app.MapPrometheusScrapingEndpoint(MetricsPath);
    }
}
