using Microsoft.Extensions.Logging;

namespace RetailStreaming.Workflows.Hosting;

/// <summary>
/// A connector's logger that puts WorkflowId and ClientId on every line it writes, as the
/// workflow's actors do, so a connector's retries and errors can be found by workflow.
/// </summary>
internal sealed class WorkflowScopedLogger(ILogger inner, string workflowId, string clientId) : ILogger
{
    private readonly Dictionary<string, object> _scope = new()
    {
        ["WorkflowId"] = workflowId,
        ["ClientId"] = clientId,
    };

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!inner.IsEnabled(logLevel)) return;
        using (inner.BeginScope(_scope))
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
