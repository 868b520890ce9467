namespace RetailStreaming.Connectors;

/// <summary>
/// A sink cannot deliver as configured (a target table of another layout, a missing schema, no
/// permission, an unwritable directory); the message says why and what to change. Retrying does
/// not help, so the sink throws it instead of refusing records one by one.
/// </summary>
public sealed class SinkConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
