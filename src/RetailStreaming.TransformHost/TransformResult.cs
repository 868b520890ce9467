using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost;

/// <summary>Why a change could not be transformed.</summary>
public enum TransformFailureKind
{
    /// <summary>The transform threw, while called or while its output was enumerated.</summary>
    Threw = 1,

    /// <summary>The transform took longer than the time budget; the runner is now quarantined.</summary>
    Overran = 2,

    /// <summary>The transform returned something that cannot be delivered (a null record, an empty type or key, a null or unserializable payload, too many records).</summary>
    InvalidOutput = 3,

    /// <summary>The runner is quarantined after an earlier overrun; the transform was not called.</summary>
    Quarantined = 4,

    /// <summary>
    /// Process isolation only: the worker process ended while it ran this change (Environment.Exit, a
    /// stack overflow, a crash, its CPU-time limit); it is restarted for the next change.
    /// </summary>
    WorkerExited = 5,
}

/// <summary>The outcome of running a transform on one change.</summary>
/// <param name="Elapsed">How long the call took (for an overrun: how long the runner waited).</param>
public abstract record TransformResult(TimeSpan Elapsed)
{
    /// <summary>The transform produced these records (possibly none: the change is dropped).</summary>
    /// <param name="Outputs">The records, in the order the transform produced them; payloads are detached copies.</param>
    /// <param name="Elapsed">How long the call took, enumeration included.</param>
    public sealed record Ok(IReadOnlyList<OutputRecord> Outputs, TimeSpan Elapsed) : TransformResult(Elapsed)
    {
        /// <summary>
        /// Each output's payload as UTF-8 JSON (one per output, in order), as the runner wrote it while
        /// checking that it serializes, with default writer options: the bytes a webhook body holds, so
        /// the delivery need not serialize the payload again. Null when the runner did not keep them.
        /// </summary>
        public IReadOnlyList<byte[]>? PayloadJson { get; init; }
    }

    /// <summary>The change could not be transformed; it belongs in the dead-letter store with this reason.</summary>
    /// <param name="Kind">What went wrong.</param>
    /// <param name="Reason">The error: exception type, message and top stack frames, or what is wrong with the output.</param>
    /// <param name="Elapsed">How long the call took.</param>
    /// <param name="ExceptionType">The full name of the exception the transform threw, if it threw.</param>
    public sealed record Failed(TransformFailureKind Kind, string Reason, TimeSpan Elapsed, string? ExceptionType = null) : TransformResult(Elapsed);
}
