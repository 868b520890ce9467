using System.Globalization;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Health;

/// <summary>When a workflow counts as lagging or stalled.</summary>
/// <param name="LagThreshold">Lagging when the oldest change not yet read is older than this.</param>
/// <param name="StallAfter">Stalled when nothing was delivered for this long while changes are pending.</param>
public sealed record HealthThresholds(TimeSpan LagThreshold, TimeSpan StallAfter)
{
    /// <summary>The node-wide defaults unless configured: 60 s of lag, 5 min without progress.</summary>
    public static HealthThresholds Default { get; } = new(TimeSpan.FromSeconds(60), TimeSpan.FromMinutes(5));
}

/// <summary>
/// Classifies a workflow from its status figures, its thresholds and the time: a pure function,
/// so that the actor, the alert rules and the tests agree on what "stalled" means.
/// Order matters: a stopped or paused workflow is neither failing nor stalled; a stalled one is
/// red even while its run state looks fine (the process is up, nothing moves); then failing
/// (restarts, quarantine, open circuit), then lagging.
/// </summary>
public static class WorkflowHealthEvaluator
{
    /// <summary>True when the source or the stream holds changes not yet delivered.</summary>
    public static bool HasPending(WorkflowStatus s) =>
        s.SourcePendingChanges > 0 || s.SourceLagSeconds is not null || s.InFlight > 0;

    /// <summary>The health now.</summary>
    /// <param name="status">The figures (its own <see cref="WorkflowStatus.Health"/> is ignored).</param>
    /// <param name="pendingSince">Since when changes have been pending without a break (null: nothing pending).</param>
    /// <param name="thresholds">The workflow's thresholds.</param>
    /// <param name="now">The time of the evaluation.</param>
    /// <param name="previous">The previous classification: its <see cref="WorkflowHealth.Since"/> is kept while the state stays.</param>
    public static WorkflowHealth Evaluate(WorkflowStatus status, DateTimeOffset? pendingSince, HealthThresholds thresholds,
        DateTimeOffset now, WorkflowHealth? previous)
    {
        var (state, reason, since) = Classify(status, pendingSince, thresholds, now);
        if (previous is not null && previous.State == state)
            since = previous.Since;
        return new WorkflowHealth(state, reason, since ?? now);
    }

    private static (string State, string Reason, DateTimeOffset? Since) Classify(
        WorkflowStatus s, DateTimeOffset? pendingSince, HealthThresholds t, DateTimeOffset now)
    {
        switch (s.State)
        {
            case WorkflowRunState.Deleted or WorkflowRunState.Deleting:
                return (WorkflowHealthState.Stopped, "deleted by an operator", s.DeletedAt);
            case WorkflowRunState.Idle:
                return (WorkflowHealthState.Stopped, "no definition applied", null);
            case WorkflowRunState.Paused or WorkflowRunState.Pausing:
                return (WorkflowHealthState.Paused, "paused by an operator", null);
        }

        if (HasPending(s) && pendingSince is { } pending)
        {
            // Progress is a delivery after the changes began to wait; an older delivery does not count.
            var reference = s.LastDeliveryAt is { } d && d > pending ? d : pending;
            if (now - reference >= t.StallAfter)
            {
                var what = s.SourcePendingChanges > 0 ? $"{s.SourcePendingChanges} change(s) are pending"
                    : s.InFlight > 0 ? $"{s.InFlight} change(s) are in flight"
                    : "changes are pending";
                var last = s.LastDeliveryAt is { } at ? $"no delivery for {Format(now - at)}" : "nothing delivered yet";
                return (WorkflowHealthState.Stalled, $"{last} while {what} (stalled after {Format(t.StallAfter)})", reference + t.StallAfter);
            }
        }

        if (s.State == WorkflowRunState.Quarantined)
            return (WorkflowHealthState.Failing, "quarantined: " + (s.LastError ?? "the transform overran its time budget"), null);
        if (s.State == WorkflowRunState.Restarting)
            return (WorkflowHealthState.Failing, $"restarting after a failure ({s.Restarts} restart(s))" + (s.LastError is { } e ? ": " + e : ""), null);
        if (s.Endpoint is { Circuit: not "closed" } endpoint)
            return (WorkflowHealthState.Failing,
                $"the endpoint's circuit is {endpoint.Circuit} after {endpoint.ConsecutiveFailures} failure(s) in a row", endpoint.Since);

        if (s.SourceLagSeconds is { } lag && lag > t.LagThreshold.TotalSeconds)
            return (WorkflowHealthState.Lagging, $"the oldest pending change is {Format(TimeSpan.FromSeconds(lag))} old (threshold {Format(t.LagThreshold)})", null);

        return (WorkflowHealthState.Healthy, HasPending(s) ? "delivering" : "nothing pending", null);
    }

    /// <summary>A duration in plain words: 45s, 5m 3s, 2h 10m, 3d 4h.</summary>
    public static string Format(TimeSpan d)
    {
        if (d < TimeSpan.Zero) d = TimeSpan.Zero;
        var c = CultureInfo.InvariantCulture;
        if (d.TotalMinutes < 1) return string.Create(c, $"{(int)d.TotalSeconds}s");
        if (d.TotalHours < 1) return d.Seconds == 0 ? string.Create(c, $"{d.Minutes}m") : string.Create(c, $"{d.Minutes}m {d.Seconds}s");
        if (d.TotalDays < 1) return d.Minutes == 0 ? string.Create(c, $"{d.Hours}h") : string.Create(c, $"{d.Hours}h {d.Minutes}m");
        return d.Hours == 0 ? string.Create(c, $"{d.Days}d") : string.Create(c, $"{d.Days}d {d.Hours}h");
    }
}
