using Microsoft.Extensions.Logging;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost;

/// <summary>
/// The <see cref="ITransformLogger"/> handed to a transform: writes to a Microsoft.Extensions.Logging
/// logger, with WorkflowId, ClientId and TransformVersion in the scope of every line, so that a
/// transform's log lines can be told apart from another workflow's running the same code.
/// </summary>
public sealed class TransformLogger : ITransformLogger
{
    private readonly ILogger _logger;
    private readonly Scope _scope;

    /// <summary>Creates the adapter.</summary>
    /// <param name="logger">Where the lines go.</param>
    /// <param name="workflowId">The workflow running the transform.</param>
    /// <param name="transformVersion">The package version being run.</param>
    /// <param name="clientId">The client owning the workflow, when known.</param>
    public TransformLogger(ILogger logger, string workflowId, string transformVersion, string? clientId = null)
    {
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        var properties = new List<KeyValuePair<string, object>>
        {
            new("WorkflowId", workflowId),
            new("TransformVersion", transformVersion),
        };
        if (clientId is not null) properties.Add(new("ClientId", clientId));
        _scope = new Scope(properties);
    }

    /// <inheritdoc />
    public void Debug(string messageTemplate, params object?[] values) => Write(LogLevel.Debug, messageTemplate, values);

    /// <inheritdoc />
    public void Info(string messageTemplate, params object?[] values) => Write(LogLevel.Information, messageTemplate, values);

    /// <inheritdoc />
    public void Warning(string messageTemplate, params object?[] values) => Write(LogLevel.Warning, messageTemplate, values);

    private void Write(LogLevel level, string messageTemplate, object?[] values)
    {
        if (!_logger.IsEnabled(level)) return;
        using (_logger.BeginScope(_scope))
        {
#pragma warning disable CA2254 // The template is the transform's own, passed through as a template.
            _logger.Log(level, messageTemplate, values);
#pragma warning restore CA2254
        }
    }

    // A list of pairs is what structured providers (Serilog, the console's JSON formatter) read as properties.
    private sealed class Scope(List<KeyValuePair<string, object>> properties) : IReadOnlyList<KeyValuePair<string, object>>
    {
        public KeyValuePair<string, object> this[int index] => properties[index];
        public int Count => properties.Count;
        public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => properties.GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
        public override string ToString() => string.Join(" ", properties.Select(p => $"{p.Key}:{p.Value}"));
    }
}
