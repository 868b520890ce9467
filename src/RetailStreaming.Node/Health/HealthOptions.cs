namespace RetailStreaming.Node.Health;

/// <summary>
/// Alert rules (section <c>RetailStreaming:Alerts</c>). A threshold left empty turns its rule off;
/// the stalled and breaker rules are on unless set to false.
/// </summary>
public sealed class AlertsSection
{
    /// <summary>How often the node evaluates the workflows it hosts (and records their SLA history).</summary>
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>An HTTP(S) URL that receives every notification as a JSON POST; empty: the log only.</summary>
    public string WebhookUrl { get; set; } = "";

    /// <summary>Rule <c>lag</c>: fires when the oldest pending change is older than this.</summary>
    public TimeSpan? LagAbove { get; set; }

    /// <summary>Rule <c>error-rate</c>: fires when retries, dead letters and restarts together exceed this many per minute.</summary>
    public double? ErrorRateAbove { get; set; }

    /// <summary>Rule <c>stalled</c>: fires while the workflow's health is stalled.</summary>
    public bool Stalled { get; set; } = true;

    /// <summary>Rule <c>breaker-open</c>: fires while the delivery endpoint's circuit is open.</summary>
    public bool BreakerOpen { get; set; } = true;

    /// <summary>Rule <c>sla</c>: fires while the uptime over <see cref="SlaSection.Window"/> is below the workflow's target.</summary>
    public bool SlaBreach { get; set; } = true;

    /// <summary>Rule <c>wal-retained</c>: fires when the source retains more than this many bytes for the workflow (a PostgreSQL slot's WAL).</summary>
    public long? WalRetainedAbove { get; set; }

    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public void Validate()
    {
        if (EvaluationInterval < TimeSpan.FromSeconds(1))
            throw new InvalidOperationException($"RetailStreaming:Alerts:EvaluationInterval must be at least 1 second; got {EvaluationInterval}.");
        if (!string.IsNullOrWhiteSpace(WebhookUrl)
            && !(Uri.TryCreate(WebhookUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            throw new InvalidOperationException($"RetailStreaming:Alerts:WebhookUrl must be an absolute http or https URL; got '{WebhookUrl}'.");
        if (LagAbove is { } lag && lag <= TimeSpan.Zero)
            throw new InvalidOperationException($"RetailStreaming:Alerts:LagAbove must be positive; got {lag}.");
        if (ErrorRateAbove is { } rate && rate < 0)
            throw new InvalidOperationException($"RetailStreaming:Alerts:ErrorRateAbove must not be negative; got {rate}.");
        if (WalRetainedAbove is { } wal && wal <= 0)
            throw new InvalidOperationException($"RetailStreaming:Alerts:WalRetainedAbove must be positive (bytes); got {wal}.");
    }
}

/// <summary>SLA targets (section <c>RetailStreaming:Sla</c>).</summary>
public sealed class SlaSection
{
    /// <summary>The uptime target of every workflow unless <see cref="Targets"/> names it (0.999 = 99.9 %).</summary>
    public double Target { get; set; } = 0.999;

    /// <summary>Per-workflow uptime targets, by workflow id.</summary>
    public Dictionary<string, double> Targets { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The window the <c>sla</c> alert rule looks back over.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The target of one workflow.</summary>
    public double TargetOf(string workflowId) => Targets.TryGetValue(workflowId, out var t) ? t : Target;

    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public void Validate()
    {
        foreach (var (key, value) in Targets.Select(t => ($"Targets:{t.Key}", t.Value)).Prepend(("Target", Target)))
            if (value is <= 0 or > 1)
                throw new InvalidOperationException($"RetailStreaming:Sla:{key} must be a fraction in (0, 1], e.g. 0.999 for 99.9 %; got {value}.");
        if (Window < TimeSpan.FromMinutes(1))
            throw new InvalidOperationException($"RetailStreaming:Sla:Window must be at least 1 minute; got {Window}.");
    }
}
