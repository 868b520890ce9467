namespace RetailStreaming.Connectors;

/// <summary>A deleted workflow's capture objects could not be removed from the client database; the message says what to run instead.</summary>
public sealed class CaptureTeardownException(string message, Exception? inner = null) : Exception(message, inner);
