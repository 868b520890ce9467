namespace RetailStreaming.Transforms;

/// <summary>
/// Structured logging for transforms. Message templates use named holes, as in Serilog and
/// Microsoft.Extensions.Logging: <c>Info("Ticket {TicketId} has no lines", id)</c>.
/// </summary>
public interface ITransformLogger
{
    /// <summary>Logs a detail useful while developing a transform.</summary>
    void Debug(string messageTemplate, params object?[] values);

    /// <summary>Logs a notable fact.</summary>
    void Info(string messageTemplate, params object?[] values);

    /// <summary>Logs something unexpected that the transform handled.</summary>
    void Warning(string messageTemplate, params object?[] values);
}

/// <summary>A logger that drops everything.</summary>
public sealed class NullTransformLogger : ITransformLogger
{
    /// <summary>The single instance.</summary>
    public static NullTransformLogger Instance { get; } = new();

    /// <inheritdoc />
    public void Debug(string messageTemplate, params object?[] values) { }

    /// <inheritdoc />
    public void Info(string messageTemplate, params object?[] values) { }

    /// <inheritdoc />
    public void Warning(string messageTemplate, params object?[] values) { }
}
