namespace RetailStreaming.TransformHost;

/// <summary>
/// A transform package could not be found, extracted, loaded or instantiated. The message names
/// the package, the version and what is wrong, so that an operator can act on it without a debugger.
/// </summary>
public sealed class TransformLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="packageId">The package id, as the workflow definition names it.</param>
    /// <param name="version">The package version, as the workflow definition names it.</param>
    /// <param name="reason">What is wrong, as a sentence an operator can act on.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public TransformLoadException(string packageId, string version, string reason, Exception? inner = null)
        : base($"Transform package {packageId} {version}: {reason}", inner)
    {
        PackageId = packageId;
        Version = version;
        Reason = reason;
    }

    /// <summary>The package id.</summary>
    public string PackageId { get; }

    /// <summary>The package version.</summary>
    public string Version { get; }

    /// <summary>What is wrong, without the package id and version.</summary>
    public string Reason { get; }
}
