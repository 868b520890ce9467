using Akka.Actor;
using Akka.Event;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Shadow;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Workflows;

/// <summary>
/// A shadow run (<see cref="ShadowCommands"/>): a child beside the stream gets every batch the live
/// transform has done, runs the candidate on it and compares. The stream never waits for it: when
/// it is behind by <see cref="ShadowBacklog"/> batches, a batch is skipped (and counted).
/// </summary>
public sealed partial class WorkflowActor
{
    private const int ShadowBacklog = 2;
    private IActorRef? _shadow;
    private int _shadowRuns;
    private int _shadowInFlight;
    private ShadowReport? _lastShadowReport;

    private void HandleShadowCommands()
    {
        Command<ShadowCommands.Start>(StartShadow);
        Command<ShadowCommands.Stop>(_ =>
        {
            if (_shadow is null) Sender.Tell(_lastShadowReport ?? NoShadow());
            else _shadow.Forward(new ShadowCommands.Stop(_workflowId));
        });
        Command<ShadowCommands.GetReport>(_ =>
        {
            if (_shadow is null) Sender.Tell(_lastShadowReport ?? NoShadow());
            else _shadow.Forward(new ShadowCommands.GetReport(_workflowId));
        });
        Command<ShadowActor.Compared>(_ => { if (Sender.Equals(_shadow)) _shadowInFlight = Math.Max(0, _shadowInFlight - 1); });
        Command<ShadowActor.Stopped>(m =>
        {
            if (!Sender.Equals(_shadow)) return;
            _lastShadowReport = m.Report;
            _shadow = null;
            _shadowInFlight = 0;
        });
    }

    private ShadowReport NoShadow() => new(_workflowId, "none", null, null, null, null, null, 0, 0, 0, 0, []);

    private void StartShadow(ShadowCommands.Start cmd)
    {
        if (RefuseWhenDeleted()) return;
        if (_definition is null)
        {
            Refuse(_state.Current is null ? "it has no definition; apply one first" : "its recorded definition no longer validates; apply a fixed one");
            return;
        }
        if (_shadow is not null)
        {
            Refuse("a shadow run is going on; stop it first (rsctl workflow shadow <id> --stop)");
            return;
        }
        var version = cmd.Version.Trim();
        if (version.Length == 0)
        {
            Refuse("name the candidate's transform version");
            return;
        }
        // The live definition with only the version changed: same package, type, settings and budget.
        var candidateDefinition = _definition with { Transform = _definition.Transform with { Version = version } };
        IWorkflowTransform candidate;
        try
        {
            candidate = _deps.Connectors.CreateTransform(candidateDefinition, new AkkaTransformLogger(_log));
        }
        catch (Exception e)
        {
            Refuse($"transform {_definition.Transform.Package} {version} cannot be loaded: {e.Message}");
            return;
        }
        _shadow = Context.ActorOf(Akka.Actor.Props.Create(() => new ShadowActor(candidate, _workflowId, _log)), $"shadow-{++_shadowRuns}");
        _shadowInFlight = 0;
        _log.Info("Shadow run of transform {Package} {Version} started beside {Live}", _definition.Transform.Package, version, _definition.Transform.Version);
        _shadow.Forward(new ShadowCommands.GetReport(_workflowId));
    }

    private void HandToShadow(TransformOutcomes m)
    {
        if (_shadow is null || m.Done.Count == 0) return;
        if (_shadowInFlight >= ShadowBacklog)
        {
            _shadow.Tell(new ShadowActor.Skip(m.Done.Count));
            return;
        }
        _shadowInFlight++;
        _shadow.Tell(new ShadowActor.Compare(m.Done));
    }
}
