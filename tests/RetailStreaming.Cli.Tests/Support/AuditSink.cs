using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;

namespace RetailStreaming.Cli.Tests.Support;

/// <summary>Keeps the admin API's audit log lines (a Serilog sink), to check who was logged doing what.</summary>
public sealed class AuditSink : ILogEventSink
{
    private readonly ConcurrentQueue<LogEvent> _events = new();

    public IReadOnlyList<LogEvent> Events => _events.ToArray();

    public void Emit(LogEvent logEvent) => _events.Enqueue(logEvent);

    /// <summary>A property of an event as plain text (null when absent).</summary>
    public static string? Property(LogEvent e, string name) =>
        e.Properties.TryGetValue(name, out var v) ? v is ScalarValue { Value: var x } ? x?.ToString() : v.ToString() : null;
}
