using System.Diagnostics;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Observability;

/// <summary>
/// Joins the spans of one stream generation: the capture records each read's trace under its
/// position range, and the transform and the delivery find it by a change's position, so a read's
/// capture, transform and delivery spans share one trace id without the stream's elements
/// carrying anything. Entries go once their read is delivered. Empty (and free) when no one
/// listens to <see cref="WorkflowTelemetry.Traces"/>.
/// </summary>
public sealed class ReadTraces
{
    private readonly object _gate = new();
    private readonly List<(SourcePosition First, SourcePosition Last, ActivityContext Context)> _reads = [];

    /// <summary>Records a read's trace (reads arrive in position order).</summary>
    public void Add(SourcePosition first, SourcePosition last, ActivityContext context)
    {
        lock (_gate) _reads.Add((first, last, context));
    }

    /// <summary>The trace of the read holding <paramref name="position"/>, or default.</summary>
    public ActivityContext Find(SourcePosition position)
    {
        lock (_gate)
        {
            foreach (var (first, last, context) in _reads)
                if (position >= first && position <= last) return context;
        }
        return default;
    }

    /// <summary>The distinct traces of the reads holding these positions, in order.</summary>
    public IReadOnlyList<ActivityContext> FindAll(IEnumerable<SourcePosition> positions)
    {
        var found = new List<ActivityContext>();
        lock (_gate)
        {
            var i = 0;
            foreach (var position in positions)
            {
                while (i < _reads.Count && _reads[i].Last < position) i++;
                if (i == _reads.Count) break;
                if (position >= _reads[i].First && (found.Count == 0 || found[^1] != _reads[i].Context))
                    found.Add(_reads[i].Context);
            }
        }
        return found;
    }

    /// <summary>Forgets the reads wholly at or below <paramref name="delivered"/>.</summary>
    public void Release(SourcePosition delivered)
    {
        lock (_gate)
        {
            var n = 0;
            while (n < _reads.Count && _reads[n].Last <= delivered) n++;
            if (n > 0) _reads.RemoveRange(0, n);
        }
    }
}
