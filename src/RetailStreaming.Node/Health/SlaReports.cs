using RetailStreaming.Store;

namespace RetailStreaming.Node.Health;

/// <summary>One workflow's SLA over a period, as the admin API and <c>rsctl sla report</c> show it.</summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="UptimePercent">Time healthy over time healthy or down, in percent; null when neither was observed.</param>
/// <param name="UpSeconds">Time healthy.</param>
/// <param name="DownSeconds">Time lagging, failing or stalled.</param>
/// <param name="PausedSeconds">Time paused by an operator (not counted as down).</param>
/// <param name="LatencyP50Ms">Median commit-to-delivery latency (upper bound of its 10 % bucket).</param>
/// <param name="LatencyP99Ms">99th percentile latency.</param>
/// <param name="LatencySamples">Latency samples behind the percentiles.</param>
/// <param name="Delivered">Changes delivered in the period.</param>
/// <param name="VolumePerDay">Changes delivered per day, over the part of the period with history.</param>
/// <param name="TargetPercent">The uptime target, in percent.</param>
/// <param name="Met"><c>met</c>, <c>breached</c> or <c>no data</c>.</param>
public sealed record SlaReportRow(
    string WorkflowId, string ClientId, double? UptimePercent, double UpSeconds, double DownSeconds, double PausedSeconds,
    double? LatencyP50Ms, double? LatencyP99Ms, long LatencySamples, long Delivered, double VolumePerDay, double TargetPercent, string Met);

/// <summary>An SLA report over a period.</summary>
/// <param name="From">Start of the period.</param>
/// <param name="To">End of the period.</param>
/// <param name="Workflows">One row per workflow with history in the period.</param>
public sealed record SlaReport(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<SlaReportRow> Workflows);

/// <summary>Builds SLA reports from the platform store's history and the configured targets.</summary>
public sealed class SlaReports(PlatformStore store, SlaSection sla, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Time healthy over time healthy or down; null when neither was observed.</summary>
    public static double? Uptime(SlaFigures f)
    {
        var counted = f.Up + f.Down;
        return counted <= TimeSpan.Zero ? null : f.Up / counted;
    }

    /// <summary>The report for [from, to) (default: the last 30 days), of one client or all.</summary>
    public async Task<SlaReport> BuildAsync(string? clientId, DateTimeOffset? from, DateTimeOffset? to, CancellationToken cancellationToken = default)
    {
        var end = to ?? _time.GetUtcNow();
        var start = from ?? end.AddDays(-30);
        var figures = await store.Sla.FiguresAsync(clientId, null, start, end, cancellationToken).ConfigureAwait(false);
        var rows = figures.Select(f =>
        {
            var uptime = Uptime(f);
            var target = sla.TargetOf(f.WorkflowId);
            var days = Math.Max((end - (f.FirstMinute > start ? f.FirstMinute : start)).TotalDays, 1.0 / 1440);
            return new SlaReportRow(f.WorkflowId, f.ClientId,
                uptime is null ? null : Math.Round(uptime.Value * 100, 4),
                f.Up.TotalSeconds, f.Down.TotalSeconds, f.Paused.TotalSeconds,
                Round(SlaLatency.Percentile(f.LatencyBuckets, 0.50)), Round(SlaLatency.Percentile(f.LatencyBuckets, 0.99)),
                f.LatencyBuckets.Values.Sum(), f.Delivered, Math.Round(f.Delivered / days, 1),
                Math.Round(target * 100, 4),
                uptime is null ? "no data" : uptime >= target ? "met" : "breached");
        }).ToList();
        return new SlaReport(start, end, rows);
    }

    private static double? Round(double? ms) => ms is { } v ? Math.Round(v, 1) : null;
}
