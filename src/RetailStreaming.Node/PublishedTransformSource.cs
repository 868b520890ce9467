using RetailStreaming.Store;
using RetailStreaming.TransformHost;

namespace RetailStreaming.Node;

/// <summary>The platform store's published packages, as the transform host's package store reads them.</summary>
internal sealed class PublishedTransformSource(ITransformPackageRegistry registry) : ITransformPackageSource
{
    // The transform host loads synchronously (a workflow's transform stage starting); the store's
    // calls do not capture a synchronization context, so waiting on them here cannot deadlock.
    public string? FindSha256(string packageId, string version) =>
        registry.FindAsync(packageId, version).GetAwaiter().GetResult()?.Sha256;

    public byte[] Read(string packageId, string version) =>
        registry.ReadContentAsync(packageId, version).GetAwaiter().GetResult()
        ?? throw new InvalidOperationException($"{packageId} {version} is no longer in the platform store.");
}
