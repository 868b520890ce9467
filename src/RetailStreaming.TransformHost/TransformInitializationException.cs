namespace RetailStreaming.TransformHost;

/// <summary>The transform's <c>Initialize</c> threw or overran its budget.</summary>
public sealed class TransformInitializationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TransformInitializationException(TransformFailureKind kind, string reason)
        : base($"The transform's Initialize failed ({kind}): {reason}")
    {
        Kind = kind;
        Reason = reason;
    }

    /// <summary><see cref="TransformFailureKind.Threw"/> or <see cref="TransformFailureKind.Overran"/>.</summary>
    public TransformFailureKind Kind { get; }

    /// <summary>The error, as in <see cref="TransformResult.Failed.Reason"/>.</summary>
    public string Reason { get; }
}
