using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace RetailStreaming.Node.Signals;

/// <summary>Formatted log events into a writer, one at a time (the node's JSON logs into a test's buffer).</summary>
internal sealed class TextWriterLogSink(ITextFormatter formatter, TextWriter output) : ILogEventSink
{
    private readonly object _gate = new();

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            formatter.Format(logEvent, output);
            output.Flush();
        }
    }
}
