namespace RetailStreaming.Connectors.Files;

/// <summary>Where and how <see cref="NdjsonFileSink"/> writes a workflow's records.</summary>
/// <param name="WorkflowId">The workflow; its id starts every file name, so several workflows can share a directory.</param>
/// <param name="Directory">An absolute directory path; created when missing.</param>
public sealed record FileSinkOptions(string WorkflowId, string Directory)
{
    /// <summary>A file is completed once it holds this many bytes (a single batch larger than this makes one larger file).</summary>
    public long RollSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>A file is completed at the latest this long after it was begun, even when no record arrives meanwhile.</summary>
    public TimeSpan RollInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Told of every durable batch.</summary>
    public IDeliveryObserver Observer { get; init; } = NullDeliveryObserver.Instance;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(WorkflowId) || WorkflowId.IndexOfAny(['/', '\\', '\0']) >= 0 || WorkflowId.StartsWith('.'))
            throw new ArgumentException("The workflow id must be usable in a file name.", nameof(WorkflowId));
        if (string.IsNullOrWhiteSpace(Directory) || !Path.IsPathFullyQualified(Directory))
            throw new ArgumentException("The file sink's directory must be an absolute path.", nameof(Directory));
        if (RollSize < 1)
            throw new ArgumentException("The roll size must be positive.", nameof(RollSize));
        if (RollInterval <= TimeSpan.Zero)
            throw new ArgumentException("The roll interval must be positive.", nameof(RollInterval));
        if (Observer is null)
            throw new ArgumentException("The observer cannot be null.", nameof(Observer));
    }
}
