using Microsoft.Extensions.Logging;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>An ILogger that keeps what it is given, with the properties of its scopes and its template.</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly List<IEnumerable<KeyValuePair<string, object>>> _scopes = [];
    private readonly object _gate = new();

    public List<(LogLevel Level, string Message, Dictionary<string, object?> Properties)> Lines { get; } = [];

    public IDisposable BeginScope<TState>(TState state) where TState : notnull
    {
        var properties = state as IEnumerable<KeyValuePair<string, object>> ?? [];
        lock (_gate) _scopes.Add(properties);
        return new Pop(() => { lock (_gate) _scopes.Remove(properties); });
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var properties = new Dictionary<string, object?>();
        lock (_gate)
        {
            foreach (var scope in _scopes)
                foreach (var (key, value) in scope) properties[key] = value;
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
                foreach (var (key, value) in values) properties[key] = value;
            Lines.Add((logLevel, formatter(state, exception), properties));
        }
    }

    private sealed class Pop(Action pop) : IDisposable
    {
        public void Dispose() => pop();
    }
}
