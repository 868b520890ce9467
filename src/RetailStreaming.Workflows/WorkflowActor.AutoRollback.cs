using System.Globalization;
using Akka.Actor;
using Akka.Event;
using RetailStreaming.Definitions;
using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Workflows;

/// <summary>
/// Raised (on the actor system's event stream, and in the log as <see cref="EventName"/>) when a
/// workflow rolled a new transform version back by itself (<c>transform.autoRollback</c>).
/// </summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">Its client.</param>
/// <param name="Rollback">What was recorded in the workflow's history.</param>
/// <param name="FromTransform">The transform package and version rolled back (e.g. <c>Acme.Sales 1.0.1</c>).</param>
/// <param name="ToTransform">The transform package and version it went back to.</param>
public sealed record TransformAutoRolledBack(
    string WorkflowId,
    string ClientId,
    WorkflowEvents.TransformRolledBack Rollback,
    string FromTransform,
    string ToTransform)
{
    /// <summary>The event name in the log and for alert rules.</summary>
    public const string EventName = "transform.auto-rollback";
}

/// <summary>
/// <c>transform.autoRollback</c>: right after a version is applied, the share of changes its
/// transform rejects is watched; past the threshold, the workflow goes back to the previous
/// definition version, as <c>rsctl workflow rollback</c> does (recorded as a new version).
/// </summary>
public sealed partial class WorkflowActor
{
    // Counts since the watched version started running on this node (not persisted: after a
    // restart the version is watched again, from zero, for what is left of its window).
    private int _watchedVersion;
    private long _watchedRan;
    private long _watchedFailed;

    private void WatchForAutoRollback(TransformOutcomes m)
    {
        if (_definition?.Transform.AutoRollback is not { } rule || _state.Current is not { } current) return;
        if (current.Version < 2) return; // nothing to go back to
        // A version that is itself an automatic rollback is not rolled back again (no ping-pong).
        if (_state.AutoRollbacks?.Any(r => r.FromVersion == current.Version - 1) == true) return;
        if (DateTimeOffset.UtcNow - current.AppliedAt > rule.Window) return;
        if (_watchedVersion != current.Version)
        {
            _watchedVersion = current.Version;
            _watchedRan = _watchedFailed = 0;
        }
        _watchedRan += m.Ran;
        _watchedFailed += m.Failed;
        if (_watchedRan < rule.MinRecords || (double)_watchedFailed / _watchedRan < rule.ErrorRate) return;

        // Another switch, a pause, a delete or a replay under way goes first; the next batch checks again.
        if (_pendingSwitch is not null || _stopAfterDrain || _pauseRequesters.Count > 0 || _deleteRequesters.Count > 0
            || _replayRequest is not null || _state.ReplayUntil is not null || _state.Deleted)
            return;
        RollBackAutomatically(current.Version, rule);
    }

    private void RollBackAutomatically(int fromVersion, AutoRollbackDefinition rule)
    {
        var target = _state.Definitions.LastOrDefault(d => d.Version == fromVersion - 1)!;
        var reason = string.Create(CultureInfo.InvariantCulture,
            $"the transform of v{fromVersion} ({_definition!.Transform.Package} {_definition.Transform.Version}) failed on {_watchedFailed} of " +
            $"{_watchedRan} changes ({100.0 * _watchedFailed / _watchedRan:0.#}%) within {rule.Window} of its apply; " +
            $"transform.autoRollback.errorRate is {rule.ErrorRate:0.###}");
        var rolledBack = new WorkflowEvents.TransformRolledBack(
            _workflowId, fromVersion, target.Version, _watchedFailed, _watchedRan, rule.ErrorRate, rule.Window, reason, DateTimeOffset.UtcNow);
        _watchedVersion = 0;
        Persist(rolledBack, e =>
        {
            _state = _state.Apply(e);
            RaiseAutoRollbackAlert(e);
            SwitchTo(target);
        });
    }

    /// <summary>
    /// After a recovery: an automatic rollback recorded, but the definition it goes back to not yet
    /// applied (the node stopped in between), is finished now. True when it took over the start.
    /// </summary>
    private bool FinishRecordedAutoRollback()
    {
        if (_state.AutoRollbacks is not { Count: > 0 } rollbacks || _state.Current is not { } current) return false;
        var last = rollbacks[^1];
        if (last.FromVersion != current.Version) return false;
        _log.Warning("Finishing the automatic rollback of v{From} to the definition of v{To} recorded before the restart", last.FromVersion, last.ToVersion);
        SwitchTo(_state.Definitions.First(d => d.Version == last.ToVersion));
        return true;
    }

    /// <summary>Applies an earlier version's definition as the next version, like an operator's rollback.</summary>
    private void SwitchTo(DefinitionVersion target)
    {
        if (!WorkflowDefinitionReader.TryParse(target.Yaml, target.FileName, out var def, out var errors))
        {
            // The earlier version no longer validates: nothing to go back to; the failing version keeps running.
            _log.Error("Automatic rollback to v{Version} impossible: its definition no longer validates: {Errors}",
                target.Version, string.Join("; ", errors.Select(x => x.ToString())));
            StartStream();
            return;
        }
        _pendingSwitch = new PendingSwitch(def!, target.FileName, ActorRefs.Nobody);
        if (_running) BeginDrain();
        else SwitchDefinition();
    }

    /// <summary>
    /// The one place an automatic rollback is raised as an alert: the log (event <see cref="TransformAutoRolledBack.EventName"/>)
    /// and the event stream, where an alert sink subscribes to <see cref="TransformAutoRolledBack"/>.
    /// </summary>
    private void RaiseAutoRollbackAlert(WorkflowEvents.TransformRolledBack e)
    {
        var to = _state.Definitions.FirstOrDefault(d => d.Version == e.ToVersion);
        WorkflowDefinitionReader.TryParse(to?.Yaml ?? "", to?.FileName ?? "", out var toDef, out _);
        var alert = new TransformAutoRolledBack(_workflowId, _definition?.Client ?? "", e,
            $"{_definition?.Transform.Package} {_definition?.Transform.Version}",
            toDef is null ? "?" : $"{toDef.Transform.Package} {toDef.Transform.Version}");
        _log.Warning("{Event}: workflow {WorkflowId} rolls back from v{From} ({FromTransform}) to the definition of v{To} ({ToTransform}): {Reason}",
            new object[] { TransformAutoRolledBack.EventName, _workflowId, e.FromVersion, alert.FromTransform, e.ToVersion, alert.ToTransform, e.Reason });
        Context.System.EventStream.Publish(alert);
        // Raised as an alert: the node forwards this to its alert sink (the log and the alert webhook).
        Context.System.EventStream.Publish(new Health.WorkflowAlertRaised(_workflowId, alert.ClientId, "auto-rollback",
            $"transform {alert.FromTransform} rolled back to {alert.ToTransform} (v{e.FromVersion} to the definition of v{e.ToVersion}): {e.Reason}",
            DateTimeOffset.UtcNow));
    }
}
