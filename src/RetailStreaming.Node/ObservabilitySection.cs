namespace RetailStreaming.Node;

/// <summary>Metrics (<c>/metrics</c>), traces (OTLP) and the log format: <c>RetailStreaming:Observability</c>.</summary>
public sealed class ObservabilitySection
{
    /// <summary>An OTLP endpoint (e.g. <c>http://otel-collector:4317</c>) that receives the traces; none: no traces are recorded.</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary><c>grpc</c> (default, port 4317) or <c>http/protobuf</c> (port 4318).</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary><c>text</c> (default) or <c>json</c> (compact JSON lines; <c>Logging:Json=true</c> does the same).</summary>
    public string LogFormat { get; set; } = "text";

    /// <summary>
    /// True (default): <c>/metrics</c> needs an operator token, like the admin API (Prometheus:
    /// <c>authorization: { credentials_file: ... }</c>). False: anyone who reaches the admin URL may scrape.
    /// </summary>
    public bool MetricsRequireToken { get; set; } = true;

    /// <summary>How often the node samples its shards and entities for the cluster gauges (an ask to its own shard region).</summary>
    public TimeSpan ClusterSampleInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks every key before the node starts anything; throws naming the first bad one.</summary>
    public void Validate()
    {
        JsonLogs(false);
        OtlpUri();
        if (ClusterSampleInterval <= TimeSpan.Zero)
            throw new InvalidOperationException($"RetailStreaming:Observability:ClusterSampleInterval must be positive (e.g. 00:00:10); got {ClusterSampleInterval}.");
    }

    /// <summary>True when logs are written as JSON; throws naming the key for a format it does not know.</summary>
    public bool JsonLogs(bool loggingJson)
    {
        var format = string.IsNullOrWhiteSpace(LogFormat) ? "text" : LogFormat.Trim().ToLowerInvariant();
        return format switch
        {
            "json" => true,
            "text" => loggingJson,
            _ => throw new InvalidOperationException($"RetailStreaming:Observability:LogFormat: '{LogFormat}' is not a log format; use text or json."),
        };
    }

    /// <summary>The OTLP endpoint as a URI, or null when none is set; throws naming the key when it is not an absolute http(s) URL.</summary>
    public Uri? OtlpUri()
    {
        if (string.IsNullOrWhiteSpace(OtlpEndpoint)) return null;
        if (!Uri.TryCreate(OtlpEndpoint.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidOperationException($"RetailStreaming:Observability:OtlpEndpoint: '{OtlpEndpoint}' is not an http(s) URL (e.g. http://otel-collector:4317).");
        if (OtlpProtocol is not ("grpc" or "http/protobuf"))
            throw new InvalidOperationException($"RetailStreaming:Observability:OtlpProtocol: '{OtlpProtocol}' is not grpc or http/protobuf.");
        return uri;
    }
}
