namespace RetailStreaming.Workflows.Regress;

/// <summary>How each node records regression samples (cluster-config, section <c>RetailStreaming:Regress</c>).</summary>
public sealed record RegressSettings
{
    /// <summary>Samples kept per workflow, source table and operation in the platform store (the newest); 0 records none.</summary>
    public int SampleSize { get; init; } = 200;

    /// <summary>Samples written per workflow, table and operation per flush at most (the newest since the last flush); bounds the writes and the memory.</summary>
    public int SamplesPerFlush { get; init; } = 20;

    /// <summary>How often the recorder writes what it picked, in one transaction.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(30);
}
