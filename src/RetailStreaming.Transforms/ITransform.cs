namespace RetailStreaming.Transforms;

/// <summary>
/// A client's transformation: one change in, zero or more output records out.
/// </summary>
/// <remarks>
/// <para>The platform creates one instance per workflow (with a public parameterless constructor),
/// calls <see cref="Initialize"/> once, then <see cref="Transform"/> for each change in source
/// commit order, never concurrently on the same instance.</para>
/// <para>A change for which <see cref="Transform"/> throws, or which takes longer than the
/// workflow's time budget, is stored in the workflow's dead-letter store with its input, the
/// transform version and the error; the workflow goes on with the next change. A transform must
/// therefore be deterministic: a change replayed after a restart must give the same records, so
/// that their idempotency keys mean the same output.</para>
/// </remarks>
public interface ITransform
{
    /// <summary>Called once before the first change, with the settings of the workflow definition.</summary>
    void Initialize(TransformContext context) { }

    /// <summary>Transforms one change into the records to deliver (none to drop it).</summary>
    IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context);
}
