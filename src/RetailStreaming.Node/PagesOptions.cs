namespace RetailStreaming.Node;

/// <summary>Section <c>RetailStreaming:Pages</c>: the pages and the in-memory figures they read.</summary>
public sealed class PagesSection
{
    /// <summary>The stage this cluster's workflows are at (staging, production...); default: the environment (<c>--env</c>).</summary>
    public string Stage { get; set; } = "";

    /// <summary>How often each node samples the workflows it hosts for the charts (an hour of samples is kept).</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Changes kept per workflow in the hosting node's record trail (the support view's reach).</summary>
    public int TrailRecords { get; set; } = Workflows.Observation.RecordTrails.DefaultCapacity;

    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public void Validate()
    {
        if (SampleInterval < TimeSpan.FromMilliseconds(100) || SampleInterval > TimeSpan.FromMinutes(10))
            throw new InvalidOperationException($"RetailStreaming:Pages:SampleInterval must be between 00:00:00.1 and 00:10:00; got {SampleInterval}.");
        if (TrailRecords is < 1 or > 1_000_000)
            throw new InvalidOperationException($"RetailStreaming:Pages:TrailRecords must be between 1 and 1000000; got {TrailRecords}.");
    }
}
