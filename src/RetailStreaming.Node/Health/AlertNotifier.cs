using System.Net.Http.Json;
using System.Text.Json;
using RetailStreaming.Workflows.Health;
using Serilog;
using ILogger = Serilog.ILogger;

namespace RetailStreaming.Node.Health;

/// <summary>
/// Sends notifications to the log (always; source context <c>RetailStreaming.Alerts</c>) and, when
/// <see cref="AlertsSection.WebhookUrl"/> is set, as a JSON POST to the webhook (three tries, then
/// logged as not delivered: an unreachable webhook must never stop the evaluation).
/// </summary>
public sealed class AlertNotifier(AlertsSection options, HttpClient? http = null, ILogger? logger = null) : IAlertSink
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)];
    private readonly HttpClient _http = http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

    private ILogger Log => (logger ?? Serilog.Log.Logger).ForContext("SourceContext", "RetailStreaming.Alerts");

    /// <inheritdoc />
    public async Task NotifyAsync(AlertNotification n, CancellationToken cancellationToken = default)
    {
        var log = Log.ForContext("WorkflowId", n.WorkflowId).ForContext("ClientId", n.ClientId)
            .ForContext("AlertRule", n.Rule).ForContext("AlertKind", n.Kind).ForContext("AlertId", n.AlertId);
        if (n.Kind == AlertNotification.Resolved)
            log.Information("Alert resolved: {Rule} for workflow {WorkflowId} (client {ClientId}), firing since {FiredAt:O}: {Detail}",
                n.Rule, n.WorkflowId, n.ClientId, n.FiredAt, n.Detail);
        else
            log.Warning("Alert {Kind}: {Rule} for workflow {WorkflowId} (client {ClientId}): {Detail} (value {Value}, threshold {Threshold})",
                n.Kind, n.Rule, n.WorkflowId, n.ClientId, n.Detail, n.Value, n.Threshold);

        if (string.IsNullOrWhiteSpace(options.WebhookUrl)) return;
        for (var attempt = 0; ; attempt++)
        {
            string problem;
            try
            {
                using var response = await _http.PostAsJsonAsync(options.WebhookUrl, n, Json, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
                problem = $"HTTP {(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                problem = e.Message;
            }
            if (attempt >= RetryDelays.Length)
            {
                log.Error("Alert webhook {Url} did not take the {Kind} notification of {Rule} for {WorkflowId}: {Problem}",
                    options.WebhookUrl, n.Kind, n.Rule, n.WorkflowId, problem);
                return;
            }
            await Task.Delay(RetryDelays[attempt], cancellationToken).ConfigureAwait(false);
        }
    }
}
