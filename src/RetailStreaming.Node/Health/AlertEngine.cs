using System.Globalization;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Health;
using RetailStreaming.Workflows.Protocol;
using Serilog;
using ILogger = Serilog.ILogger;

namespace RetailStreaming.Node.Health;

/// <summary>The alert rules the engine knows.</summary>
public static class AlertRules
{
    /// <summary>Source lag above <see cref="AlertsSection.LagAbove"/>.</summary>
    public const string Lag = "lag";
    /// <summary>Retries, dead letters and restarts per minute above <see cref="AlertsSection.ErrorRateAbove"/>.</summary>
    public const string ErrorRate = "error-rate";
    /// <summary>Health stalled.</summary>
    public const string Stalled = "stalled";
    /// <summary>The delivery endpoint's circuit open.</summary>
    public const string BreakerOpen = "breaker-open";
    /// <summary>Uptime over the SLA window below target.</summary>
    public const string Sla = "sla";
    /// <summary>Bytes retained by the source above <see cref="AlertsSection.WalRetainedAbove"/>.</summary>
    public const string WalRetained = "wal-retained";
}

/// <summary>
/// Evaluates the alert rules on the statuses of the workflows this node hosts, and notifies each
/// firing once and its resolution once. Which firings are open is kept in the platform store (one
/// open row per workflow and rule), not in memory: a workflow that moves to another node, or a
/// node that restarts, neither fires again nor forgets to resolve.
/// </summary>
public sealed class AlertEngine(PlatformStore store, IAlertSink sink, AlertsSection alerts, SlaSection sla, string node,
    TimeProvider? time = null, ILogger? logger = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, (DateTimeOffset At, long Errors)> _errors = new(StringComparer.Ordinal);

    private ILogger Log => (logger ?? Serilog.Log.Logger).ForContext("SourceContext", "RetailStreaming.Alerts");

    /// <summary>One verdict of a rule on a workflow.</summary>
    public sealed record Verdict(string Rule, bool Firing, double? Value, double? Threshold, string Detail);

    /// <summary>Evaluates every rule on every status and notifies what changed; returns the notifications sent.</summary>
    public async Task<IReadOnlyList<AlertNotification>> EvaluateAsync(IReadOnlyList<WorkflowStatus> hosted, CancellationToken cancellationToken = default)
    {
        var sent = new List<AlertNotification>();
        var open = (await store.Alerts.OpenAsync(cancellationToken).ConfigureAwait(false))
            .ToDictionary(a => (a.WorkflowId, a.Rule));
        foreach (var status in hosted)
        {
            if (status.ClientId is not { } clientId) continue;
            foreach (var v in await VerdictsAsync(status, cancellationToken).ConfigureAwait(false))
            {
                var isOpen = open.TryGetValue((status.WorkflowId, v.Rule), out _);
                if (v.Firing && !isOpen)
                {
                    if (await store.Alerts.TryFireAsync(status.WorkflowId, clientId, v.Rule, v.Value, v.Threshold, v.Detail, node, cancellationToken)
                            .ConfigureAwait(false) is { } fired)
                        sent.Add(await NotifyAsync(new AlertNotification(AlertNotification.Firing, fired.WorkflowId, fired.ClientId, fired.Rule,
                            fired.Value, fired.Threshold, fired.Detail, fired.FiredAt, null, node, fired.Id), cancellationToken).ConfigureAwait(false));
                }
                else if (!v.Firing && isOpen)
                {
                    if (await store.Alerts.TryResolveAsync(status.WorkflowId, v.Rule, v.Detail, cancellationToken).ConfigureAwait(false) is { } resolved)
                        sent.Add(await NotifyAsync(new AlertNotification(AlertNotification.Resolved, resolved.WorkflowId, resolved.ClientId,
                            resolved.Rule, v.Value, v.Threshold, v.Detail, resolved.FiredAt, resolved.ResolvedAt, node, resolved.Id),
                            cancellationToken).ConfigureAwait(false));
                }
            }
        }
        return sent;
    }

    private async Task<AlertNotification> NotifyAsync(AlertNotification n, CancellationToken cancellationToken)
    {
        try
        {
            await sink.NotifyAsync(n, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.Error(e, "Alert notification of {Rule} for {WorkflowId} failed", n.Rule, n.WorkflowId);
        }
        return n;
    }

    /// <summary>The verdict of every enabled rule on one workflow.</summary>
    public async Task<IReadOnlyList<Verdict>> VerdictsAsync(WorkflowStatus s, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var health = s.Health?.State;
        // A paused or stopped workflow is not expected to move: only what still costs the client
        // (retained WAL) and the SLA are judged; the other rules clear.
        var active = health is not (WorkflowHealthState.Paused or WorkflowHealthState.Stopped);
        var verdicts = new List<Verdict>();

        if (alerts.Stalled)
            verdicts.Add(new Verdict(AlertRules.Stalled, health == WorkflowHealthState.Stalled, null, null,
                s.Health?.Reason ?? "no health"));

        if (alerts.BreakerOpen)
        {
            var circuitOpen = active && s.Endpoint is { Circuit: "open" or "half-open" };
            verdicts.Add(new Verdict(AlertRules.BreakerOpen, circuitOpen, s.Endpoint?.ConsecutiveFailures, null,
                s.Endpoint is { } e ? $"circuit of {e.Url} is {e.Circuit} after {e.ConsecutiveFailures} failure(s) in a row" : "no endpoint circuit"));
        }

        if (alerts.LagAbove is { } lagAbove)
        {
            var lag = s.SourceLagSeconds ?? 0;
            verdicts.Add(new Verdict(AlertRules.Lag, active && lag > lagAbove.TotalSeconds, lag, lagAbove.TotalSeconds,
                string.Create(CultureInfo.InvariantCulture, $"oldest pending change {lag:0.#}s old (threshold {lagAbove.TotalSeconds:0.#}s)")));
        }

        var errors = s.Retries + s.DeadLetters + s.Restarts;
        if (alerts.ErrorRateAbove is { } rateAbove)
        {
            double rate = 0;
            if (_errors.TryGetValue(s.WorkflowId, out var before) && now > before.At && errors >= before.Errors)
                rate = (errors - before.Errors) / Math.Max((now - before.At).TotalMinutes, 1.0 / 60);
            verdicts.Add(new Verdict(AlertRules.ErrorRate, active && rate > rateAbove, rate, rateAbove,
                string.Create(CultureInfo.InvariantCulture, $"{rate:0.##} errors (retries, dead letters, restarts) per minute (threshold {rateAbove:0.##})")));
        }
        _errors[s.WorkflowId] = (now, errors);

        if (alerts.WalRetainedAbove is { } walAbove)
        {
            var bytes = s.SourcePendingBytes ?? 0;
            verdicts.Add(new Verdict(AlertRules.WalRetained, bytes > walAbove, bytes, walAbove,
                $"the source retains {bytes:N0} bytes for the workflow (threshold {walAbove:N0})"));
        }

        if (alerts.SlaBreach)
        {
            var figures = (await store.Sla.FiguresAsync(null, s.WorkflowId, now - sla.Window, now, cancellationToken).ConfigureAwait(false))
                .FirstOrDefault();
            var target = sla.TargetOf(s.WorkflowId);
            var uptime = figures is null ? null : SlaReports.Uptime(figures);
            verdicts.Add(new Verdict(AlertRules.Sla, uptime < target, uptime, target,
                uptime is null
                    ? "no SLA history yet"
                    : string.Create(CultureInfo.InvariantCulture, $"uptime {uptime * 100:0.###}% over the last {WorkflowHealthEvaluator.Format(sla.Window)} (target {target * 100:0.###}%)")));
        }

        return verdicts;
    }
}
