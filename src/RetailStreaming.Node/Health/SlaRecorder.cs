using RetailStreaming.Store;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Node.Health;

/// <summary>
/// Turns successive observations of a workflow into SLA history: the time between two
/// observations counts as the health seen at the first (healthy: up; lagging, failing, stalled:
/// down; paused: apart; stopped: not counted), the changes delivered in between as volume, a new
/// delivery's commit-to-delivery latency as a sample. A gap longer than three intervals (the node
/// was down, the workflow lived elsewhere) is not counted: no one saw it.
/// </summary>
public sealed class SlaRecorder(SlaStore store, TimeSpan interval, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, Seen> _seen = new(StringComparer.Ordinal);

    private sealed record Seen(DateTimeOffset At, string? Health, long Delivered, DateTimeOffset? LastDeliveryAt);

    /// <summary>Records what happened since the previous observation of each workflow.</summary>
    public async Task RecordAsync(IReadOnlyList<WorkflowStatus> hosted, CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        foreach (var s in hosted)
        {
            if (s.ClientId is not { } clientId) continue;
            var seen = new Seen(now, s.Health?.State, s.DeliveredChanges, s.LastDeliveryAt);
            if (_seen.TryGetValue(s.WorkflowId, out var before) && now > before.At && now - before.At <= interval * 3)
            {
                // Counters start again at zero when the entity starts again (another node, a restart).
                var delivered = s.DeliveredChanges >= before.Delivered ? s.DeliveredChanges - before.Delivered : s.DeliveredChanges;
                var latency = s.LastDeliveryAt is { } at && at != before.LastDeliveryAt ? s.LastCommitToDeliveryMs : null;
                await store.RecordAsync(new SlaObservation(s.WorkflowId, clientId, before.At, now, TimeOf(before.Health), delivered, latency),
                    cancellationToken).ConfigureAwait(false);
            }
            _seen[s.WorkflowId] = seen;
        }
    }

    /// <summary>How a health state counts.</summary>
    public static SlaTime TimeOf(string? health) => health switch
    {
        WorkflowHealthState.Healthy => SlaTime.Up,
        WorkflowHealthState.Lagging or WorkflowHealthState.Failing or WorkflowHealthState.Stalled => SlaTime.Down,
        WorkflowHealthState.Paused => SlaTime.Paused,
        _ => SlaTime.None,
    };
}
