using Akka.Event;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Transform;

namespace RetailStreaming.Workflows;

/// <summary>Replays across transform switches: each replayed change runs on the version that first produced it.</summary>
public sealed partial class WorkflowActor
{
    /// <summary>
    /// The stream's transform: the definition's, or, while a replay runs over changes that earlier
    /// transforms produced, a <see cref="ReplayTransform"/> that runs each of them on its own version
    /// (from the journaled switch positions) and the later ones on the current one.
    /// </summary>
    private IWorkflowTransform CreateStreamTransform(WorkflowDefinition def)
    {
        if (_state.ReplayUntil is null) return _deps.Connectors.CreateTransform(def, new AkkaTransformLogger(_log));
        var segments = TransformSegmentsAfter(_delivered, def, out var problem);
        if (problem is not null) throw new InvalidOperationException(problem);
        if (segments.Count == 1) return _deps.Connectors.CreateTransform(def, new AkkaTransformLogger(_log));
        var replay = new ReplayTransform(segments, d => _deps.Connectors.CreateTransform(d, new AkkaTransformLogger(_log)));
        _log.Info("Replaying across transform switches: {Versions}", string.Join(", ", replay.Versions));
        return replay;
    }

    /// <summary>
    /// The transforms that produced the changes after <paramref name="from"/>, in position order: version k
    /// produced those after its switch position up to (and with) the next version's. Neighbours with the same
    /// transform (package, version, type, settings) are one segment; the last is <paramref name="current"/>
    /// with no end. <paramref name="problem"/> names a version that no longer validates.
    /// </summary>
    private List<(WorkflowDefinition Definition, SourcePosition? UpTo)> TransformSegmentsAfter(
        SourcePosition from, WorkflowDefinition current, out string? problem)
    {
        problem = null;
        var versions = _state.Definitions;
        var segments = new List<(WorkflowDefinition Definition, SourcePosition? UpTo)>();
        for (var i = 0; i < versions.Count - 1; i++)
        {
            var upTo = new SourcePosition(versions[i + 1].AtPosition);
            // Done before the replay starts, or switched away from before it produced anything.
            if (upTo <= from || upTo <= new SourcePosition(versions[i].AtPosition)) continue;
            if (!WorkflowDefinitionReader.TryParse(versions[i].Yaml, versions[i].FileName, out var earlier, out _) || earlier is null)
            {
                problem = $"the changes up to {upTo} were produced by definition v{versions[i].Version}, which no longer validates, so they cannot " +
                          $"be transformed again as they were; replay from {upTo} or later";
                return segments;
            }
            if (segments.Count > 0 && SameTransform(segments[^1].Definition.Transform, earlier.Transform))
                segments[^1] = (earlier, upTo);
            else
                segments.Add((earlier, upTo));
        }
        if (segments.Count > 0 && SameTransform(segments[^1].Definition.Transform, current.Transform))
            segments.RemoveAt(segments.Count - 1);
        segments.Add((current, null));
        return segments;
    }
}
