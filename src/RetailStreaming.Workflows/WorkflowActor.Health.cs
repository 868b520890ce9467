using RetailStreaming.Workflows.Health;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows;

/// <summary>The workflow's health, classified each time its status is built.</summary>
public sealed partial class WorkflowActor
{
    private WorkflowHealth? _health;
    private DateTimeOffset? _pendingSince;

    /// <summary>The thresholds of the current definition, the node's defaults for what it leaves out.</summary>
    private HealthThresholds Thresholds() => new(
        _definition?.Health?.LagThreshold ?? _deps.Settings.HealthLagThreshold,
        _definition?.Health?.StallAfter ?? _deps.Settings.HealthStallAfter);

    /// <summary>Keeps when changes began to wait without a break: a stall is measured from there, not from an old delivery.</summary>
    private void NotePending()
    {
        var pending = _lag is { } lag && (lag.PendingChanges > 0 || lag.OldestPendingAge is not null) || _inFlight > 0;
        if (!pending) _pendingSince = null;
        else _pendingSince ??= DateTimeOffset.UtcNow;
    }

    private WorkflowStatus WithHealth(WorkflowStatus status)
    {
        NotePending();
        _health = WorkflowHealthEvaluator.Evaluate(status, _pendingSince, Thresholds(), DateTimeOffset.UtcNow, _health);
        return status with { Health = _health };
    }
}
