using RetailStreaming.Definitions;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Transform;

/// <summary>
/// The transform of a stream that replays changes across transform switches: each change runs on the
/// transform that first produced it, taken from the journaled switch positions (a version produced the
/// changes after its own switch position up to the next version's), so that a replayed record, and its
/// idempotency key, mean what they meant the first time (DESIGN.md, "Positions and checkpoints").
/// </summary>
/// <remarks>
/// Each segment's transform is created when its first change comes and disposed as soon as a change
/// past its end comes (positions only grow in a stream), so at most the version in use and the next one
/// are loaded, and a version no segment needs any more can unload. The last segment is the current
/// definition and has no end.
/// </remarks>
internal sealed class ReplayTransform : IWorkflowTransform
{
    private readonly Segment[] _segments;
    private readonly Func<WorkflowDefinition, IWorkflowTransform> _create;
    private int _first;

    /// <param name="segments">In position order; each ends (inclusive) where the next begins, the last has no end.</param>
    /// <param name="create">Creates (and initializes) a segment's transform.</param>
    public ReplayTransform(IReadOnlyList<(WorkflowDefinition Definition, SourcePosition? UpTo)> segments, Func<WorkflowDefinition, IWorkflowTransform> create)
    {
        if (segments.Count == 0 || segments[^1].UpTo is not null)
            throw new ArgumentException("The last segment is the current definition and has no end.", nameof(segments));
        _segments = segments.Select(s => new Segment(s.Definition, s.UpTo)).ToArray();
        _create = create;
    }

    /// <summary>The current definition's version (the one the stream goes on with after the replay).</summary>
    public string Version => _segments[^1].Definition.Transform.Version;

    /// <summary>The transform versions of the segments, in order (for the log).</summary>
    public IEnumerable<string> Versions => _segments.Select(s => $"{s.Definition.Transform.Version} up to {s.UpTo?.Value ?? "now"}");

    /// <summary>The longest time budget of the segments' transforms (for the stream's safety-net timeout).</summary>
    public TimeSpan LongestBudget => _segments.Max(s => s.Definition.Transform.TimeBudget);

    /// <summary>The version that runs <paramref name="change"/>.</summary>
    public string VersionOf(ChangeEvent change) => _segments[IndexOf(change.Position)].Definition.Transform.Version;

    public async Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken) =>
        (await RunBatchAsync([change], cancellationToken))[0];

    public async Task<IReadOnlyList<TransformOutcome>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        var outcomes = new List<TransformOutcome>(changes.Count);
        var start = 0;
        while (start < changes.Count)
        {
            // A run of consecutive changes of one segment goes over in one hand-over.
            var index = IndexOf(changes[start].Position);
            var end = start + 1;
            while (end < changes.Count && IndexOf(changes[end].Position) == index) end++;
            var transform = Enter(index);
            var run = end - start == changes.Count ? changes : changes.Skip(start).Take(end - start).ToList();
            var results = await transform.RunBatchAsync(run, cancellationToken);
            outcomes.AddRange(results);
            if (results.Count < run.Count || (results.Count > 0 && results[^1].Overran)) break;
            start = end;
        }
        return outcomes;
    }

    public void Dispose()
    {
        foreach (var segment in _segments)
        {
            segment.Transform?.Dispose();
            segment.Transform = null;
        }
    }

    private int IndexOf(SourcePosition position)
    {
        // From the first segment, not the first one still loaded: the actor asks for the versions of a batch after it ran.
        for (var i = 0; i < _segments.Length - 1; i++)
            if (position <= _segments[i].UpTo!.Value) return i;
        return _segments.Length - 1;
    }

    /// <summary>The segment's transform, created on first use; the segments before it are done and are released.</summary>
    private IWorkflowTransform Enter(int index)
    {
        for (; _first < index; _first++)
        {
            _segments[_first].Transform?.Dispose();
            _segments[_first].Transform = null;
        }
        return _segments[index].Transform ??= _create(_segments[index].Definition);
    }

    private sealed class Segment(WorkflowDefinition definition, SourcePosition? upTo)
    {
        public WorkflowDefinition Definition { get; } = definition;
        public SourcePosition? UpTo { get; } = upTo;
        public IWorkflowTransform? Transform { get; set; }
    }
}
