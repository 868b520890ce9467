namespace RetailStreaming.Workflows.Health;

/// <summary>What an alert notification says, to the log and to the webhook.</summary>
/// <param name="Kind"><c>firing</c>, <c>resolved</c>, or <c>event</c> (a one-off raised by a component, never resolved).</param>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="Rule">The rule (<c>lag</c>, <c>error-rate</c>, <c>stalled</c>, <c>breaker-open</c>, <c>sla</c>, <c>wal-retained</c>) or the event's name.</param>
/// <param name="Value">The value seen, when the rule has one.</param>
/// <param name="Threshold">The threshold, when the rule has one.</param>
/// <param name="Detail">Plain words.</param>
/// <param name="FiredAt">When it fired (or happened).</param>
/// <param name="ResolvedAt">When it cleared (resolved notifications only).</param>
/// <param name="Node">The node that notifies.</param>
/// <param name="AlertId">The firing's id in the platform store (0 for events).</param>
public sealed record AlertNotification(
    string Kind, string WorkflowId, string ClientId, string Rule, double? Value, double? Threshold, string Detail,
    DateTimeOffset FiredAt, DateTimeOffset? ResolvedAt, string Node, long AlertId = 0)
{
    /// <summary>A firing.</summary>
    public const string Firing = "firing";
    /// <summary>A firing cleared.</summary>
    public const string Resolved = "resolved";
    /// <summary>A one-off event (e.g. an automatic rollback).</summary>
    public const string Event = "event";
}

/// <summary>
/// Where alert notifications go. The node registers one (the log and, when configured, the
/// webhook); any component may call it to raise an event of its own with
/// <see cref="AlertNotification.Event"/>. Actors, which do not see the node's services, publish
/// <see cref="WorkflowAlertRaised"/> on the actor system's event stream instead.
/// </summary>
public interface IAlertSink
{
    /// <summary>Sends one notification; never throws for a delivery problem (it is logged).</summary>
    Task NotifyAsync(AlertNotification notification, CancellationToken cancellationToken = default);
}

/// <summary>
/// An actor's way to raise a one-off alert (<c>Context.System.EventStream.Publish(new WorkflowAlertRaised(...))</c>):
/// the node forwards it to its <see cref="IAlertSink"/> as an <see cref="AlertNotification.Event"/>.
/// </summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="Rule">A short name of what happened, e.g. <c>transform-rollback</c>.</param>
/// <param name="Detail">Plain words.</param>
/// <param name="At">When it happened.</param>
public sealed record WorkflowAlertRaised(string WorkflowId, string ClientId, string Rule, string Detail, DateTimeOffset At);
