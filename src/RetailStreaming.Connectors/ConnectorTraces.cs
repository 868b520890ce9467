using System.Diagnostics;

namespace RetailStreaming.Connectors;

/// <summary>
/// The platform's trace source (<c>RetailStreaming</c>): the workflows start a trace per capture
/// read and follow it through the transform to the delivery; a sink adds a span per attempt under
/// the delivery's span (<see cref="Activity.Current"/>). Free when no one listens.
/// </summary>
public static class ConnectorTraces
{
    /// <summary>The source's name.</summary>
    public const string SourceName = "RetailStreaming";

    /// <summary>The source.</summary>
    public static ActivitySource Source { get; } = new(SourceName);
}
