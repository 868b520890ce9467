namespace RetailStreaming.TransformHost;

/// <summary>
/// Where published transform packages live beside the package folder: the platform store, which
/// every node of a cluster reads. <see cref="TransformPackageStore"/> prefers it to its folder.
/// </summary>
public interface ITransformPackageSource
{
    /// <summary>The SHA-256 (lowercase hex) of the published .nupkg, or null when the version is not published.</summary>
    /// <param name="packageId">The package id (case-insensitive).</param>
    /// <param name="version">The normalized version (<c>1.0.0</c>).</param>
    string? FindSha256(string packageId, string version);

    /// <summary>The published .nupkg's bytes (only called after <see cref="FindSha256"/> found it).</summary>
    byte[] Read(string packageId, string version);
}

/// <summary>A package's id and version, as its .nuspec says.</summary>
/// <param name="Id">The package id.</param>
/// <param name="Version">The normalized version.</param>
public sealed record TransformPackageIdentity(string Id, string Version);
